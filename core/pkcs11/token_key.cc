#include "core/pkcs11/token_key.h"

#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/crypto/random.h"
#include "core/util/status_macros.h"

namespace desfired::pkcs11 {
namespace {

// Finds the objects `uri` names: up to two handles (two means "more than one").
CK_RV FindObjects(CK_FUNCTION_LIST* f, CK_SESSION_HANDLE s, const TokenUri& uri,
                  CK_OBJECT_HANDLE found[2], CK_ULONG* count) {
  std::vector<CK_ATTRIBUTE> templ = uri.ObjectTemplate();
  CK_RV rv = f->C_FindObjectsInit(s, templ.data(), templ.size());
  if (rv != CKR_OK) return rv;
  rv = f->C_FindObjects(s, found, 2, count);
  const CK_RV final_rv = f->C_FindObjectsFinal(s);
  return rv != CKR_OK ? rv : final_rv;
}

bool TypeFits(crypto::KeyType type, CK_KEY_TYPE token_type, CK_ULONG value_len) {
  switch (type) {
    case crypto::KeyType::kAes128:
      return token_type == CKK_AES && value_len == 16;
    case crypto::KeyType::k2Tdea:
      return token_type == CKK_DES2;
    case crypto::KeyType::k3Tdea:
      return token_type == CKK_DES3;
    case crypto::KeyType::kDes:
      return token_type == CKK_DES || token_type == CKK_DES2;
  }
  return false;
}

absl::string_view TokenTypeName(CK_KEY_TYPE t) {
  static constexpr struct {
    CK_KEY_TYPE type;
    absl::string_view name;
  } kNames[] = {{CKK_AES, "CKK_AES"},
                {CKK_DES, "CKK_DES"},
                {CKK_DES2, "CKK_DES2"},
                {CKK_DES3, "CKK_DES3"},
                {CKK_GENERIC_SECRET, "CKK_GENERIC_SECRET"}};
  for (const auto& n : kNames) {
    if (n.type == t) return n.name;
  }
  return "another key type";
}

absl::Status WholeBlocksError(size_t len, size_t bs) {
  return absl::InvalidArgumentError(
      absl::StrCat("data length ", len, " is not a multiple of the block size ", bs));
}

}  // namespace

TokenKey::TokenKey(std::shared_ptr<Token> token, const TokenUri& uri, crypto::KeyType type,
                   std::string key_name, CK_KEY_TYPE token_type)
    : token_(std::move(token)),
      uri_(uri),
      type_(type),
      key_name_(std::move(key_name)),
      token_type_(token_type) {}

absl::Status TokenKey::Error(absl::string_view what, CK_RV rv) const {
  return CkError(absl::StrCat("key '", key_name_, "' (", uri_.text(), "): ", what), rv);
}

absl::StatusOr<std::shared_ptr<const TokenKey>> TokenKey::Find(std::shared_ptr<Token> token,
                                                               const TokenUri& uri,
                                                               crypto::KeyType type,
                                                               std::string key_name) {
  CK_FUNCTION_LIST* f = token->module().f();
  CK_OBJECT_HANDLE found[2] = {};
  CK_ULONG count = 0;
  CK_KEY_TYPE token_type = 0;
  CK_ULONG value_len = 0;
  CK_BBOOL can_encrypt = CK_FALSE, can_decrypt = CK_FALSE;
  CK_RV attr_rv = CKR_OK;
  absl::StatusOr<CK_RV> rv = token->Run([&](CK_SESSION_HANDLE s, uint64_t) {
    CK_RV r = FindObjects(f, s, uri, found, &count);
    if (r != CKR_OK || count != 1) return r;
    CK_ATTRIBUTE attrs[] = {{CKA_KEY_TYPE, &token_type, sizeof(token_type)},
                            {CKA_ENCRYPT, &can_encrypt, sizeof(can_encrypt)},
                            {CKA_DECRYPT, &can_decrypt, sizeof(can_decrypt)}};
    attr_rv = f->C_GetAttributeValue(s, found[0], attrs, 3);
    CK_ATTRIBUTE len = {CKA_VALUE_LEN, &value_len, sizeof(value_len)};
    if (f->C_GetAttributeValue(s, found[0], &len, 1) != CKR_OK) value_len = 0;
    return CKR_OK;
  });
  const std::string where = absl::StrCat("key '", key_name, "' (", uri.text(), ")");
  if (!rv.ok())
    return absl::Status(rv.status().code(), absl::StrCat(where, ": ", rv.status().message()));
  if (*rv != CKR_OK) return CkError(absl::StrCat(where, ": C_FindObjects"), *rv);
  if (count == 0) {
    return absl::NotFoundError(
        absl::StrCat(where, ": token ", token->name(), " has no secret key object that matches"));
  }
  if (count > 1) {
    return absl::FailedPreconditionError(
        absl::StrCat(where, ": several objects match; name one (object= and id=)"));
  }
  if (attr_rv != CKR_OK) return CkError(absl::StrCat(where, ": C_GetAttributeValue"), attr_rv);
  if (!TypeFits(type, token_type, value_len)) {
    return absl::FailedPreconditionError(absl::StrCat(
        where, ": the key file says ", crypto::KeyTypeName(type), " but the token object is ",
        TokenTypeName(token_type),
        token_type == CKK_AES ? absl::StrCat(" of ", value_len, " bytes") : "",
        " (AES128 needs CKK_AES of 16 bytes, 2TDEA CKK_DES2, 3TDEA CKK_DES3, DES CKK_DES)"));
  }
  if (can_encrypt != CK_TRUE || can_decrypt != CK_TRUE) {
    return absl::FailedPreconditionError(absl::StrCat(
        where, ": the token object may not ", can_encrypt != CK_TRUE ? "encrypt" : "decrypt",
        " (DESFire authentication needs CKA_ENCRYPT and CKA_DECRYPT)"));
  }
  return std::shared_ptr<const TokenKey>(
      new TokenKey(std::move(token), uri, type, std::move(key_name), token_type));
}

CK_RV TokenKey::Handle(CK_SESSION_HANDLE session, uint64_t epoch, CK_OBJECT_HANDLE* out) const {
  absl::MutexLock lock(&mu_);
  if (handle_ != CK_INVALID_HANDLE && handle_epoch_ == epoch) {
    *out = handle_;
    return CKR_OK;
  }
  CK_OBJECT_HANDLE found[2] = {};
  CK_ULONG count = 0;
  CK_RV rv = FindObjects(token_->module().f(), session, uri_, found, &count);
  if (rv != CKR_OK) return rv;
  if (count != 1) return CKR_KEY_HANDLE_INVALID;
  handle_ = found[0];
  handle_epoch_ = epoch;
  *out = handle_;
  return CKR_OK;
}

CK_MECHANISM_TYPE TokenKey::EcbMechanism() const {
  if (token_type_ == CKK_AES) return CKM_AES_ECB;
  return token_type_ == CKK_DES ? CKM_DES_ECB : CKM_DES3_ECB;
}

absl::Status TokenKey::Crypt(bool encrypt, const uint8_t* in, uint8_t* out, size_t len) const {
  CK_MECHANISM mech = {EcbMechanism(), nullptr, 0};
  std::vector<uint8_t> input(in, in + len);
  CK_FUNCTION_LIST* f = token_->module().f();
  absl::StatusOr<CK_RV> rv = token_->Run([&](CK_SESSION_HANDLE s, uint64_t epoch) {
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    CK_RV r = Handle(s, epoch, &h);
    if (r != CKR_OK) return r;
    r = encrypt ? f->C_EncryptInit(s, &mech, h) : f->C_DecryptInit(s, &mech, h);
    if (r == CKR_KEY_HANDLE_INVALID || r == CKR_OBJECT_HANDLE_INVALID) {
      {
        absl::MutexLock lock(&mu_);
        handle_ = CK_INVALID_HANDLE;
      }
      r = Handle(s, epoch, &h);
      if (r != CKR_OK) return r;
      r = encrypt ? f->C_EncryptInit(s, &mech, h) : f->C_DecryptInit(s, &mech, h);
    }
    if (r != CKR_OK) return r;
    CK_ULONG out_len = len;
    r = encrypt ? f->C_Encrypt(s, input.data(), len, out, &out_len)
                : f->C_Decrypt(s, input.data(), len, out, &out_len);
    if (r == CKR_OK && out_len != len) r = CKR_FUNCTION_FAILED;
    return r;
  });
  crypto::SecureWipe(absl::MakeSpan(input));
  if (!rv.ok()) {
    return absl::Status(rv.status().code(), absl::StrCat("key '", key_name_, "' (", uri_.text(),
                                                         "): ", rv.status().message()));
  }
  if (*rv != CKR_OK) return Error(encrypt ? "C_Encrypt" : "C_Decrypt", *rv);
  return absl::OkStatus();
}

bool TokenKey::StreamCrypt(bool encrypt, const uint8_t* in, uint8_t* out, size_t len) const {
  if (!streams_work_[encrypt].load(std::memory_order_relaxed)) return false;
  const uint64_t current = token_->epoch();
  Stream stream;
  {
    absl::MutexLock lock(&streams_mu_);
    std::vector<Stream>& idle = idle_streams_[encrypt];
    while (!idle.empty() && stream.session == CK_INVALID_HANDLE) {
      if (idle.back().epoch == current) stream = idle.back();
      // A stream of an earlier login is dropped, not closed: after the module was initialized
      // again its handle may name another session.
      idle.pop_back();
    }
  }
  CK_FUNCTION_LIST* f = token_->module().f();
  const bool fresh = stream.session == CK_INVALID_HANDLE;
  if (fresh) {
    absl::StatusOr<CK_SESSION_HANDLE> session = token_->OpenSession(&stream.epoch);
    if (!session.ok()) return false;
    stream.session = *session;
    CK_MECHANISM mech = {EcbMechanism(), nullptr, 0};
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    CK_RV rv = Handle(stream.session, stream.epoch, &h);
    if (rv == CKR_OK) {
      rv = encrypt ? f->C_EncryptInit(stream.session, &mech, h)
                   : f->C_DecryptInit(stream.session, &mech, h);
    }
    if (rv != CKR_OK) {
      token_->CloseSession(stream.session);
      return false;
    }
  }
  // The module may not take `in` and `out` as the same buffer: the input is copied then.
  std::vector<uint8_t> copy;
  if (in == out) copy.assign(in, in + len);
  uint8_t* input = const_cast<uint8_t*>(in == out ? copy.data() : in);
  CK_ULONG out_len = len;
  const CK_RV rv = encrypt ? f->C_EncryptUpdate(stream.session, input, len, out, &out_len)
                           : f->C_DecryptUpdate(stream.session, input, len, out, &out_len);
  crypto::SecureWipe(absl::MakeSpan(copy));
  if (rv != CKR_OK || out_len != len) {
    if (stream.epoch == token_->epoch()) token_->CloseSession(stream.session);
    // A module that will not continue an ECB operation it just began: one-shot calls only.
    if (fresh && !Token::MeansRestart(rv)) {
      streams_work_[encrypt].store(false, std::memory_order_relaxed);
    }
    return false;
  }
  absl::MutexLock lock(&streams_mu_);
  std::vector<Stream>& idle = idle_streams_[encrypt];
  if (idle.size() < kMaxIdleStreams) {
    idle.push_back(stream);
  } else {
    token_->CloseSession(stream.session);
  }
  return true;
}

absl::Status TokenKey::Ecb(bool encrypt, const uint8_t* in, uint8_t* out, size_t len) const {
  const size_t bs = block_size();
  if (len % bs != 0) return WholeBlocksError(len, bs);
  if (len == 0) return absl::OkStatus();
  if (StreamCrypt(encrypt, in, out, len)) return absl::OkStatus();
  return Crypt(encrypt, in, out, len);
}

TokenKey::~TokenKey() {
  {
    absl::MutexLock lock(&streams_mu_);
    const uint64_t current = token_->epoch();
    for (const std::vector<Stream>& idle : idle_streams_) {
      for (const Stream& stream : idle) {
        if (stream.epoch == current) token_->CloseSession(stream.session);
      }
    }
  }
  absl::MutexLock lock(&mu_);
  crypto::SecureWipe(absl::MakeSpan(zero_block_));
}

absl::Status TokenKey::EncryptedZeroBlock(uint8_t* out) const {
  const size_t bs = block_size();
  {
    absl::MutexLock lock(&mu_);
    if (zero_block_known_) {
      std::memcpy(out, zero_block_, bs);
      return absl::OkStatus();
    }
  }
  DESFIRED_RETURN_IF_ERROR(KeyCipher::EncryptedZeroBlock(out));
  absl::MutexLock lock(&mu_);
  std::memcpy(zero_block_, out, bs);
  zero_block_known_ = true;
  return absl::OkStatus();
}

absl::Status TokenKey::EncryptBlocks(const uint8_t* in, uint8_t* out, size_t count) const {
  return Ecb(true, in, out, count * block_size());
}

absl::Status TokenKey::DecryptBlocks(const uint8_t* in, uint8_t* out, size_t count) const {
  return Ecb(false, in, out, count * block_size());
}

// CBC is chained on the host over ECB in the token (one stream call per block to encrypt, one
// for all blocks to decrypt): the key still never leaves the token, and a module without the
// CBC mechanisms, or one that cannot pass their IV (p11-kit's client module), works the same.
absl::Status TokenKey::CbcEncrypt(MutableByteSpan iv, MutableByteSpan data) const {
  const size_t bs = block_size();
  if (iv.size() != bs) return absl::InvalidArgumentError("CBC IV must be one block");
  if (data.size() % bs != 0) return WholeBlocksError(data.size(), bs);
  if (data.empty()) return absl::OkStatus();
  const uint8_t* chain = iv.data();
  absl::Status s;
  for (size_t off = 0; off < data.size() && s.ok(); off += bs) {
    uint8_t* block = data.data() + off;
    for (size_t i = 0; i < bs; ++i) block[i] ^= chain[i];
    s = EncryptBlocks(block, block, 1);
    chain = block;
  }
  if (s.ok()) std::memcpy(iv.data(), data.data() + data.size() - bs, bs);
  return s;
}

absl::Status TokenKey::CbcDecrypt(MutableByteSpan iv, MutableByteSpan data) const {
  const size_t bs = block_size();
  if (iv.size() != bs) return absl::InvalidArgumentError("CBC IV must be one block");
  if (data.size() % bs != 0) return WholeBlocksError(data.size(), bs);
  if (data.empty()) return absl::OkStatus();
  std::vector<uint8_t> cipher_text(data.begin(), data.end());
  absl::Status s = DecryptBlocks(cipher_text.data(), data.data(), data.size() / bs);
  for (size_t off = 0; off < data.size() && s.ok(); off += bs) {
    const uint8_t* prev = off == 0 ? iv.data() : cipher_text.data() + off - bs;
    for (size_t i = 0; i < bs; ++i) data[off + i] ^= prev[i];
  }
  if (s.ok()) std::memcpy(iv.data(), cipher_text.data() + cipher_text.size() - bs, bs);
  crypto::SecureWipe(absl::MakeSpan(cipher_text));
  return s;
}

}  // namespace desfired::pkcs11
