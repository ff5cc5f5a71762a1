#include "core/tap/sun.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/crypto/block_cipher.h"
#include "core/crypto/cmac.h"
#include "core/crypto/key_type.h"
#include "core/crypto/lrp.h"
#include "core/crypto/random.h"

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

// Wipes a fixed array when it goes out of scope.
template <size_t N>
struct Wiped {
  std::array<uint8_t, N> v = {};
  ~Wiped() { crypto::SecureWipe(MutableByteSpan(v.data(), v.size())); }
};

// Strict hex (no spaces or separators): the bytes, or INVALID_ARGUMENT naming `field`.
absl::StatusOr<Bytes> StrictHex(absl::string_view field, absl::string_view text) {
  if (text.size() % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": an odd number of hex digits (", text.size(), ")"));
  }
  for (char c : text) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": not hex"));
    }
  }
  return HexDecode(text);
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

absl::Status CheckKey(absl::string_view what, ByteSpan key) {
  if (key.size() != kBlock) {
    return absl::InvalidArgumentError(absl::StrCat(what, " must be a 16-byte key"));
  }
  return absl::OkStatus();
}

void OddBytes(const uint8_t* full, uint8_t* out) {
  for (size_t i = 0; i < kSunMacLength; ++i) out[i] = full[2 * i + 1];
}

ByteSpan UidOf(const SunMessage& msg) {
  return msg.uid.has_value() ? ByteSpan(msg.uid->data(), msg.uid->size()) : ByteSpan();
}

}  // namespace

absl::StatusOr<SunMessage> ParseSunInput(const SunInput& in) {
  SunMessage msg;
  msg.cipher = in.cipher;
  msg.mac_input = in.mac_input;
  if (in.mac.size() != 2 * kSunMacLength) {
    return WrongLength("mac", in.mac.size(), "16 (8 bytes)");
  }
  absl::StatusOr<Bytes> mac = StrictHex("mac", in.mac);
  if (!mac.ok()) return mac.status();
  std::copy(mac->begin(), mac->end(), msg.mac.begin());
  if (!in.enc_file_data.empty()) {
    if (in.enc_file_data.size() % (2 * kBlock) != 0) {
      return WrongLength("enc_file_data", in.enc_file_data.size(), "a multiple of 32");
    }
    absl::StatusOr<Bytes> file = StrictHex("enc_file_data", in.enc_file_data);
    if (!file.ok()) return file.status();
    msg.enc_file = *std::move(file);
  }
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
    absl::StatusOr<Bytes> picc = StrictHex("picc_data", in.picc_data);
    if (!picc.ok()) return picc.status();
    msg.picc_enc = *std::move(picc);
    return msg;
  }
  if (in.uid.empty()) {
    return absl::InvalidArgumentError("picc_data or uid is required");
  }
  if (in.uid.size() != 2 * kSunUidLength) return WrongLength("uid", in.uid.size(), "14");
  absl::StatusOr<Bytes> uid = StrictHex("uid", in.uid);
  if (!uid.ok()) return uid.status();
  msg.uid.emplace();
  std::copy(uid->begin(), uid->end(), msg.uid->begin());
  if (!in.counter.empty()) {
    if (in.counter.size() > 2 * kCounterBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "counter: ", in.counter.size(), " hex digits overflow the 24-bit read counter"));
    }
    if (in.counter.size() != 2 * kCounterBytes) {
      return WrongLength("counter", in.counter.size(), "6");
    }
    absl::StatusOr<Bytes> ctr = StrictHex("counter", in.counter);
    if (!ctr.ok()) return ctr.status();
    msg.counter = (uint32_t{(*ctr)[0]} << 16) | (uint32_t{(*ctr)[1]} << 8) | (*ctr)[2];
  }
  return msg;
}

absl::Status DecryptPiccData(SunMessage& msg, ByteSpan meta_read_key) {
  if (msg.picc_enc.empty()) return absl::OkStatus();
  if (absl::Status s = CheckKey("K_SDMMetaRead", meta_read_key); !s.ok()) return s;
  Wiped<kBlock> plain;
  if (msg.cipher == SunCipher::kAes) {
    if (msg.picc_enc.size() != kAesPiccBytes) {
      return absl::InvalidArgumentError("picc_data: AES PICCData has 16 bytes");
    }
    absl::StatusOr<crypto::BlockCipher> aes =
        crypto::BlockCipher::Create(crypto::KeyType::kAes128, meta_read_key);
    if (!aes.ok()) return aes.status();
    aes->DecryptBlock(msg.picc_enc.data(), plain.v.data());  // CBC with IV 0, one block
  } else {
    if (msg.picc_enc.size() != kLrpPiccBytes) {
      return absl::InvalidArgumentError("picc_data: LRP PICCData has 24 bytes");
    }
    absl::StatusOr<crypto::Lrp> lrp = crypto::Lrp::Create(meta_read_key, 0);
    if (!lrp.ok()) return lrp.status();
    uint8_t counter[kLrpRandBytes];
    std::copy_n(msg.picc_enc.begin(), kLrpRandBytes, counter);
    std::copy_n(msg.picc_enc.begin() + kLrpRandBytes, kBlock, plain.v.begin());
    absl::Status s = lrp->LricbDecrypt(MutableByteSpan(counter, sizeof(counter)), 2 * kLrpRandBytes,
                                       MutableByteSpan(plain.v.data(), plain.v.size()));
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
  absl::StatusOr<crypto::Cmac> cmac = crypto::Cmac::Create(crypto::KeyType::kAes128, file_read_key);
  if (!cmac.ok()) return cmac.status();
  uint8_t sv[kBlock] = {0xC3, 0x3C, 0x00, 0x01, 0x00, 0x80};
  PutUidCounter(uid, counter, sv + 6);
  SunAesSessionKeys keys;
  cmac->Compute(sv, keys.enc.data());
  sv[0] = 0x3C;
  sv[1] = 0xC3;
  cmac->Compute(sv, keys.mac.data());
  return keys;
}

absl::StatusOr<std::array<uint8_t, 16>> DeriveSunLrpMasterKey(ByteSpan file_read_key, ByteSpan uid,
                                                              std::optional<uint32_t> counter) {
  if (absl::Status s = CheckKey("K_SDMFileRead", file_read_key); !s.ok()) return s;
  absl::StatusOr<crypto::LrpCmac> cmac = crypto::LrpCmac::Create(file_read_key);
  if (!cmac.ok()) return cmac.status();
  uint8_t sv[kBlock] = {0x00, 0x01, 0x00, 0x80};
  PutUidCounter(uid, counter, sv + 4);
  sv[14] = 0x1E;
  sv[15] = 0xE1;
  std::array<uint8_t, 16> master;
  cmac->Compute(sv, master.data());
  return master;
}

absl::StatusOr<Bytes> DecryptSunFileData(SunCipher cipher, ByteSpan file_read_key, ByteSpan uid,
                                         uint32_t counter, ByteSpan enc_file) {
  if (enc_file.size() % kBlock != 0) {
    return absl::InvalidArgumentError("enc_file_data: not a whole number of 16-byte blocks");
  }
  Bytes file(enc_file.begin(), enc_file.end());
  if (cipher == SunCipher::kAes) {
    absl::StatusOr<SunAesSessionKeys> keys = DeriveSunAesSessionKeys(file_read_key, uid, counter);
    if (!keys.ok()) return keys.status();
    absl::StatusOr<crypto::BlockCipher> enc =
        crypto::BlockCipher::Create(crypto::KeyType::kAes128, keys->enc);
    crypto::SecureWipe(MutableByteSpan(keys->enc.data(), keys->enc.size()));
    crypto::SecureWipe(MutableByteSpan(keys->mac.data(), keys->mac.size()));
    if (!enc.ok()) return enc.status();
    uint8_t iv[kBlock] = {};
    StoreLe24(counter, iv);
    enc->EncryptBlock(iv, iv);
    if (absl::Status s = enc->CbcDecrypt(MutableByteSpan(iv, kBlock), MutableByteSpan(file));
        !s.ok()) {
      return s;
    }
    return file;
  }
  absl::StatusOr<std::array<uint8_t, 16>> master =
      DeriveSunLrpMasterKey(file_read_key, uid, counter);
  if (!master.ok()) return master.status();
  absl::StatusOr<crypto::Lrp> enc = crypto::Lrp::Create(*master, 1);
  crypto::SecureWipe(MutableByteSpan(master->data(), master->size()));
  if (!enc.ok()) return enc.status();
  uint8_t ctr[6] = {};  // SDMReadCtr ‖ 00 00 00: 12 nibbles
  StoreLe24(counter, ctr);
  if (absl::Status s =
          enc->LricbDecrypt(MutableByteSpan(ctr, sizeof(ctr)), 12, MutableByteSpan(file));
      !s.ok()) {
    return s;
  }
  return file;
}

SunResult VerifySunMac(const SunMessage& msg, ByteSpan file_read_key) {
  SunResult r;
  r.uid = msg.uid;
  r.counter = msg.counter;
  auto reject = [&r](absl::string_view why) {
    r.status = SunStatus::kRejected;
    r.error = std::string(why);
    return r;
  };
  if (!msg.enc_file.empty() && !msg.counter.has_value()) {
    return reject("enc_file_data: the file data's IV needs the read counter, not mirrored");
  }
  const ByteSpan uid = UidOf(msg);
  const ByteSpan mac_input(reinterpret_cast<const uint8_t*>(msg.mac_input.data()),
                           msg.mac_input.size());
  Wiped<kBlock> full;
  if (msg.cipher == SunCipher::kAes) {
    absl::StatusOr<SunAesSessionKeys> keys =
        DeriveSunAesSessionKeys(file_read_key, uid, msg.counter);
    if (!keys.ok()) return reject(keys.status().message());
    absl::StatusOr<crypto::Cmac> mac = crypto::Cmac::Create(crypto::KeyType::kAes128, keys->mac);
    crypto::SecureWipe(MutableByteSpan(keys->enc.data(), keys->enc.size()));
    crypto::SecureWipe(MutableByteSpan(keys->mac.data(), keys->mac.size()));
    if (!mac.ok()) return reject(mac.status().message());
    mac->Compute(mac_input, full.v.data());
  } else {
    absl::StatusOr<std::array<uint8_t, 16>> master =
        DeriveSunLrpMasterKey(file_read_key, uid, msg.counter);
    if (!master.ok()) return reject(master.status().message());
    absl::StatusOr<crypto::LrpCmac> mac = crypto::LrpCmac::Create(*master);
    crypto::SecureWipe(MutableByteSpan(master->data(), master->size()));
    if (!mac.ok()) return reject(mac.status().message());
    mac->Compute(mac_input, full.v.data());
  }
  uint8_t truncated[kSunMacLength];
  OddBytes(full.v.data(), truncated);
  if (!crypto::ConstantTimeEquals(ByteSpan(truncated, kSunMacLength),
                                  ByteSpan(msg.mac.data(), msg.mac.size()))) {
    r.status = SunStatus::kFlagged;
    r.add(SunWarning::kMacVerificationFailed);
    return r;
  }
  if (!msg.enc_file.empty()) {
    absl::StatusOr<Bytes> file =
        DecryptSunFileData(msg.cipher, file_read_key, uid, *msg.counter, msg.enc_file);
    if (!file.ok()) return reject(file.status().message());
    r.file_data = *std::move(file);
  }
  r.status = SunStatus::kValid;
  return r;
}

}  // namespace desfired::tap
