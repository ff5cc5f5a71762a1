#include "sim/card/secure_channel.h"

#include <cstring>

#include "core/crypto/crc.h"
#include "core/crypto/random.h"
#include "core/util/status_macros.h"

namespace desfired::sim {
namespace {

using crypto::BlockCipher;
using crypto::Cmac;
using crypto::KeyType;

constexpr size_t kEv1MacLength = 8;
constexpr size_t kEv2MacLength = 8;
constexpr size_t kLegacyMacLength = 4;
constexpr size_t kCrc32Length = 4;
constexpr size_t kCrc16Length = 2;
constexpr uint8_t kPadMarker = 0x80;
// EV2 IV labels.
constexpr uint8_t kEv2IvCommand[2] = {0xA5, 0x5A};
constexpr uint8_t kEv2IvResponse[2] = {0x5A, 0xA5};

size_t RoundUp(size_t n, size_t bs) { return (n + bs - 1) / bs * bs; }

void AppendCrc32(ByteSpan covered, Bytes& out) {
  uint8_t crc[4];
  StoreLe32(crypto::Crc32Desfire(covered), crc);
  out.insert(out.end(), crc, crc + 4);
}

bool AllZero(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

// The bytes after an enciphered command's CRC (and trailer): zero padding shorter than a
// block, or with `pad80` a marker 80 and zeros, one byte to a whole block.
bool ValidPadding(const uint8_t* p, size_t n, size_t bs, bool pad80) {
  if (!pad80) return n < bs && AllZero(p, n);
  return n >= 1 && n <= bs && p[0] == kPadMarker && AllZero(p + 1, n - 1);
}

// Strips ISO/IEC 9797-1 method 2 padding; false when there is none.
bool StripPad80(Bytes& data) {
  while (!data.empty() && data.back() == 0) data.pop_back();
  if (data.empty() || data.back() != kPadMarker) return false;
  data.pop_back();
  return true;
}

}  // namespace

absl::Status SecureChannel::StartLegacy(KeyType type, ByteSpan session_key, uint8_t key_no) {
  DESFIRED_ASSIGN_OR_RETURN(BlockCipher cipher, BlockCipher::Create(type, session_key));
  Reset();
  cipher_ = std::make_unique<BlockCipher>(std::move(cipher));
  scheme_ = AuthScheme::kLegacy;
  key_no_ = key_no;
  return absl::OkStatus();
}

absl::Status SecureChannel::StartEv1(KeyType type, ByteSpan session_key, uint8_t key_no) {
  DESFIRED_ASSIGN_OR_RETURN(BlockCipher cipher, BlockCipher::Create(type, session_key));
  DESFIRED_ASSIGN_OR_RETURN(Cmac cmac, Cmac::Create(type, session_key));
  Reset();
  cipher_ = std::make_unique<BlockCipher>(std::move(cipher));
  cmac_ = std::make_unique<Cmac>(std::move(cmac));
  scheme_ = AuthScheme::kEv1;
  key_no_ = key_no;
  return absl::OkStatus();
}

absl::Status SecureChannel::StartEv2(ByteSpan enc_key, ByteSpan mac_key, ByteSpan ti,
                                     uint8_t key_no) {
  if (ti.size() != 4) return absl::InvalidArgumentError("TI must be 4 bytes");
  DESFIRED_RETURN_IF_ERROR(ContinueEv2(enc_key, mac_key, key_no));
  std::memcpy(ti_, ti.data(), 4);
  cmd_ctr_ = 0;
  return absl::OkStatus();
}

absl::Status SecureChannel::ContinueEv2(ByteSpan enc_key, ByteSpan mac_key, uint8_t key_no) {
  DESFIRED_ASSIGN_OR_RETURN(BlockCipher cipher, BlockCipher::Create(KeyType::kAes128, enc_key));
  DESFIRED_ASSIGN_OR_RETURN(Cmac cmac, Cmac::Create(KeyType::kAes128, mac_key));
  cipher_ = std::make_unique<BlockCipher>(std::move(cipher));
  cmac_ = std::make_unique<Cmac>(std::move(cmac));
  std::memset(iv_, 0, sizeof(iv_));
  lrp_mac_.reset();
  lrp_enc_.reset();
  scheme_ = AuthScheme::kEv2;
  key_no_ = key_no;
  return absl::OkStatus();
}

absl::Status SecureChannel::StartLrp(ByteSpan master_key, ByteSpan ti, uint8_t key_no,
                                     uint32_t enc_counter) {
  if (ti.size() != 4) return absl::InvalidArgumentError("TI must be 4 bytes");
  DESFIRED_RETURN_IF_ERROR(ContinueLrp(master_key, key_no));
  std::memcpy(ti_, ti.data(), 4);
  cmd_ctr_ = 0;
  for (int i = 0; i < 4; ++i) enc_ctr_[i] = static_cast<uint8_t>(enc_counter >> (24 - 8 * i));
  return absl::OkStatus();
}

absl::Status SecureChannel::ContinueLrp(ByteSpan master_key, uint8_t key_no) {
  DESFIRED_ASSIGN_OR_RETURN(crypto::LrpCmac mac, crypto::LrpCmac::Create(master_key));
  DESFIRED_ASSIGN_OR_RETURN(crypto::Lrp enc, crypto::Lrp::Create(master_key, 1));
  cipher_.reset();
  cmac_.reset();
  lrp_mac_ = std::make_unique<crypto::LrpCmac>(std::move(mac));
  lrp_enc_ = std::make_unique<crypto::Lrp>(std::move(enc));
  scheme_ = AuthScheme::kLrp;
  key_no_ = key_no;
  return absl::OkStatus();
}

absl::Status SecureChannel::Ev2Cipher(bool response, bool encrypt, MutableByteSpan data) {
  if (lrp_enc_) {
    MutableByteSpan ctr(enc_ctr_, sizeof(enc_ctr_));
    return encrypt ? lrp_enc_->LricbEncrypt(ctr, 8, data) : lrp_enc_->LricbDecrypt(ctr, 8, data);
  }
  uint8_t iv[16];
  Ev2Iv(response, iv);
  return encrypt ? cipher_->CbcEncrypt(MutableByteSpan(iv, 16), data)
                 : cipher_->CbcDecrypt(MutableByteSpan(iv, 16), data);
}

void SecureChannel::Reset() {
  scheme_ = AuthScheme::kNone;
  key_no_ = 0;
  cipher_.reset();
  cmac_.reset();
  lrp_mac_.reset();
  lrp_enc_.reset();
  std::memset(enc_ctr_, 0, sizeof(enc_ctr_));
  crypto::SecureWipe(MutableByteSpan(iv_, sizeof(iv_)));
  std::memset(ti_, 0, sizeof(ti_));
  cmd_ctr_ = 0;
}

size_t SecureChannel::WireLength(CmdProtection p, size_t plain_len) const {
  const size_t bs = block_size();
  switch (scheme_) {
    case AuthScheme::kNone:
      return plain_len;
    case AuthScheme::kLegacy:
      if (p == CmdProtection::kMac) return plain_len + kLegacyMacLength;
      if (p == CmdProtection::kFull) return RoundUp(plain_len + kCrc16Length, bs);
      if (p == CmdProtection::kFullPad80) return RoundUp(plain_len + kCrc16Length + 1, bs);
      return plain_len;
    case AuthScheme::kEv1:
      if (p == CmdProtection::kMac) return plain_len + kEv1MacLength;
      if (p == CmdProtection::kFull) return RoundUp(plain_len + kCrc32Length, bs);
      if (p == CmdProtection::kFullPad80) return RoundUp(plain_len + kCrc32Length + 1, bs);
      return plain_len;
    case AuthScheme::kEv2:
    case AuthScheme::kLrp:
      if (p == CmdProtection::kMac || p == CmdProtection::kMacEv2) {
        return plain_len + kEv2MacLength;
      }
      if (p == CmdProtection::kFull || p == CmdProtection::kFullPad80) {
        return RoundUp(plain_len + 1, bs) + kEv2MacLength;
      }
      return plain_len;
  }
  return plain_len;
}

void SecureChannel::Ev2Iv(bool response, uint8_t* iv) const {
  uint8_t in[16] = {};
  std::memcpy(in, response ? kEv2IvResponse : kEv2IvCommand, 2);
  std::memcpy(in + 2, ti_, 4);
  StoreLe16(cmd_ctr_, in + 6);
  cipher_->EncryptBlock(in, iv);
}

void SecureChannel::Ev2Mac(ByteSpan msg, uint8_t* mact) const {
  uint8_t full[16];
  if (lrp_mac_) {
    lrp_mac_->Compute(msg, full);
  } else {
    cmac_->Compute(msg, full);
  }
  crypto::TruncateMacOddBytes(full, mact);
}

void SecureChannel::LegacyMac(ByteSpan data, uint8_t* mac4) const {
  const size_t bs = block_size();
  Bytes padded(data.begin(), data.end());
  padded.resize(RoundUp(std::max<size_t>(padded.size(), 1), bs), 0);
  uint8_t iv[16] = {};
  (void)cipher_->CbcEncrypt(MutableByteSpan(iv, bs), MutableByteSpan(padded));
  std::memcpy(mac4, padded.data() + padded.size() - bs, kLegacyMacLength);
}

Sw SecureChannel::UnwrapCommand(uint8_t ins, CmdProtection p, ByteSpan header, Bytes& body,
                                std::optional<size_t> plain_len, size_t trailer_len) {
  const size_t bs = block_size();
  switch (scheme_) {
    case AuthScheme::kNone:
      return Sw::kOk;

    case AuthScheme::kLegacy: {
      if (p == CmdProtection::kMac) {
        if (body.size() < kLegacyMacLength) return Sw::kLengthError;
        const size_t n = body.size() - kLegacyMacLength;
        uint8_t mac[kLegacyMacLength];
        LegacyMac(ByteSpan(body.data(), n), mac);
        if (!crypto::ConstantTimeEquals(ByteSpan(mac, kLegacyMacLength),
                                        ByteSpan(body.data() + n, kLegacyMacLength))) {
          return Sw::kIntegrityError;
        }
        body.resize(n);
        return Sw::kOk;
      }
      if (p != CmdProtection::kFull && p != CmdProtection::kFullPad80) return Sw::kOk;
      const bool pad80 = p == CmdProtection::kFullPad80;
      const size_t max_pad = pad80 ? bs : bs - 1;
      if (body.empty() || body.size() % bs != 0) return Sw::kLengthError;
      // Host "send mode": y_i = D(x_i ^ y_{i-1}); undo with x_i = E(y_i) ^ y_{i-1}.
      uint8_t prev[16] = {};
      for (size_t off = 0; off < body.size(); off += bs) {
        uint8_t block[16];
        cipher_->EncryptBlock(body.data() + off, block);
        for (size_t i = 0; i < bs; ++i) block[i] ^= prev[i];
        std::memcpy(prev, body.data() + off, bs);
        std::memcpy(body.data() + off, block, bs);
      }
      auto check = [&](size_t n) {
        if (n + kCrc16Length + trailer_len > body.size()) return false;
        const uint16_t crc = crypto::Crc16A(ByteSpan(body.data(), n));
        if (body[n] != (crc & 0xFF) || body[n + 1] != (crc >> 8)) return false;
        const size_t pad_at = n + kCrc16Length + trailer_len;
        return ValidPadding(body.data() + pad_at, body.size() - pad_at, bs, pad80);
      };
      std::optional<size_t> found;
      if (plain_len) {
        if (check(*plain_len)) found = plain_len;
      } else if (body.size() >= kCrc16Length + trailer_len) {
        for (size_t n = body.size() - kCrc16Length - trailer_len + 1; n-- > 0;) {
          if (body.size() - n - kCrc16Length - trailer_len > max_pad) break;
          if (check(n)) {
            found = n;
            break;
          }
        }
      }
      if (!found) return Sw::kIntegrityError;
      Bytes out(body.begin(), body.begin() + static_cast<ptrdiff_t>(*found));
      out.insert(out.end(), body.begin() + static_cast<ptrdiff_t>(*found + kCrc16Length),
                 body.begin() + static_cast<ptrdiff_t>(*found + kCrc16Length + trailer_len));
      body = std::move(out);
      return Sw::kOk;
    }

    case AuthScheme::kEv1: {
      Bytes msg;
      msg.reserve(1 + header.size() + body.size());
      msg.push_back(ins);
      msg.insert(msg.end(), header.begin(), header.end());
      if (p == CmdProtection::kPlain || p == CmdProtection::kMacEv2) {
        msg.insert(msg.end(), body.begin(), body.end());
        cmac_->ComputeWithIv(iv_, msg, iv_);
        return Sw::kOk;
      }
      if (p == CmdProtection::kMac) {
        if (body.size() < kEv1MacLength) return Sw::kLengthError;
        const size_t n = body.size() - kEv1MacLength;
        msg.insert(msg.end(), body.begin(), body.begin() + static_cast<ptrdiff_t>(n));
        uint8_t mac[16];
        cmac_->ComputeWithIv(iv_, msg, mac);
        if (!crypto::ConstantTimeEquals(ByteSpan(mac, kEv1MacLength),
                                        ByteSpan(body.data() + n, kEv1MacLength))) {
          return Sw::kIntegrityError;
        }
        std::memcpy(iv_, mac, bs);
        body.resize(n);
        return Sw::kOk;
      }
      // Enciphered.
      const bool pad80 = p == CmdProtection::kFullPad80;
      const size_t max_pad = pad80 ? bs : bs - 1;
      if (body.empty() || body.size() % bs != 0) return Sw::kLengthError;
      if (!cipher_->CbcDecrypt(MutableByteSpan(iv_, bs), MutableByteSpan(body)).ok()) {
        return Sw::kLengthError;
      }
      const size_t head = msg.size();
      auto check = [&](size_t n) {
        if (n + kCrc32Length + trailer_len > body.size()) return false;
        msg.resize(head);
        msg.insert(msg.end(), body.begin(), body.begin() + static_cast<ptrdiff_t>(n));
        if (LoadLe32(body.data() + n) != crypto::Crc32Desfire(msg)) return false;
        const size_t pad_at = n + kCrc32Length + trailer_len;
        return ValidPadding(body.data() + pad_at, body.size() - pad_at, bs, pad80);
      };
      std::optional<size_t> found;
      if (plain_len) {
        if (check(*plain_len)) found = plain_len;
      } else if (body.size() >= kCrc32Length + trailer_len) {
        for (size_t n = body.size() - kCrc32Length - trailer_len + 1; n-- > 0;) {
          if (body.size() - n - kCrc32Length - trailer_len > max_pad) break;
          if (check(n)) {
            found = n;
            break;
          }
        }
      }
      if (!found) return Sw::kIntegrityError;
      Bytes out(body.begin(), body.begin() + static_cast<ptrdiff_t>(*found));
      out.insert(out.end(), body.begin() + static_cast<ptrdiff_t>(*found + kCrc32Length),
                 body.begin() + static_cast<ptrdiff_t>(*found + kCrc32Length + trailer_len));
      body = std::move(out);
      return Sw::kOk;
    }

    case AuthScheme::kEv2:
    case AuthScheme::kLrp: {
      if (p == CmdProtection::kPlain) return Sw::kOk;
      if (body.size() < kEv2MacLength) return Sw::kLengthError;
      const size_t n = body.size() - kEv2MacLength;
      Bytes msg;
      msg.reserve(7 + header.size() + n);
      msg.push_back(ins);
      msg.push_back(static_cast<uint8_t>(cmd_ctr_));
      msg.push_back(static_cast<uint8_t>(cmd_ctr_ >> 8));
      msg.insert(msg.end(), ti_, ti_ + 4);
      msg.insert(msg.end(), header.begin(), header.end());
      msg.insert(msg.end(), body.begin(), body.begin() + static_cast<ptrdiff_t>(n));
      uint8_t mact[kEv2MacLength];
      Ev2Mac(msg, mact);
      if (!crypto::ConstantTimeEquals(ByteSpan(mact, kEv2MacLength),
                                      ByteSpan(body.data() + n, kEv2MacLength))) {
        return Sw::kIntegrityError;
      }
      body.resize(n);
      if (p != CmdProtection::kFull && p != CmdProtection::kFullPad80) return Sw::kOk;
      if (body.empty() || body.size() % bs != 0) return Sw::kLengthError;
      if (!Ev2Cipher(/*response=*/false, /*encrypt=*/false, MutableByteSpan(body)).ok() ||
          !StripPad80(body)) {
        return Sw::kIntegrityError;
      }
      // MAC and padding are right: a wrong length is the command's, not the channel's.
      if (plain_len && body.size() != *plain_len + trailer_len) return Sw::kLengthError;
      return Sw::kOk;
    }
  }
  return Sw::kOk;
}

Bytes SecureChannel::WrapResponse(RespProtection p, Sw status, Bytes data) {
  const uint8_t st = static_cast<uint8_t>(status);
  const size_t bs = block_size();
  const bool full = p == RespProtection::kFull || p == RespProtection::kFullPad80 ||
                    p == RespProtection::kFullNoPad;
  switch (scheme_) {
    case AuthScheme::kNone:
      return data;

    case AuthScheme::kLegacy: {
      if (p == RespProtection::kMac) {
        uint8_t mac[kLegacyMacLength];
        LegacyMac(data, mac);
        data.insert(data.end(), mac, mac + kLegacyMacLength);
      } else if (full && !data.empty()) {
        const uint16_t crc = crypto::Crc16A(data);
        data.push_back(static_cast<uint8_t>(crc));
        data.push_back(static_cast<uint8_t>(crc >> 8));
        if (p == RespProtection::kFullPad80 && legacy_pad80_ && data.size() % bs != 0) {
          data.push_back(kPadMarker);
        }
        data.resize(RoundUp(data.size(), bs), 0);
        uint8_t iv[16] = {};
        (void)cipher_->CbcEncrypt(MutableByteSpan(iv, bs), MutableByteSpan(data));
      }
      return data;
    }

    case AuthScheme::kEv1: {
      if (!full) {
        data.push_back(st);
        cmac_->ComputeWithIv(iv_, data, iv_);
        data.back() = iv_[0];
        data.insert(data.end(), iv_ + 1, iv_ + kEv1MacLength);
        return data;
      }
      Bytes covered = data;
      covered.push_back(st);
      AppendCrc32(covered, data);
      if (p == RespProtection::kFullPad80 && data.size() % bs != 0) data.push_back(kPadMarker);
      data.resize(RoundUp(data.size(), bs), 0);
      (void)cipher_->CbcEncrypt(MutableByteSpan(iv_, bs), MutableByteSpan(data));
      return data;
    }

    case AuthScheme::kEv2:
    case AuthScheme::kLrp: {
      ++cmd_ctr_;
      if (p == RespProtection::kPlain) return data;
      if (full && !data.empty()) {
        if (p != RespProtection::kFullNoPad || data.size() % bs != 0) {
          data.push_back(kPadMarker);
          data.resize(RoundUp(data.size(), bs), 0);
        }
        (void)Ev2Cipher(/*response=*/true, /*encrypt=*/true, MutableByteSpan(data));
      }
      Bytes msg;
      msg.reserve(7 + data.size());
      msg.push_back(st);
      msg.push_back(static_cast<uint8_t>(cmd_ctr_));
      msg.push_back(static_cast<uint8_t>(cmd_ctr_ >> 8));
      msg.insert(msg.end(), ti_, ti_ + 4);
      msg.insert(msg.end(), data.begin(), data.end());
      uint8_t mact[kEv2MacLength];
      Ev2Mac(msg, mact);
      data.insert(data.end(), mact, mact + kEv2MacLength);
      return data;
    }
  }
  return data;
}

Bytes SecureChannel::CrcOfKey(ByteSpan key) const {
  Bytes out;
  if (scheme_ == AuthScheme::kLegacy) {
    const uint16_t crc = crypto::Crc16A(key);
    out = {static_cast<uint8_t>(crc), static_cast<uint8_t>(crc >> 8)};
  } else {
    AppendCrc32(key, out);
  }
  return out;
}

}  // namespace desfired::sim
