#include "core/tap/sun.h"

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/crypto/aes_schedule.h"
#include "core/crypto/cmac.h"
#include "core/crypto/lrp.h"
#include "core/crypto/random.h"
#include "core/util/bytes.h"

namespace desfired::tap {
namespace {

constexpr size_t kBlock = 16;
constexpr size_t kAesPiccBytes = 16;
constexpr size_t kLrpRandBytes = 8;
constexpr size_t kLrpPiccBytes = kLrpRandBytes + kBlock;
constexpr size_t kCounterBytes = 3;
constexpr uint8_t kTagUid = 0x80;
constexpr uint8_t kTagCounter = 0x40;
constexpr uint8_t kTagReserved = 0x30;
constexpr uint8_t kTagUidLength = 0x0F;
// Messages whose AES SV blocks go through one batched CMAC (two blocks each: ENC and MAC).
constexpr size_t kAesChunk = 64;

// Strict hex (no spaces or separators) into `out` (text.size() / 2 bytes), or INVALID_ARGUMENT
// naming `field`. Allocates nothing on success.
absl::Status StrictHexInto(absl::string_view field, absl::string_view text, uint8_t* out) {
  if (text.size() % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": an odd number of hex digits (", text.size(), ")"));
  }
  for (size_t i = 0; i < text.size(); i += 2) {
    const int hi = HexDigitValue(text[i]);
    const int lo = HexDigitValue(text[i + 1]);
    if (hi < 0 || lo < 0) return absl::InvalidArgumentError(absl::StrCat(field, ": not hex"));
    out[i / 2] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return absl::OkStatus();
}

absl::Status WrongLength(absl::string_view field, size_t digits, absl::string_view want) {
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": ", digits, " hex digits, expected ", want));
}

// UID ‖ counter (LSB first) at `out`; returns the bytes written.
size_t PutUidCounter(ByteSpan uid, std::optional<uint32_t> counter, uint8_t* out) {
  std::copy(uid.begin(), uid.end(), out);
  size_t n = uid.size();
  if (counter.has_value()) {
    StoreLe24(*counter, out + n);
    n += kCounterBytes;
  }
  return n;
}

// AES SV1 (`mac` false: KSesSDMFileReadENC) or SV2 (true: KSesSDMFileReadMAC).
void AesSv(bool mac, ByteSpan uid, std::optional<uint32_t> counter, uint8_t* sv) {
  std::memset(sv, 0, kBlock);
  sv[0] = mac ? 0x3C : 0xC3;
  sv[1] = mac ? 0xC3 : 0x3C;
  sv[3] = 0x01;
  sv[5] = 0x80;
  PutUidCounter(uid, counter, sv + 6);
}

// LRP SV: 00 01 00 80 ‖ UID ‖ ctr ‖ 00.. ‖ 1E E1.
void LrpSv(ByteSpan uid, std::optional<uint32_t> counter, uint8_t* sv) {
  std::memset(sv, 0, kBlock);
  sv[1] = 0x01;
  sv[3] = 0x80;
  PutUidCounter(uid, counter, sv + 4);
  sv[14] = 0x1E;
  sv[15] = 0xE1;
}

absl::Status CheckKey(absl::string_view what, ByteSpan key) {
  if (key.size() != kBlock) {
    return absl::InvalidArgumentError(absl::StrCat(what, " must be a 16-byte key"));
  }
  return absl::OkStatus();
}

ByteSpan UidOf(const SunMessage& msg) {
  return msg.uid.has_value() ? ByteSpan(msg.uid->data(), msg.uid->size()) : ByteSpan();
}

ByteSpan MacInputOf(const SunMessage& msg) {
  return ByteSpan(reinterpret_cast<const uint8_t*>(msg.mac_input.data()), msg.mac_input.size());
}

// AES file data: CBC decryption under KSesSDMFileReadENC with IV = E(KSesENC, ctr ‖ 00×13).
absl::Status DecryptAesFile(const uint8_t* ses_enc, uint32_t counter, MutableByteSpan file) {
  if (file.size() % kBlock != 0) {
    return absl::InvalidArgumentError("enc_file_data: not a whole number of 16-byte blocks");
  }
  const crypto::Aes128Schedule aes(ses_enc);
  uint8_t prev[kBlock] = {};
  StoreLe24(counter, prev);
  aes.Encrypt(prev, prev);
  for (size_t off = 0; off < file.size(); off += kBlock) {
    uint8_t cipher[kBlock];
    std::memcpy(cipher, file.data() + off, kBlock);
    aes.Decrypt(cipher, file.data() + off);
    for (size_t i = 0; i < kBlock; ++i) file[off + i] ^= prev[i];
    std::memcpy(prev, cipher, kBlock);
  }
  return absl::OkStatus();
}

// LRP file data: LRICB decryption under the session master key, updated key 1, counter
// SDMReadCtr ‖ 00 00 00.
absl::Status DecryptLrpFile(const uint8_t* master, uint32_t counter, MutableByteSpan file) {
  absl::StatusOr<crypto::Lrp> enc = crypto::Lrp::Create(ByteSpan(master, kBlock), 1);
  if (!enc.ok()) return enc.status();
  uint8_t ctr[6] = {};  // 12 nibbles
  StoreLe24(counter, ctr);
  return enc->LricbDecrypt(MutableByteSpan(ctr, sizeof(ctr)), 12, file);
}

// The end of VerifySunMac once the session keys and the full CMAC `full` of the MAC input are
// known: AES ses_enc (read only with file data), or the LRP session master key `master`.
void FinishMessage(const SunMessage& msg, const uint8_t* full, const uint8_t* ses_enc,
                   const uint8_t* master, SunResult& r) {
  uint8_t truncated[kSunMacLength];
  crypto::TruncateMacOddBytes(full, truncated);
  if (!crypto::ConstantTimeEquals8(truncated, msg.mac.data())) {
    r.status = SunStatus::kFlagged;
    r.add(SunWarning::kMacVerificationFailed);
    return;
  }
  if (!msg.enc_file.empty()) {
    r.file_data = msg.enc_file;
    const absl::Status s = msg.cipher == SunCipher::kAes
                               ? DecryptAesFile(ses_enc, *msg.counter, MutableByteSpan(r.file_data))
                               : DecryptLrpFile(master, *msg.counter, MutableByteSpan(r.file_data));
    if (!s.ok()) {
      crypto::SecureWipe(MutableByteSpan(r.file_data));
      r.file_data.clear();
      r.status = SunStatus::kRejected;
      r.error = std::string(s.message());
      return;
    }
  }
  r.status = SunStatus::kValid;
}

}  // namespace

absl::StatusOr<SunMessage> ParseSunInput(const SunInput& in) {
  SunMessage msg;
  msg.cipher = in.cipher;
  if (in.mac.size() != 2 * kSunMacLength) {
    return WrongLength("mac", in.mac.size(), "16 (8 bytes)");
  }
  if (absl::Status s = StrictHexInto("mac", in.mac, msg.mac.data()); !s.ok()) return s;
  if (!in.enc_file_data.empty()) {
    if (in.enc_file_data.size() % (2 * kBlock) != 0) {
      return WrongLength("enc_file_data", in.enc_file_data.size(), "a multiple of 32");
    }
    msg.enc_file.resize(in.enc_file_data.size() / 2);
    if (absl::Status s = StrictHexInto("enc_file_data", in.enc_file_data, msg.enc_file.data());
        !s.ok()) {
      return s;
    }
  }
  msg.mac_input = in.mac_input;
  if (!in.picc_data.empty()) {
    if (!in.uid.empty() || !in.counter.empty()) {
      return absl::InvalidArgumentError(
          "picc_data: give either the encrypted PICCData or the plain uid and counter");
    }
    const size_t want = in.cipher == SunCipher::kAes ? kAesPiccBytes : kLrpPiccBytes;
    if (in.picc_data.size() != 2 * want) {
      return WrongLength("picc_data", in.picc_data.size(),
                         in.cipher == SunCipher::kAes ? "32 with AES" : "48 with LRP");
    }
    if (absl::Status s = StrictHexInto("picc_data", in.picc_data, msg.picc_enc.data()); !s.ok()) {
      return s;
    }
    msg.picc_enc_size = want;
    return msg;
  }
  if (in.uid.empty()) {
    return absl::InvalidArgumentError("picc_data or uid is required");
  }
  if (in.uid.size() != 2 * kSunUidLength) return WrongLength("uid", in.uid.size(), "14");
  msg.uid.emplace();
  if (absl::Status s = StrictHexInto("uid", in.uid, msg.uid->data()); !s.ok()) return s;
  if (!in.counter.empty()) {
    if (in.counter.size() > 2 * kCounterBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "counter: ", in.counter.size(), " hex digits overflow the 24-bit read counter"));
    }
    if (in.counter.size() != 2 * kCounterBytes) {
      return WrongLength("counter", in.counter.size(), "6");
    }
    uint8_t ctr[kCounterBytes];
    if (absl::Status s = StrictHexInto("counter", in.counter, ctr); !s.ok()) return s;
    msg.counter = (uint32_t{ctr[0]} << 16) | (uint32_t{ctr[1]} << 8) | ctr[2];
  }
  return msg;
}

absl::StatusOr<SunKey> SunKey::Create(SunCipher cipher, ByteSpan key, absl::string_view what) {
  if (absl::Status s = CheckKey(what, key); !s.ok()) return s;
  SunKey k(cipher);
  if (cipher == SunCipher::kAes) {
    k.aes_.emplace(key.data());
  } else {
    absl::StatusOr<crypto::LrpCmac> lrp = crypto::LrpCmac::Create(key);
    if (!lrp.ok()) return lrp.status();
    k.lrp_.emplace(*std::move(lrp));
  }
  return k;
}

absl::Status DecryptPiccData(SunMessage& msg, ByteSpan meta_read_key) {
  if (msg.picc_enc_size == 0) return absl::OkStatus();
  absl::StatusOr<SunKey> key = SunKey::Create(msg.cipher, meta_read_key, "K_SDMMetaRead");
  if (!key.ok()) return key.status();
  return DecryptPiccDataWith(msg, *key);
}

absl::Status DecryptPiccDataWith(SunMessage& msg, const SunKey& meta_read_key) {
  if (msg.picc_enc_size == 0) return absl::OkStatus();
  if (meta_read_key.cipher() != msg.cipher) {
    return absl::InvalidArgumentError("K_SDMMetaRead: prepared for the other cipher");
  }
  crypto::Wiped<kBlock> plain;
  if (msg.cipher == SunCipher::kAes) {
    if (msg.picc_enc_size != kAesPiccBytes) {
      return absl::InvalidArgumentError("picc_data: AES PICCData has 16 bytes");
    }
    meta_read_key.aes_->aes().Decrypt(msg.picc_enc.data(), plain.data());  // CBC, IV 0, 1 block
  } else {
    if (msg.picc_enc_size != kLrpPiccBytes) {
      return absl::InvalidArgumentError("picc_data: LRP PICCData has 24 bytes");
    }
    uint8_t counter[kLrpRandBytes];
    std::copy_n(msg.picc_enc.begin(), kLrpRandBytes, counter);
    std::copy_n(msg.picc_enc.begin() + kLrpRandBytes, kBlock, plain.v.begin());
    absl::Status s = meta_read_key.lrp_->lrp().LricbDecrypt(
        MutableByteSpan(counter, sizeof(counter)), 2 * kLrpRandBytes,
        MutableByteSpan(plain.data(), kBlock));
    if (!s.ok()) return s;
  }
  const uint8_t tag = plain.v[0];
  const bool has_uid = (tag & kTagUid) != 0;
  const bool has_counter = (tag & kTagCounter) != 0;
  const size_t uid_length = tag & kTagUidLength;
  if ((tag & kTagReserved) != 0 || (has_uid ? uid_length != kSunUidLength : uid_length != 0) ||
      (!has_uid && !has_counter)) {
    return absl::InvalidArgumentError(
        "picc_data: the decrypted PICCDataTag is not valid (wrong K_SDMMetaRead, cipher or "
        "data)");
  }
  size_t off = 1;
  msg.uid.reset();
  msg.counter.reset();
  if (has_uid) {
    msg.uid.emplace();
    std::copy_n(plain.v.begin() + off, kSunUidLength, msg.uid->begin());
    off += kSunUidLength;
  }
  if (has_counter) {
    msg.counter = uint32_t{plain.v[off]} | (uint32_t{plain.v[off + 1]} << 8) |
                  (uint32_t{plain.v[off + 2]} << 16);
  }
  return absl::OkStatus();
}

absl::StatusOr<SunAesSessionKeys> DeriveSunAesSessionKeys(ByteSpan file_read_key, ByteSpan uid,
                                                          std::optional<uint32_t> counter) {
  if (absl::Status s = CheckKey("K_SDMFileRead", file_read_key); !s.ok()) return s;
  const crypto::Aes128Cmac cmac(file_read_key.data());
  uint8_t sv[kBlock];
  SunAesSessionKeys keys;
  AesSv(/*mac=*/false, uid, counter, sv);
  cmac.Compute(ByteSpan(sv, kBlock), keys.enc.data());
  AesSv(/*mac=*/true, uid, counter, sv);
  cmac.Compute(ByteSpan(sv, kBlock), keys.mac.data());
  return keys;
}

absl::StatusOr<crypto::Wiped<16>> DeriveSunLrpMasterKey(ByteSpan file_read_key, ByteSpan uid,
                                                        std::optional<uint32_t> counter) {
  if (absl::Status s = CheckKey("K_SDMFileRead", file_read_key); !s.ok()) return s;
  absl::StatusOr<crypto::LrpCmac> cmac = crypto::LrpCmac::Create(file_read_key);
  if (!cmac.ok()) return cmac.status();
  uint8_t sv[kBlock];
  LrpSv(uid, counter, sv);
  crypto::Wiped<16> master;
  cmac->Compute(ByteSpan(sv, kBlock), master.data());
  return master;
}

absl::StatusOr<Bytes> DecryptSunFileData(SunCipher cipher, ByteSpan file_read_key, ByteSpan uid,
                                         uint32_t counter, ByteSpan enc_file) {
  if (enc_file.size() % kBlock != 0) {
    return absl::InvalidArgumentError("enc_file_data: not a whole number of 16-byte blocks");
  }
  Bytes file(enc_file.begin(), enc_file.end());
  absl::Status s;
  if (cipher == SunCipher::kAes) {
    absl::StatusOr<SunAesSessionKeys> keys = DeriveSunAesSessionKeys(file_read_key, uid, counter);
    if (!keys.ok()) return keys.status();
    s = DecryptAesFile(keys->enc.data(), counter, MutableByteSpan(file));
  } else {
    absl::StatusOr<crypto::Wiped<16>> master = DeriveSunLrpMasterKey(file_read_key, uid, counter);
    if (!master.ok()) return master.status();
    s = DecryptLrpFile(master->data(), counter, MutableByteSpan(file));
  }
  if (!s.ok()) return s;
  return file;
}

SunResult VerifySunMac(const SunMessage& msg, ByteSpan file_read_key) {
  SunResult r;
  absl::StatusOr<SunKey> key = SunKey::Create(msg.cipher, file_read_key, "K_SDMFileRead");
  if (!key.ok()) {
    r.uid = msg.uid;
    r.counter = msg.counter;
    r.error = std::string(key.status().message());
    return r;
  }
  const SunMessage* one = &msg;
  VerifySunMacs(absl::MakeConstSpan(&one, 1), *key, absl::MakeSpan(&r, 1));
  return r;
}

void VerifySunMacs(absl::Span<const SunMessage* const> msgs, const SunKey& file_read_key,
                   absl::Span<SunResult> results) {
  // Checks that need no key; `ready` lists the messages that go on.
  size_t ready[kAesChunk];
  for (size_t base = 0; base < msgs.size(); base += kAesChunk) {
    const size_t end = std::min(msgs.size(), base + kAesChunk);
    size_t n = 0;
    for (size_t i = base; i < end; ++i) {
      const SunMessage& msg = *msgs[i];
      SunResult& r = results[i];
      r = SunResult();
      r.uid = msg.uid;
      r.counter = msg.counter;
      if (msg.cipher != file_read_key.cipher()) {
        r.error = "K_SDMFileRead: prepared for the other cipher";
      } else if (!msg.enc_file.empty() && !msg.counter.has_value()) {
        r.error = "enc_file_data: the file data's IV needs the read counter, not mirrored";
      } else {
        ready[n++] = i;
      }
    }
    if (file_read_key.cipher() == SunCipher::kAes) {
      // SV2 (and SV1 with file data) of every message through one batched CMAC.
      crypto::Wiped<2 * kAesChunk * kBlock> ses;
      uint8_t svs[2 * kAesChunk][kBlock];
      const uint8_t* ptrs[2 * kAesChunk];
      size_t enc_slot[kAesChunk];
      size_t count = 0;
      for (size_t j = 0; j < n; ++j) {
        const SunMessage& msg = *msgs[ready[j]];
        AesSv(/*mac=*/true, UidOf(msg), msg.counter, svs[count]);
        ptrs[count] = svs[count];
        ++count;
        enc_slot[j] = count;  // unused without file data
        if (!msg.enc_file.empty()) {
          AesSv(/*mac=*/false, UidOf(msg), msg.counter, svs[count]);
          ptrs[count] = svs[count];
          ++count;
        }
      }
      file_read_key.aes_->ComputeMany(ptrs, kBlock, count, ses.data());
      for (size_t j = 0; j < n; ++j) {
        const SunMessage& msg = *msgs[ready[j]];
        const uint8_t* mac = ses.data() + (enc_slot[j] - 1) * kBlock;
        crypto::Wiped<kBlock> full;
        crypto::Aes128Cmac(mac).Compute(MacInputOf(msg), full.data());
        FinishMessage(msg, full.data(), mac + kBlock, nullptr, results[ready[j]]);
      }
    } else if (n > 0) {
      // Side by side (LrpCmac::CreateMany / ComputeMany): the session master keys
      // CMAC_LRP(K_SDMFileRead; SV), their CMAC_LRP subkeys, the CMACs of the MAC inputs.
      uint8_t svs[kAesChunk][kBlock];
      ByteSpan spans[kAesChunk];
      const crypto::LrpCmac* macs[kAesChunk];
      for (size_t j = 0; j < n; ++j) {
        const SunMessage& msg = *msgs[ready[j]];
        LrpSv(UidOf(msg), msg.counter, svs[j]);
        spans[j] = ByteSpan(svs[j], kBlock);
        macs[j] = &*file_read_key.lrp_;
      }
      crypto::Wiped<kAesChunk * kBlock> masters;
      crypto::LrpCmac::ComputeMany(macs, spans, n, masters.data());
      absl::StatusOr<std::vector<crypto::LrpCmac>> ses =
          crypto::LrpCmac::CreateMany(masters.data(), n);
      if (!ses.ok()) {
        for (size_t j = 0; j < n; ++j)
          results[ready[j]].error = std::string(ses.status().message());
        continue;
      }
      for (size_t j = 0; j < n; ++j) {
        macs[j] = &(*ses)[j];
        spans[j] = MacInputOf(*msgs[ready[j]]);
      }
      crypto::Wiped<kAesChunk * kBlock> full;
      crypto::LrpCmac::ComputeMany(macs, spans, n, full.data());
      for (size_t j = 0; j < n; ++j) {
        FinishMessage(*msgs[ready[j]], full.data() + j * kBlock, nullptr,
                      masters.data() + j * kBlock, results[ready[j]]);
      }
    }
  }
}

}  // namespace desfired::tap
