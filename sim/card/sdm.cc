#include "sim/card/sdm.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "core/crypto/block_cipher.h"
#include "core/crypto/cmac.h"
#include "core/crypto/key_type.h"
#include "core/crypto/lrp.h"

namespace desfired::sim {
namespace {

constexpr uint8_t kOptionsKnown = 0xF1;
constexpr uint8_t kOptionAscii = 0x01;
constexpr uint8_t kOptionLimit = 0x20;
constexpr uint8_t kPlainMirror = 0x0E;
constexpr uint32_t kUidChars = 14;
constexpr uint32_t kCtrChars = 6;
constexpr uint32_t kMacChars = 16;
constexpr size_t kBlock = 16;
constexpr size_t kMacBytes = 8;
constexpr uint8_t kPiccTagUid = 0x80;
constexpr uint8_t kPiccTagCounter = 0x40;

bool UidField(const SdmConfig& c) { return c.MirrorsUid() && c.meta_read == kPlainMirror; }
bool CtrField(const SdmConfig& c) { return c.MirrorsCounter() && c.meta_read == kPlainMirror; }

// The 3-byte fields in wire order (null: absent).
std::array<uint32_t*, 8> FieldsOf(SdmConfig& c, uint32_t* limit) {
  return {UidField(c) ? &c.uid_offset : nullptr,
          CtrField(c) ? &c.ctr_offset : nullptr,
          c.EncryptsPiccData() ? &c.picc_offset : nullptr,
          c.Macs() ? &c.mac_input_offset : nullptr,
          c.EncryptsFileData() ? &c.enc_offset : nullptr,
          c.EncryptsFileData() ? &c.enc_length : nullptr,
          c.Macs() ? &c.mac_offset : nullptr,
          (c.options & kOptionLimit) ? limit : nullptr};
}

void PutHex(ByteSpan data, uint8_t* out) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  for (size_t i = 0; i < data.size(); ++i) {
    out[2 * i] = static_cast<uint8_t>(kDigits[data[i] >> 4]);
    out[2 * i + 1] = static_cast<uint8_t>(kDigits[data[i] & 0x0F]);
  }
}

Bytes AesCmac(ByteSpan key, ByteSpan message) {
  absl::StatusOr<crypto::Cmac> cmac = crypto::Cmac::Create(crypto::KeyType::kAes128, key);
  if (!cmac.ok()) return {};
  Bytes out(kBlock);
  cmac->Compute(message, out.data());
  return out;
}

Bytes LrpCmac(ByteSpan key, ByteSpan message) {
  absl::StatusOr<crypto::LrpCmac> cmac = crypto::LrpCmac::Create(key);
  if (!cmac.ok()) return {};
  Bytes out(kBlock);
  cmac->Compute(message, out.data());
  return out;
}

// The session vector: `prefix` ‖ UID ‖ counter, zero-padded to 16 bytes (LRP: with 1E E1 at
// the end).
Bytes SessionVector(ByteSpan prefix, ByteSpan uid, ByteSpan counter, bool lrp) {
  Bytes sv(prefix.begin(), prefix.end());
  sv.insert(sv.end(), uid.begin(), uid.end());
  sv.insert(sv.end(), counter.begin(), counter.end());
  sv.resize(kBlock, 0);
  if (lrp) {
    sv[kBlock - 2] = 0x1E;
    sv[kBlock - 1] = 0xE1;
  }
  return sv;
}

}  // namespace

Sw ParseSdmConfig(ByteSpan data, uint32_t file_size, bool lrp, SdmConfig& out) {
  if (data.size() < 3) return Sw::kLengthError;
  SdmConfig c;
  c.options = data[0];
  if ((c.options & ~kOptionsKnown) != 0 || (c.options & kOptionAscii) == 0) {
    return Sw::kParameterError;
  }
  if ((data[1] & 0xF0) != 0xF0) return Sw::kParameterError;  // RFU nibble
  c.ctr_ret = data[1] & 0x0F;
  c.meta_read = data[2] >> 4;
  c.file_read = data[2] & 0x0F;
  if (c.file_read == kPlainMirror) return Sw::kParameterError;
  uint32_t limit = 0;
  size_t p = 3;
  for (uint32_t* field : FieldsOf(c, &limit)) {
    if (field == nullptr) continue;
    if (p + 3 > data.size()) return Sw::kLengthError;
    *field = LoadLe24(data.data() + p);
    p += 3;
  }
  if (p != data.size()) return Sw::kLengthError;
  if (c.options & kOptionLimit) c.ctr_limit = limit;
  const bool mirrors = c.MirrorsUid() || c.MirrorsCounter();
  if (mirrors != (c.meta_read != 0x0F)) return Sw::kParameterError;
  struct Span {
    uint32_t at, length;
  };
  std::vector<Span> spans;
  if (UidField(c)) spans.push_back({c.uid_offset, kUidChars});
  if (CtrField(c)) spans.push_back({c.ctr_offset, kCtrChars});
  if (c.EncryptsPiccData()) spans.push_back({c.picc_offset, lrp ? 48u : 32u});
  if (c.EncryptsFileData()) {
    if (!c.MirrorsUid() || !c.MirrorsCounter() || c.enc_length == 0 || c.enc_length % 32 != 0 ||
        c.enc_offset < c.mac_input_offset || uint64_t{c.enc_offset} + c.enc_length > c.mac_offset) {
      return Sw::kParameterError;
    }
    spans.push_back({c.enc_offset, c.enc_length});
  }
  if (c.Macs()) {
    if (c.mac_input_offset > c.mac_offset) return Sw::kParameterError;
    spans.push_back({c.mac_offset, kMacChars});
  }
  for (size_t i = 0; i < spans.size(); ++i) {
    if (uint64_t{spans[i].at} + spans[i].length > file_size) return Sw::kParameterError;
    for (size_t j = 0; j < i; ++j) {
      if (spans[i].at < spans[j].at + spans[j].length &&
          spans[j].at < spans[i].at + spans[i].length) {
        return Sw::kParameterError;
      }
    }
  }
  out = c;
  return Sw::kOk;
}

Bytes EncodeSdmConfig(const SdmConfig& config) {
  SdmConfig c = config;
  uint32_t limit = c.ctr_limit.value_or(0);
  Bytes out = {c.options, static_cast<uint8_t>(0xF0 | c.ctr_ret),
               static_cast<uint8_t>(c.meta_read << 4 | c.file_read)};
  for (uint32_t* field : FieldsOf(c, &limit)) {
    if (field == nullptr) continue;
    uint8_t b[3];
    StoreLe24(*field, b);
    out.insert(out.end(), b, b + 3);
  }
  return out;
}

Bytes SdmPiccEncAes(ByteSpan meta_key, ByteSpan picc_data) {
  absl::StatusOr<crypto::BlockCipher> aes =
      crypto::BlockCipher::Create(crypto::KeyType::kAes128, meta_key);
  if (!aes.ok() || picc_data.size() != kBlock) return {};
  Bytes out(kBlock);
  aes->EncryptBlock(picc_data.data(), out.data());  // CBC with IV 0 over one block
  return out;
}

Bytes SdmPiccEncLrp(ByteSpan meta_key, ByteSpan picc_rand, ByteSpan picc_data) {
  absl::StatusOr<crypto::Lrp> lrp = crypto::Lrp::Create(meta_key, 0);
  if (!lrp.ok() || picc_rand.size() != 8 || picc_data.size() != kBlock) return {};
  Bytes counter(picc_rand.begin(), picc_rand.end());
  Bytes enc(picc_data.begin(), picc_data.end());
  if (!lrp->LricbEncrypt(MutableByteSpan(counter), 16, MutableByteSpan(enc)).ok()) return {};
  Bytes out(picc_rand.begin(), picc_rand.end());
  out.insert(out.end(), enc.begin(), enc.end());
  return out;
}

Bytes SdmSessionKeys(ByteSpan file_key, ByteSpan uid, ByteSpan counter, bool lrp) {
  if (lrp) {
    static constexpr uint8_t kPrefix[] = {0x00, 0x01, 0x00, 0x80};
    return LrpCmac(file_key, SessionVector(kPrefix, uid, counter, true));
  }
  static constexpr uint8_t kEnc[] = {0xC3, 0x3C, 0x00, 0x01, 0x00, 0x80};
  static constexpr uint8_t kMac[] = {0x3C, 0xC3, 0x00, 0x01, 0x00, 0x80};
  Bytes keys = AesCmac(file_key, SessionVector(kEnc, uid, counter, false));
  Bytes mac = AesCmac(file_key, SessionVector(kMac, uid, counter, false));
  keys.insert(keys.end(), mac.begin(), mac.end());
  return keys;
}

Bytes SdmMac(ByteSpan file_key, ByteSpan uid, ByteSpan counter, ByteSpan mac_input, bool lrp) {
  const Bytes keys = SdmSessionKeys(file_key, uid, counter, lrp);
  if (keys.size() < kBlock) return {};
  const Bytes full =
      lrp ? LrpCmac(keys, mac_input) : AesCmac(ByteSpan(keys).subspan(kBlock, kBlock), mac_input);
  if (full.size() != kBlock) return {};
  Bytes mac(kMacBytes);  // MACt: the odd-indexed bytes
  crypto::TruncateMacOddBytes(full.data(), mac.data());
  return mac;
}

Bytes SdmEncFileData(ByteSpan file_key, ByteSpan uid, ByteSpan counter, ByteSpan plain, bool lrp) {
  const Bytes keys = SdmSessionKeys(file_key, uid, counter, lrp);
  if (keys.size() < kBlock || plain.size() % kBlock != 0 || counter.size() != 3) return {};
  Bytes data(plain.begin(), plain.end());
  if (lrp) {
    absl::StatusOr<crypto::Lrp> enc = crypto::Lrp::Create(keys, 1);
    Bytes ctr(counter.begin(), counter.end());
    ctr.resize(6, 0);
    if (!enc.ok() || !enc->LricbEncrypt(MutableByteSpan(ctr), 12, MutableByteSpan(data)).ok()) {
      return {};
    }
    return data;
  }
  absl::StatusOr<crypto::BlockCipher> aes =
      crypto::BlockCipher::Create(crypto::KeyType::kAes128, ByteSpan(keys).subspan(0, kBlock));
  if (!aes.ok()) return {};
  uint8_t iv_in[kBlock] = {};
  std::memcpy(iv_in, counter.data(), counter.size());
  Bytes iv(kBlock);
  aes->EncryptBlock(iv_in, iv.data());
  if (!aes->CbcEncrypt(MutableByteSpan(iv), MutableByteSpan(data)).ok()) return {};
  return data;
}

Sw MirrorSdm(const SdmConfig& config, const SdmInputs& in, const SdmRandom& random,
             Bytes& content) {
  uint8_t ctr[3];
  StoreLe24(in.counter, ctr);
  const ByteSpan uid = config.MirrorsUid() ? in.uid : ByteSpan();
  const ByteSpan counter = config.MirrorsCounter() ? ByteSpan(ctr, 3) : ByteSpan();
  if (config.meta_read == kPlainMirror) {
    if (config.MirrorsUid()) PutHex(in.uid, content.data() + config.uid_offset);
    if (config.MirrorsCounter()) {
      const uint8_t msb_first[3] = {ctr[2], ctr[1], ctr[0]};
      PutHex(msb_first, content.data() + config.ctr_offset);
    }
  } else if (config.EncryptsPiccData()) {
    if (in.meta_key.size() != kBlock) return Sw::kPermissionDenied;
    Bytes picc(kBlock);
    random(MutableByteSpan(picc));  // the padding stays random
    size_t p = 0;
    picc[p++] = static_cast<uint8_t>((config.MirrorsUid() ? kPiccTagUid | in.uid.size() : 0) |
                                     (config.MirrorsCounter() ? kPiccTagCounter : 0));
    std::copy(uid.begin(), uid.end(), picc.begin() + p);
    p += uid.size();
    std::copy(counter.begin(), counter.end(), picc.begin() + p);
    Bytes enc;
    if (in.lrp) {
      Bytes picc_rand(8);
      random(MutableByteSpan(picc_rand));
      enc = SdmPiccEncLrp(in.meta_key, picc_rand, picc);
    } else {
      enc = SdmPiccEncAes(in.meta_key, picc);
    }
    if (enc.empty()) return Sw::kPermissionDenied;
    PutHex(enc, content.data() + config.picc_offset);
  }
  if (!config.Macs()) return Sw::kOk;
  if (in.file_key.size() != kBlock) return Sw::kPermissionDenied;
  if (config.EncryptsFileData()) {
    const uint8_t* plain = content.data() + config.enc_offset;
    const Bytes enc =
        SdmEncFileData(in.file_key, uid, counter, ByteSpan(plain, config.enc_length / 2), in.lrp);
    if (enc.empty()) return Sw::kPermissionDenied;
    PutHex(enc, content.data() + config.enc_offset);
  }
  const ByteSpan input(content.data() + config.mac_input_offset,
                       config.mac_offset - config.mac_input_offset);
  const Bytes mac = SdmMac(in.file_key, uid, counter, input, in.lrp);
  if (mac.empty()) return Sw::kPermissionDenied;
  PutHex(mac, content.data() + config.mac_offset);
  return Sw::kOk;
}

}  // namespace desfired::sim
