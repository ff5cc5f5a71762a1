#include "core/desfire/session.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/apdu/status_payload.h"
#include "core/crypto/crc.h"
#include "core/crypto/random.h"
#include "core/desfire/session_keys.h"
#include "core/desfire/status.h"
#include "core/util/status_macros.h"

namespace desfired::desfire {
namespace {

using crypto::KeyType;

constexpr size_t kEv1MacLength = 8;     // CMAC truncated to 8 bytes
constexpr size_t kLegacyMacLength = 4;  // DES/3DES CBC-MAC truncated to 4 bytes
constexpr size_t kEv2MacLength = 8;     // odd bytes of the CMAC
constexpr size_t kAesBlock = 16;
constexpr uint8_t kIsoPadMarker = 0x80;       // ISO/IEC 9797-1 padding method 2
constexpr uint8_t kNoPcdCapabilities = 0x00;  // EV2First LenCap: no PCDcap2 sent
constexpr uint8_t kKeyNumberMask = 0x0F;      // key number without PICC key-type bits
constexpr size_t kEv2TiLength = 4;
constexpr size_t kEv2AuthReplyLength = 32;  // TI ‖ RndA' ‖ PDcap2 ‖ PCDcap2
// Labels of the EV2 IV inputs: A5 5A for commands, 5A A5 for responses.
constexpr uint8_t kEv2IvCommand[2] = {0xA5, 0x5A};
constexpr uint8_t kEv2IvResponse[2] = {0x5A, 0xA5};

void AppendLe16(Bytes& out, uint32_t v) {
  out.push_back(static_cast<uint8_t>(v));
  out.push_back(static_cast<uint8_t>(v >> 8));
}
void AppendLe32(Bytes& out, uint32_t v) {
  AppendLe16(out, v);
  AppendLe16(out, v >> 16);
}
void PadZeros(Bytes& b, size_t block) {
  while (b.empty() || b.size() % block != 0) b.push_back(0);
}
void PadIso(Bytes& b, size_t block) {
  b.push_back(kIsoPadMarker);
  while (b.size() % block != 0) b.push_back(0);
}
void Wipe(Bytes& b) {
  crypto::SecureWipe(absl::MakeSpan(b));
  b.clear();
}
bool AllZero(ByteSpan b) {
  return std::all_of(b.begin(), b.end(), [](uint8_t x) { return x == 0; });
}
bool IsIsoPadding(ByteSpan b) {
  return !b.empty() && b[0] == kIsoPadMarker && AllZero(b.subspan(1));
}

absl::Status NotAuthenticated(absl::string_view what) {
  return apdu::WithReason(
      absl::FailedPreconditionError(absl::StrCat(what, " needs an authenticated session")),
      kReasonNotAuthenticated);
}

// A DES key is sent to the card as K ‖ K (it is stored as 2K3DES with equal halves).
Bytes ExpandKey(KeyType type, ByteSpan key) {
  Bytes out(key.begin(), key.end());
  if (type == KeyType::kDes) out.insert(out.end(), key.begin(), key.end());
  return out;
}

}  // namespace

Session::Session(Channel& channel, RandomSource random)
    : channel_(channel), random_(random ? std::move(random) : RandomSource(crypto::RandomBytes)) {}

Session::~Session() { Invalidate(); }

void Session::Invalidate() {
  scheme_ = AuthScheme::kNone;
  cmac_.reset();
  enc_.reset();
  lrp_.reset();
  crypto::SecureWipe(absl::MakeSpan(iv_));
  crypto::SecureWipe(absl::MakeSpan(ti_));
  cmd_ctr_ = 0;
}

absl::Status Session::Authenticate(AuthScheme scheme, uint8_t key_no, KeyType type, ByteSpan key) {
  Invalidate();
  if (key.size() != crypto::KeyLength(type)) {
    return absl::InvalidArgumentError(absl::StrFormat("%s key must be %d bytes, got %d",
                                                      crypto::KeyTypeName(type),
                                                      crypto::KeyLength(type), key.size()));
  }
  // A 2K3DES key with equal halves is a DES key to the card (vectors file §1.3b, a real card).
  if (type == KeyType::k2Tdea && std::equal(key.begin(), key.begin() + 8, key.begin() + 8)) {
    type = KeyType::kDes;
    key = key.subspan(0, 8);
  }
  if (scheme == AuthScheme::kLrp && type == KeyType::kAes128) {
    return AuthenticateLrp(/*first=*/true, key_no, key);  // on the key's value (session.h)
  }
  DESFIRED_ASSIGN_OR_RETURN(crypto::BlockCipher cipher, crypto::BlockCipher::Create(type, key));
  return Authenticate(scheme, key_no, crypto::LocalKeyCipher(std::move(cipher)));
}

absl::Status Session::Authenticate(AuthScheme scheme, uint8_t key_no,
                                   const crypto::KeyCipher& key) {
  Invalidate();
  const KeyType type = key.type();
  switch (scheme) {
    case AuthScheme::kLegacy:
      if (type != KeyType::kDes && type != KeyType::k2Tdea) break;
      return AuthenticateLegacy(key_no, key);
    case AuthScheme::kIso:
      if (type == KeyType::kAes128) break;
      return AuthenticateIsoOrAes(scheme, key_no, key);
    case AuthScheme::kAes:
      if (type != KeyType::kAes128) break;
      return AuthenticateIsoOrAes(scheme, key_no, key);
    case AuthScheme::kEv2:
      if (type != KeyType::kAes128) break;
      return AuthenticateEv2First(key_no, key);
    case AuthScheme::kLrp:
      if (type != KeyType::kAes128) break;
      return absl::InvalidArgumentError(
          "LRP authentication needs the key's value on the host: a key in a PKCS#11 token "
          "cannot be used with LRP");
    case AuthScheme::kNone:
      return absl::InvalidArgumentError("no authentication scheme given");
  }
  return absl::InvalidArgumentError(absl::StrFormat(
      "key type %s cannot be used with this authentication command", crypto::KeyTypeName(type)));
}

absl::Status Session::AuthenticateIsoOrAes(AuthScheme scheme, uint8_t key_no,
                                           const crypto::KeyCipher& cipher) {
  const KeyType type = cipher.type();
  const size_t bs = cipher.block_size();
  const size_t n = RandomLength(type);
  const TransceiveOptions options{.fetch_additional_frames = false, .redact = true};
  const Ins ins = scheme == AuthScheme::kAes ? Ins::kAuthenticateAes : Ins::kAuthenticateIso;
  const uint8_t key_byte[1] = {key_no};
  DESFIRED_ASSIGN_OR_RETURN(NativeResponse first, channel_.Transceive(ins, key_byte, options));
  if (first.status != ToByte(DesfireStatus::kAdditionalFrame) || first.data.size() != n) {
    return apdu::ProtocolError(absl::StrFormat(
        "authentication: expected %d-byte ek(RndB) with 91 AF, got %d bytes, status %02X", n,
        first.data.size(), first.status));
  }
  // One CBC chain across the exchange, starting from a zero IV.
  std::array<uint8_t, 16> iv = {};
  MutableByteSpan chain(iv.data(), bs);
  Bytes rnd_b = std::move(first.data);
  DESFIRED_RETURN_IF_ERROR(cipher.CbcDecrypt(chain, absl::MakeSpan(rnd_b)));
  Bytes rnd_a(n);
  DESFIRED_RETURN_IF_ERROR(random_(absl::MakeSpan(rnd_a)));
  // The card's answer ek(RndA') continues the same chain, so one CBC over RndA ‖ RndB' ‖ RndA'
  // gives both what is sent and the answer to expect (one cipher call fewer: a token key's
  // calls are the slow part). Comparing ciphertexts under the same chain is comparing RndA'.
  Bytes token = rnd_a;
  Bytes rotated_b = RotateLeft(rnd_b);
  Bytes rotated_a = RotateLeft(rnd_a);
  token.insert(token.end(), rotated_b.begin(), rotated_b.end());
  token.insert(token.end(), rotated_a.begin(), rotated_a.end());
  Wipe(rotated_b);
  Wipe(rotated_a);
  absl::Status result = cipher.CbcEncrypt(chain, absl::MakeSpan(token));
  const ByteSpan expected = ByteSpan(token).subspan(2 * n);
  absl::StatusOr<NativeResponse> second = absl::UnknownError("not sent");
  if (result.ok()) {
    second = channel_.Transceive(Ins::kAdditionalFrame, ByteSpan(token).first(2 * n), options);
    result = second.status();
  }
  if (result.ok() && second->data.size() != n) {
    result = apdu::ProtocolError(absl::StrFormat(
        "authentication: expected %d-byte ek(RndA'), got %d", n, second->data.size()));
  }
  if (result.ok() && !crypto::ConstantTimeEquals(second->data, expected)) {
    result = AuthenticationFailedError("the card's RndA' does not match RndA");
  }
  Wipe(token);
  if (result.ok()) result = StartEv1Session(scheme, key_no, type, rnd_a, rnd_b);
  Wipe(rnd_a);
  Wipe(rnd_b);
  return result;
}

absl::Status Session::AuthenticateLegacy(uint8_t key_no, const crypto::KeyCipher& cipher) {
  const KeyType type = cipher.type();
  constexpr size_t n = 8;
  const TransceiveOptions options{.fetch_additional_frames = false, .redact = true};
  const uint8_t key_byte[1] = {key_no};
  DESFIRED_ASSIGN_OR_RETURN(NativeResponse first,
                            channel_.Transceive(Ins::kAuthenticateLegacy, key_byte, options));
  if (first.status != ToByte(DesfireStatus::kAdditionalFrame) || first.data.size() != n) {
    return apdu::ProtocolError(absl::StrFormat(
        "legacy authentication: expected 8-byte ek(RndB) with 91 AF, got %d bytes, status %02X",
        first.data.size(), first.status));
  }
  Bytes rnd_b(n);
  Bytes rnd_a(n);
  // "Decipher-send" mode: c1 = D(RndA), c2 = D(RndB' ⊕ c1), IV zero per message.
  Bytes token(2 * n);
  absl::Status result = cipher.DecryptBlocks(first.data.data(), rnd_b.data(), 1);
  if (result.ok()) result = random_(absl::MakeSpan(rnd_a));
  if (result.ok()) result = cipher.DecryptBlocks(rnd_a.data(), token.data(), 1);
  Bytes rotated_b = RotateLeft(rnd_b);
  for (size_t i = 0; i < n; ++i) rotated_b[i] ^= token[i];
  if (result.ok()) result = cipher.DecryptBlocks(rotated_b.data(), token.data() + n, 1);
  Wipe(rotated_b);
  if (!result.ok()) {
    Wipe(rnd_a);
    Wipe(rnd_b);
    return result;
  }
  absl::StatusOr<NativeResponse> second =
      channel_.Transceive(Ins::kAdditionalFrame, token, options);
  result = second.status();
  if (result.ok() && second->data.size() != n) {
    result = apdu::ProtocolError(absl::StrFormat(
        "legacy authentication: expected 8-byte ek(RndA'), got %d", second->data.size()));
  }
  if (result.ok()) {
    Bytes reply(n);
    result = cipher.DecryptBlocks(second->data.data(), reply.data(), 1);
    Bytes expected = RotateLeft(rnd_a);
    if (result.ok() && !crypto::ConstantTimeEquals(reply, expected)) {
      result = AuthenticationFailedError("the card's RndA' does not match RndA");
    }
    Wipe(reply);
    Wipe(expected);
  }
  if (result.ok()) result = StartEv1Session(AuthScheme::kLegacy, key_no, type, rnd_a, rnd_b);
  Wipe(rnd_a);
  Wipe(rnd_b);
  return result;
}

absl::Status Session::StartEv1Session(AuthScheme scheme, uint8_t key_no, KeyType type,
                                      ByteSpan rnd_a, ByteSpan rnd_b) {
  DESFIRED_ASSIGN_OR_RETURN(Bytes session_key, DeriveEv1SessionKey(type, rnd_a, rnd_b));
  absl::Status result;
  if (scheme == AuthScheme::kLegacy) {
    absl::StatusOr<crypto::BlockCipher> cipher = crypto::BlockCipher::Create(type, session_key);
    if (cipher.ok()) enc_.emplace(*std::move(cipher));
    result = cipher.status();
  } else {
    absl::StatusOr<crypto::Cmac> cmac = crypto::Cmac::Create(type, session_key);
    if (cmac.ok()) cmac_.emplace(*std::move(cmac));
    result = cmac.status();
  }
  Wipe(session_key);
  if (!result.ok()) return result;
  iv_.fill(0);
  session_type_ = type;
  key_no_ = key_no;
  scheme_ = scheme;
  return absl::OkStatus();
}

absl::Status Session::AuthenticateEv2First(uint8_t key_no, const crypto::KeyCipher& cipher) {
  const TransceiveOptions options{.fetch_additional_frames = false, .redact = true};
  const uint8_t params[2] = {key_no, kNoPcdCapabilities};
  DESFIRED_ASSIGN_OR_RETURN(NativeResponse first,
                            channel_.Transceive(Ins::kAuthenticateEv2First, params, options));
  if (first.status != ToByte(DesfireStatus::kAdditionalFrame) || first.data.size() != kAesBlock) {
    return apdu::ProtocolError(absl::StrFormat(
        "EV2 authentication: expected 16-byte ek(RndB) with 91 AF, got %d bytes, status %02X",
        first.data.size(), first.status));
  }
  // EV2 starts every message of the exchange from a zero IV.
  std::array<uint8_t, 16> iv = {};
  Bytes rnd_b = std::move(first.data);
  DESFIRED_RETURN_IF_ERROR(cipher.CbcDecrypt(absl::MakeSpan(iv), absl::MakeSpan(rnd_b)));
  Bytes rnd_a(kAesBlock);
  DESFIRED_RETURN_IF_ERROR(random_(absl::MakeSpan(rnd_a)));
  Bytes token = rnd_a;
  Bytes rotated_b = RotateLeft(rnd_b);
  token.insert(token.end(), rotated_b.begin(), rotated_b.end());
  Wipe(rotated_b);
  iv.fill(0);
  DESFIRED_RETURN_IF_ERROR(cipher.CbcEncrypt(absl::MakeSpan(iv), absl::MakeSpan(token)));
  absl::StatusOr<NativeResponse> second =
      channel_.Transceive(Ins::kAdditionalFrame, token, options);
  absl::Status result = second.status();
  if (result.ok() && second->data.size() != kEv2AuthReplyLength) {
    result = apdu::ProtocolError(absl::StrFormat(
        "EV2 authentication: expected a 32-byte reply, got %d", second->data.size()));
  }
  Bytes reply;
  if (result.ok()) {
    reply = std::move(second->data);
    iv.fill(0);
    result = cipher.CbcDecrypt(absl::MakeSpan(iv), absl::MakeSpan(reply));
    Bytes expected = RotateLeft(rnd_a);
    if (result.ok() &&
        !crypto::ConstantTimeEquals(ByteSpan(reply).subspan(kEv2TiLength, kAesBlock), expected)) {
      result = AuthenticationFailedError("the card's RndA' does not match RndA");
    }
    Wipe(expected);
  }
  if (result.ok()) result = StartEv2Keys(cipher, rnd_a, rnd_b);
  if (result.ok()) {
    std::copy_n(reply.begin(), kEv2TiLength, ti_.begin());
    cmd_ctr_ = 0;
    key_no_ = key_no;
    scheme_ = AuthScheme::kEv2;
  }
  Wipe(reply);
  Wipe(rnd_a);
  Wipe(rnd_b);
  return result;
}

absl::Status Session::StartEv2Keys(const crypto::KeyCipher& key, ByteSpan rnd_a, ByteSpan rnd_b) {
  DESFIRED_ASSIGN_OR_RETURN(Ev2SessionKeys keys, DeriveEv2SessionKeys(key, rnd_a, rnd_b));
  absl::StatusOr<crypto::BlockCipher> enc = crypto::BlockCipher::Create(KeyType::kAes128, keys.enc);
  absl::StatusOr<crypto::Cmac> mac = crypto::Cmac::Create(KeyType::kAes128, keys.mac);
  Wipe(keys.enc);
  Wipe(keys.mac);
  if (!enc.ok()) return enc.status();
  if (!mac.ok()) return mac.status();
  enc_.emplace(*std::move(enc));
  cmac_.emplace(*std::move(mac));
  session_type_ = KeyType::kAes128;
  return absl::OkStatus();
}

absl::Status Session::AuthenticateEv2NonFirst(uint8_t key_no, ByteSpan key) {
  if (scheme_ != AuthScheme::kEv2) return NotAuthenticated("AuthenticateEV2NonFirst");
  absl::StatusOr<crypto::BlockCipher> cipher = crypto::BlockCipher::Create(KeyType::kAes128, key);
  if (!cipher.ok()) {
    Invalidate();
    return cipher.status();
  }
  return AuthenticateEv2NonFirst(key_no, crypto::LocalKeyCipher(*std::move(cipher)));
}

absl::Status Session::AuthenticateEv2NonFirst(uint8_t key_no, const crypto::KeyCipher& cipher) {
  if (scheme_ != AuthScheme::kEv2) return NotAuthenticated("AuthenticateEV2NonFirst");
  absl::Status result = [&]() -> absl::Status {
    if (cipher.type() != KeyType::kAes128) {
      return absl::InvalidArgumentError("EV2 authentication needs an AES-128 key");
    }
    const TransceiveOptions options{.fetch_additional_frames = false, .redact = true};
    const uint8_t params[1] = {key_no};
    DESFIRED_ASSIGN_OR_RETURN(NativeResponse first,
                              channel_.Transceive(Ins::kAuthenticateEv2NonFirst, params, options));
    if (first.status != ToByte(DesfireStatus::kAdditionalFrame) || first.data.size() != kAesBlock) {
      return apdu::ProtocolError(absl::StrFormat(
          "EV2 non-first authentication: expected 16-byte ek(RndB) with 91 AF, got %d bytes, "
          "status %02X",
          first.data.size(), first.status));
    }
    std::array<uint8_t, 16> iv = {};
    Bytes rnd_b = std::move(first.data);
    Bytes rnd_a(kAesBlock);
    absl::Status s = cipher.CbcDecrypt(absl::MakeSpan(iv), absl::MakeSpan(rnd_b));
    if (s.ok()) s = random_(absl::MakeSpan(rnd_a));
    Bytes token = rnd_a;
    Bytes rotated_b = RotateLeft(rnd_b);
    token.insert(token.end(), rotated_b.begin(), rotated_b.end());
    Wipe(rotated_b);
    iv.fill(0);
    if (s.ok()) s = cipher.CbcEncrypt(absl::MakeSpan(iv), absl::MakeSpan(token));
    absl::StatusOr<NativeResponse> second;
    if (s.ok()) {
      second = channel_.Transceive(Ins::kAdditionalFrame, token, options);
      s = second.status();
    }
    if (s.ok() && second->data.size() != kAesBlock) {
      s = apdu::ProtocolError(absl::StrFormat(
          "EV2 non-first authentication: expected a 16-byte reply, got %d", second->data.size()));
    }
    if (s.ok()) {
      Bytes reply = std::move(second->data);
      iv.fill(0);
      s = cipher.CbcDecrypt(absl::MakeSpan(iv), absl::MakeSpan(reply));
      Bytes expected = RotateLeft(rnd_a);
      if (s.ok() && !crypto::ConstantTimeEquals(reply, expected)) {
        s = AuthenticationFailedError("the card's RndA' does not match RndA");
      }
      Wipe(reply);
      Wipe(expected);
    }
    if (s.ok()) s = StartEv2Keys(cipher, rnd_a, rnd_b);
    Wipe(token);
    Wipe(rnd_a);
    Wipe(rnd_b);
    return s;
  }();
  if (!result.ok()) {
    Invalidate();
    return result;
  }
  key_no_ = key_no;  // TI and the command counter carry on
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------
// Secure messaging.

absl::Status Session::EncipherEv1(Bytes& plain) {
  const size_t bs = cmac_->block_size();
  PadZeros(plain, bs);
  return cmac_->cipher().CbcEncrypt(MutableByteSpan(iv_.data(), bs), absl::MakeSpan(plain));
}

void Session::EncipherLegacy(Bytes& plain) const {
  const size_t bs = enc_->block_size();
  PadZeros(plain, bs);
  std::array<uint8_t, 8> prev = {};
  for (size_t off = 0; off < plain.size(); off += bs) {
    for (size_t i = 0; i < bs; ++i) plain[off + i] ^= prev[i];
    enc_->DecryptBlock(plain.data() + off, plain.data() + off);
    std::copy_n(plain.begin() + static_cast<std::ptrdiff_t>(off), bs, prev.begin());
  }
}

Bytes Session::LegacyMac(ByteSpan data) const {
  Bytes buffer(data.begin(), data.end());
  const size_t bs = enc_->block_size();
  PadZeros(buffer, bs);
  std::array<uint8_t, 8> iv = {};
  // Cannot fail: the buffer is a whole number of blocks and the IV has block size.
  (void)enc_->CbcEncrypt(MutableByteSpan(iv.data(), bs), absl::MakeSpan(buffer));
  Bytes mac(buffer.end() - static_cast<std::ptrdiff_t>(bs),
            buffer.end() - static_cast<std::ptrdiff_t>(bs - kLegacyMacLength));
  Wipe(buffer);
  return mac;
}

Bytes Session::Ev2Mac(uint8_t first, uint16_t counter, ByteSpan rest) const {
  Bytes message;
  message.reserve(1 + 2 + kEv2TiLength + rest.size());
  message.push_back(first);
  AppendLe16(message, counter);
  message.insert(message.end(), ti_.begin(), ti_.end());
  message.insert(message.end(), rest.begin(), rest.end());
  uint8_t full[16];
  if (lrp_.has_value()) {
    lrp_->Mac(message, full);
  } else {
    cmac_->Compute(message, full);
  }
  Bytes mac(kEv2MacLength);
  crypto::TruncateMacOddBytes(full, mac.data());
  return mac;
}

absl::Status Session::EncipherEv2(Bytes& plain) {
  if (lrp_.has_value()) return lrp_->Encrypt(plain);  // pads 80 00.. itself
  PadIso(plain, kAesBlock);
  std::array<uint8_t, 16> iv = Ev2Iv(/*command=*/true, cmd_ctr_);
  return enc_->CbcEncrypt(absl::MakeSpan(iv), absl::MakeSpan(plain));
}

std::array<uint8_t, 16> Session::Ev2Iv(bool command, uint16_t counter) const {
  std::array<uint8_t, 16> block = {};
  const uint8_t* label = command ? kEv2IvCommand : kEv2IvResponse;
  block[0] = label[0];
  block[1] = label[1];
  std::copy(ti_.begin(), ti_.end(), block.begin() + 2);
  block[6] = static_cast<uint8_t>(counter);
  block[7] = static_cast<uint8_t>(counter >> 8);
  enc_->EncryptBlock(block.data(), block.data());
  return block;
}

absl::StatusOr<Bytes> Session::ProtectCommand(const Command& command) {
  Bytes payload = command.header;
  const bool encipher = command.command_mode == CommMode::kFull && !command.data.empty();
  switch (scheme_) {
    case AuthScheme::kNone:
      if (command.command_mode != CommMode::kPlain || command.response_mode != CommMode::kPlain) {
        return NotAuthenticated("a MACed or enciphered command");
      }
      payload.insert(payload.end(), command.data.begin(), command.data.end());
      return payload;
    case AuthScheme::kLegacy: {
      if (encipher) {
        Bytes plain = command.data;
        AppendLe16(plain, crypto::Crc16A(command.data));
        EncipherLegacy(plain);
        payload.insert(payload.end(), plain.begin(), plain.end());
        return payload;
      }
      payload.insert(payload.end(), command.data.begin(), command.data.end());
      if (command.command_mode == CommMode::kMac) {
        Bytes mac = LegacyMac(command.data);
        payload.insert(payload.end(), mac.begin(), mac.end());
      }
      return payload;
    }
    case AuthScheme::kIso:
    case AuthScheme::kAes: {
      Bytes message;
      message.push_back(ToByte(command.ins));
      message.insert(message.end(), command.header.begin(), command.header.end());
      message.insert(message.end(), command.data.begin(), command.data.end());
      if (encipher) {
        Bytes plain = command.data;
        AppendLe32(plain, crypto::Crc32Desfire(message));
        DESFIRED_RETURN_IF_ERROR(EncipherEv1(plain));
        payload.insert(payload.end(), plain.begin(), plain.end());
        return payload;
      }
      // Every command advances the IV register, even when its MAC is not sent.
      cmac_->ComputeWithIv(iv_.data(), message, iv_.data());
      payload.insert(payload.end(), command.data.begin(), command.data.end());
      if (command.command_mode == CommMode::kMac) {
        payload.insert(payload.end(), iv_.begin(), iv_.begin() + kEv1MacLength);
      }
      return payload;
    }
    case AuthScheme::kEv2:
    case AuthScheme::kLrp: {
      if (encipher) {
        Bytes plain = command.data;
        DESFIRED_RETURN_IF_ERROR(EncipherEv2(plain));
        payload.insert(payload.end(), plain.begin(), plain.end());
      } else {
        payload.insert(payload.end(), command.data.begin(), command.data.end());
      }
      if (command.command_mode != CommMode::kPlain) {
        Bytes mac = Ev2Mac(ToByte(command.ins), cmd_ctr_, payload);
        payload.insert(payload.end(), mac.begin(), mac.end());
      }
      return payload;
    }
  }
  return absl::InternalError("unknown authentication scheme");
}

absl::StatusOr<Bytes> Session::Execute(const Command& command) {
  switch (command.ins) {
    case Ins::kSelectApplication:
      Invalidate();  // selecting ends the session; the reply carries no MAC
      break;
    case Ins::kAuthenticateLegacy:
    case Ins::kAuthenticateIso:
    case Ins::kAuthenticateAes:
    case Ins::kAuthenticateEv2First:
    case Ins::kAuthenticateEv2NonFirst:
    case Ins::kAdditionalFrame:
    case Ins::kChangeKey:
      return absl::InvalidArgumentError(
          "use Authenticate() / ChangeKey(); Execute() does not send this command");
    default:
      break;
  }
  DESFIRED_ASSIGN_OR_RETURN(Bytes payload, ProtectCommand(command));
  return SendAndCheck(command, payload, command.ends_session);
}

absl::StatusOr<Bytes> Session::SendAndCheck(const Command& command, ByteSpan payload,
                                            bool ends_session) {
  absl::StatusOr<NativeResponse> response = channel_.Transceive(command.ins, payload);
  if (!response.ok()) {
    last_frame_sizes_.clear();
    Invalidate();  // the card drops its session on any error; so do we
    return response.status();
  }
  last_frame_sizes_ = std::move(response->frame_sizes);
  if (ends_session) {
    Invalidate();
    if (!response->data.empty()) {
      return apdu::ProtocolError("unexpected data after changing the authenticated key");
    }
    return Bytes();
  }
  absl::StatusOr<Bytes> result;
  switch (scheme_) {
    case AuthScheme::kNone:
      return std::move(response->data);
    case AuthScheme::kLegacy:
      result = CheckLegacyResponse(command, std::move(response->data));
      break;
    case AuthScheme::kIso:
    case AuthScheme::kAes:
      result = CheckEv1Response(command, response->status, std::move(response->data));
      break;
    case AuthScheme::kEv2:
    case AuthScheme::kLrp:
      result = CheckEv2Response(command, response->status, std::move(response->data));
      break;
  }
  if (!result.ok()) Invalidate();
  return result;
}

namespace {

// Finds the plaintext length of a deciphered EV1/legacy response: data ‖ CRC ‖ padding.
// `crc_ok(length)` checks the CRC that follows `length` data bytes.
template <typename CrcOk>
absl::StatusOr<size_t> FindPlainLength(ByteSpan plain, size_t crc_size, size_t block,
                                       std::optional<size_t> expected, bool allow_iso_padding,
                                       CrcOk crc_ok) {
  const size_t n = plain.size();
  if (expected.has_value()) {
    const size_t len = *expected;
    if (len + crc_size > n || n - len - crc_size >= block ||
        !AllZero(plain.subspan(len + crc_size)) || !crc_ok(len)) {
      return IntegrityError("deciphered response: bad CRC or padding");
    }
    return len;
  }
  // Largest padding first: with zero padding, data ‖ CRC ‖ 00.. also "verifies" at every
  // longer length (a CRC without final xor over data ‖ CRC is 0, and stays 0 over zeros), so
  // the shortest length that verifies is the real one.
  for (size_t pad = std::min(block, n - crc_size) + 1; pad-- > 0;) {
    const size_t len = n - crc_size - pad;
    ByteSpan padding = plain.subspan(len + crc_size);
    const bool padding_ok =
        (pad < block && AllZero(padding)) || (allow_iso_padding && IsIsoPadding(padding));
    if (padding_ok && crc_ok(len)) return len;
  }
  return IntegrityError("deciphered response: no valid CRC and padding");
}

}  // namespace

absl::StatusOr<Bytes> Session::CheckEv1Response(const Command& command, uint8_t status,
                                                Bytes data) {
  const size_t bs = cmac_->block_size();
  if (command.response_mode == CommMode::kFull) {
    if (data.empty() || data.size() % bs != 0) {
      return IntegrityError(absl::StrFormat(
          "enciphered response of %d bytes is not a whole number of blocks", data.size()));
    }
    DESFIRED_RETURN_IF_ERROR(
        cmac_->cipher().CbcDecrypt(MutableByteSpan(iv_.data(), bs), absl::MakeSpan(data)));
    const uint8_t status_byte[1] = {status};
    DESFIRED_ASSIGN_OR_RETURN(
        size_t len, FindPlainLength(data, 4, bs, command.response_length,
                                    /*allow_iso_padding=*/true, [&](size_t l) {
                                      const uint32_t crc = crypto::Crc32Desfire(
                                          status_byte,
                                          crypto::Crc32Desfire(ByteSpan(data).subspan(0, l)));
                                      return LoadLe32(data.data() + l) == crc;
                                    }));
    crypto::SecureWipe(absl::MakeSpan(data).subspan(len));
    data.resize(len);
    return data;
  }
  if (data.size() < kEv1MacLength) {
    return IntegrityError("response CMAC missing");
  }
  Bytes message(data.begin(), data.end() - kEv1MacLength);
  message.push_back(status);
  cmac_->ComputeWithIv(iv_.data(), message, iv_.data());
  if (!crypto::ConstantTimeEquals(ByteSpan(iv_.data(), kEv1MacLength),
                                  ByteSpan(data).subspan(data.size() - kEv1MacLength))) {
    return IntegrityError("response CMAC does not verify");
  }
  data.resize(data.size() - kEv1MacLength);
  return data;
}

absl::StatusOr<Bytes> Session::CheckLegacyResponse(const Command& command, Bytes data) {
  const size_t bs = enc_->block_size();
  switch (command.response_mode) {
    case CommMode::kPlain:
      return data;
    case CommMode::kMac: {
      if (data.size() < kLegacyMacLength) return IntegrityError("response MAC missing");
      ByteSpan body = ByteSpan(data).subspan(0, data.size() - kLegacyMacLength);
      Bytes mac = LegacyMac(body);
      if (!crypto::ConstantTimeEquals(mac, ByteSpan(data).subspan(body.size()))) {
        return IntegrityError("response MAC does not verify");
      }
      data.resize(body.size());
      return data;
    }
    case CommMode::kFull: {
      if (data.empty() || data.size() % bs != 0) {
        return IntegrityError("enciphered response is not a whole number of blocks");
      }
      std::array<uint8_t, 8> iv = {};
      DESFIRED_RETURN_IF_ERROR(
          enc_->CbcDecrypt(MutableByteSpan(iv.data(), bs), absl::MakeSpan(data)));
      // Whole-file reads: some cards pad data ‖ CRC16 with 00.., others with 80 00.. (as EV1
      // sessions do); both are accepted, as libfreefare's legacy decoder does.
      DESFIRED_ASSIGN_OR_RETURN(
          size_t len, FindPlainLength(data, 2, bs, command.response_length,
                                      /*allow_iso_padding=*/true, [&](size_t l) {
                                        return LoadLe16(data.data() + l) ==
                                               crypto::Crc16A(ByteSpan(data).subspan(0, l));
                                      }));
      crypto::SecureWipe(absl::MakeSpan(data).subspan(len));
      data.resize(len);
      return data;
    }
  }
  return absl::InternalError("unknown communication mode");
}

absl::StatusOr<Bytes> Session::CheckEv2Response(const Command& command, uint8_t status,
                                                Bytes data) {
  const uint16_t next = static_cast<uint16_t>(cmd_ctr_ + 1);
  if (command.response_mode == CommMode::kPlain) {
    cmd_ctr_ = next;
    return data;
  }
  if (data.size() < kEv2MacLength) return IntegrityError("response MAC missing");
  ByteSpan body = ByteSpan(data).subspan(0, data.size() - kEv2MacLength);
  Bytes mac = Ev2Mac(status, next, body);
  if (!crypto::ConstantTimeEquals(mac, ByteSpan(data).subspan(body.size()))) {
    return IntegrityError("response MAC does not verify");
  }
  cmd_ctr_ = next;
  data.resize(body.size());
  if (command.response_mode != CommMode::kFull) return data;
  if (lrp_.has_value()) {
    DESFIRED_RETURN_IF_ERROR(lrp_->Decrypt(absl::MakeSpan(data)));
  } else {
    if (data.empty() || data.size() % kAesBlock != 0) {
      return IntegrityError("enciphered response is not a whole number of blocks");
    }
    std::array<uint8_t, 16> iv = Ev2Iv(/*command=*/false, next);
    DESFIRED_RETURN_IF_ERROR(enc_->CbcDecrypt(absl::MakeSpan(iv), absl::MakeSpan(data)));
  }
  // A reply whose fixed length is a whole number of blocks may come without padding
  // (CommitReaderID's 16-byte TMRI, AN12343 p. 64).
  if (command.response_length.has_value() && *command.response_length == data.size()) {
    return data;
  }
  DESFIRED_RETURN_IF_ERROR(StripIsoPadding(data, command.response_length));
  return data;
}

absl::Status Session::ChangeKey(uint8_t key_no, KeyType new_type, ByteSpan new_key,
                                uint8_t aes_version, ByteSpan old_key) {
  if (!authenticated()) return NotAuthenticated("ChangeKey");
  if (new_key.size() != crypto::KeyLength(new_type)) {
    return absl::InvalidArgumentError("new key length does not match its type");
  }
  const bool same = (key_no & kKeyNumberMask) == (key_no_ & kKeyNumberMask);
  Bytes new_expanded = ExpandKey(new_type, new_key);
  Bytes cryptogram = new_expanded;
  if (!same) {
    // The old key has the same type as the new one (only the PICC master key changes type,
    // and it is always the authenticated key).
    Bytes old_expanded = ExpandKey(new_type, old_key);
    if (old_key.size() != new_key.size()) {
      Wipe(new_expanded);
      Wipe(cryptogram);
      return absl::InvalidArgumentError("old key length does not match the new key's type");
    }
    for (size_t i = 0; i < cryptogram.size(); ++i) cryptogram[i] ^= old_expanded[i];
    Wipe(old_expanded);
  }
  if (new_type == KeyType::kAes128) cryptogram.push_back(aes_version);

  Command command;
  command.ins = Ins::kChangeKey;
  command.header = {key_no};
  Bytes payload = command.header;
  absl::Status status;
  switch (scheme_) {
    case AuthScheme::kLegacy:
      AppendLe16(cryptogram, crypto::Crc16A(cryptogram));
      if (!same) AppendLe16(cryptogram, crypto::Crc16A(new_expanded));
      EncipherLegacy(cryptogram);
      break;
    case AuthScheme::kIso:
    case AuthScheme::kAes: {
      Bytes message = {ToByte(Ins::kChangeKey), key_no};
      message.insert(message.end(), cryptogram.begin(), cryptogram.end());
      AppendLe32(cryptogram, crypto::Crc32Desfire(message));
      Wipe(message);
      if (!same) AppendLe32(cryptogram, crypto::Crc32Desfire(new_expanded));
      status = EncipherEv1(cryptogram);
      break;
    }
    case AuthScheme::kEv2:
    case AuthScheme::kLrp:
      if (!same) AppendLe32(cryptogram, crypto::Crc32Desfire(new_expanded));
      status = EncipherEv2(cryptogram);
      command.response_mode = CommMode::kMac;
      break;
    case AuthScheme::kNone:
      break;
  }
  Wipe(new_expanded);
  if (!status.ok()) {
    Wipe(cryptogram);
    return status;
  }
  payload.insert(payload.end(), cryptogram.begin(), cryptogram.end());
  if (scheme_ == AuthScheme::kEv2 || scheme_ == AuthScheme::kLrp) {
    Bytes mac = Ev2Mac(ToByte(Ins::kChangeKey), cmd_ctr_, payload);
    payload.insert(payload.end(), mac.begin(), mac.end());
  }
  return SendAndCheck(command, payload, same).status();
}

}  // namespace desfired::desfire
