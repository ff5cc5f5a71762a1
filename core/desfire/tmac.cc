#include "core/desfire/tmac.h"

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "core/apdu/status_payload.h"
#include "core/crypto/block_cipher.h"
#include "core/crypto/cmac.h"
#include "core/crypto/random.h"
#include "core/util/status_macros.h"

namespace desfired::desfire {
namespace {

constexpr size_t kKeyLength = 16;
constexpr size_t kUidLength = 7;
constexpr size_t kBlock = 16;

absl::StatusOr<crypto::Cmac> AesCmac(ByteSpan key) {
  if (key.size() != kKeyLength) {
    return absl::InvalidArgumentError("a Transaction MAC key is an AES-128 key (16 bytes)");
  }
  return crypto::Cmac::Create(crypto::KeyType::kAes128, key);
}

Bytes SessionVector(uint8_t label, uint32_t tmc, ByteSpan uid) {
  Bytes sv = {label, 0x00, 0x01, 0x00, 0x80};
  const uint32_t next = tmc + 1;
  for (int i = 0; i < 4; ++i) sv.push_back(static_cast<uint8_t>(next >> (8 * i)));
  sv.insert(sv.end(), uid.begin(), uid.end());
  return sv;
}

}  // namespace

absl::StatusOr<TmacSessionKeys> DeriveTmacSessionKeys(ByteSpan tmac_key, uint32_t tmc,
                                                      ByteSpan uid) {
  if (uid.size() != kUidLength) {
    return absl::InvalidArgumentError("the Transaction MAC session keys take a 7-byte UID");
  }
  DESFIRED_ASSIGN_OR_RETURN(crypto::Cmac cmac, AesCmac(tmac_key));
  TmacSessionKeys keys{Bytes(kBlock), Bytes(kBlock)};
  cmac.Compute(SessionVector(0x5A, tmc, uid), keys.mac.data());
  cmac.Compute(SessionVector(0xA5, tmc, uid), keys.enc.data());
  return keys;
}

void AppendTmi(Bytes& tmi, ByteSpan entry) {
  tmi.insert(tmi.end(), entry.begin(), entry.end());
  tmi.resize((tmi.size() + kBlock - 1) / kBlock * kBlock, 0x00);
}

Bytes TmiValueEntry(uint8_t cmd, uint8_t file_no, int32_t value) {
  Bytes e = {cmd, file_no};
  const uint32_t v = static_cast<uint32_t>(value);
  for (int i = 0; i < 4; ++i) e.push_back(static_cast<uint8_t>(v >> (8 * i)));
  return e;
}

Bytes TmiIoEntry(uint8_t cmd, uint8_t file_no, uint32_t first, uint32_t second) {
  Bytes e = {cmd, file_no};
  for (uint32_t v : {first, second}) {
    for (int i = 0; i < 3; ++i) e.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  return e;
}

absl::Status DecodeCommitAnswer(ByteSpan answer, TransactionMac& out) {
  if (answer.size() != kTmcLength + kTmvLength) {
    return apdu::ProtocolError(absl::StrFormat(
        "CommitTransaction: TMC and TMV are 12 bytes, the card sent %d", answer.size()));
  }
  out.tmc = LoadLe32(answer.data());
  out.tmv.assign(answer.begin() + kTmcLength, answer.end());
  return absl::OkStatus();
}

absl::StatusOr<Bytes> DecryptPreviousReaderId(const TmacSessionKeys& keys, ByteSpan enc_tmri) {
  if (enc_tmri.size() != kTmriLength) {
    return absl::InvalidArgumentError("EncTMRI is one AES block (16 bytes)");
  }
  DESFIRED_ASSIGN_OR_RETURN(crypto::BlockCipher aes,
                            crypto::BlockCipher::Create(crypto::KeyType::kAes128, keys.enc));
  Bytes out(kTmriLength);
  aes.DecryptBlock(enc_tmri.data(), out.data());
  return out;
}

bool VerifyTransactionMac(ByteSpan tmac_key, ByteSpan uid, const TransactionMac& mac) {
  if (mac.tmc == 0) return false;
  absl::StatusOr<TmacSessionKeys> keys = DeriveTmacSessionKeys(tmac_key, mac.tmc - 1, uid);
  if (!keys.ok()) return false;
  const bool match = TmvMatches(keys->mac, mac.tmi, mac.tmv);
  crypto::SecureWipe(MutableByteSpan(keys->mac));
  crypto::SecureWipe(MutableByteSpan(keys->enc));
  return match;
}

absl::StatusOr<Bytes> ComputeTmv(ByteSpan ses_tm_mac_key, ByteSpan tmi) {
  DESFIRED_ASSIGN_OR_RETURN(crypto::Cmac cmac, AesCmac(ses_tm_mac_key));
  uint8_t full[kBlock];
  cmac.Compute(tmi, full);
  Bytes tmv(kBlock / 2);
  crypto::TruncateMacOddBytes(full, tmv.data());
  return tmv;
}

bool TmvMatches(ByteSpan ses_tm_mac_key, ByteSpan tmi, ByteSpan tmv) {
  absl::StatusOr<Bytes> want = ComputeTmv(ses_tm_mac_key, tmi);
  return want.ok() && crypto::ConstantTimeEquals(*want, tmv);
}

}  // namespace desfired::desfire
