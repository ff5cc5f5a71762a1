// TokenKey: a DESFire card key (or an AN10922 master) that lives in a PKCS#11 token, as a
// crypto::KeyCipher. Every block operation is ECB in the token (CKM_AES_ECB, CKM_DES3_ECB for
// 2TDEA / 3TDEA, CKM_DES_ECB for DES): the key value never reaches this process.
//
// Streams: the key keeps a few sessions of its own, each with an ECB operation left open
// (C_EncryptInit or C_DecryptInit once per session), so that a call is one C_EncryptUpdate /
// C_DecryptUpdate over all its blocks: an Init costs SoftHSM2 ~50-175 µs on a loaded machine
// (it reads the object back from its store), an Update of 1..256 blocks ~2-10 µs. CBC is
// chained on the host over ECB blocks computed in the token. When a stream fails (the token
// or its daemon restarted, a module that does not keep ECB open), the call runs once more as
// a one-shot C_EncryptInit + C_Encrypt through Token::Run (which logs in again), and the next
// call opens a new stream (or, for a module without multi-part ECB, keeps to one-shot calls).
//
//   DESFIRED_ASSIGN_OR_RETURN(auto key, TokenKey::Find(token, uri, KeyType::kAes128, "transit"));
//   DESFIRED_RETURN_IF_ERROR(key->CbcDecrypt(iv, block));
//
// Find() checks the object: exactly one secret key matches the URI, its CKA_KEY_TYPE (and
// CKA_VALUE_LEN for AES) fits the key file's type (AES128 ↔ CKK_AES of 16 bytes, 2TDEA ↔
// CKK_DES2, 3TDEA ↔ CKK_DES3, DES ↔ CKK_DES or a CKK_DES2 holding K ‖ K), and it may encrypt
// and decrypt. Errors name the key (its name in the key file), the URI and the PKCS#11 code,
// never a value: NOT_FOUND (no object), FAILED_PRECONDITION (several objects, the wrong type,
// not allowed to encrypt/decrypt), UNAVAILABLE (the token is gone).
//
// The object handle is looked up again after the token logged in again (Token::epoch).
//
// Thread-safe.
#ifndef DESFIRED_CORE_PKCS11_TOKEN_KEY_H_
#define DESFIRED_CORE_PKCS11_TOKEN_KEY_H_

#include <p11-kit/pkcs11.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/crypto/key_cipher.h"
#include "core/crypto/key_type.h"
#include "core/pkcs11/token.h"
#include "core/pkcs11/uri.h"

namespace desfired::pkcs11 {

class TokenKey final : public crypto::KeyCipher {
 public:
  static absl::StatusOr<std::shared_ptr<const TokenKey>> Find(std::shared_ptr<Token> token,
                                                              const TokenUri& uri,
                                                              crypto::KeyType type,
                                                              std::string key_name);

  crypto::KeyType type() const override { return type_; }
  absl::Status EncryptBlocks(const uint8_t* in, uint8_t* out, size_t count) const override;
  absl::Status DecryptBlocks(const uint8_t* in, uint8_t* out, size_t count) const override;
  absl::Status CbcEncrypt(MutableByteSpan iv, MutableByteSpan data) const override;
  absl::Status CbcDecrypt(MutableByteSpan iv, MutableByteSpan data) const override;
  absl::Status EncryptedZeroBlock(uint8_t* out) const override;
  ~TokenKey() override;

  const Token& token() const { return *token_; }

 private:
  TokenKey(std::shared_ptr<Token> token, const TokenUri& uri, crypto::KeyType type,
           std::string key_name, CK_KEY_TYPE token_type);
  // The object's handle for `epoch`, found again when the epoch changed.
  CK_RV Handle(CK_SESSION_HANDLE session, uint64_t epoch, CK_OBJECT_HANDLE* out) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // ECB over `len` bytes (whole blocks; in and out may alias): on a stream, else one-shot.
  absl::Status Ecb(bool encrypt, const uint8_t* in, uint8_t* out, size_t len) const;
  // One C_{En,De}cryptUpdate on a stream; false when no stream could do it (nothing written
  // that counts: the caller runs the one-shot path).
  bool StreamCrypt(bool encrypt, const uint8_t* in, uint8_t* out, size_t len) const
      ABSL_LOCKS_EXCLUDED(streams_mu_);
  // One C_{En,De}cryptInit + C_{En,De}crypt over `len` bytes through Token::Run.
  absl::Status Crypt(bool encrypt, const uint8_t* in, uint8_t* out, size_t len) const;
  absl::Status Error(absl::string_view what, CK_RV rv) const;
  CK_MECHANISM_TYPE EcbMechanism() const;

  std::shared_ptr<Token> token_;
  TokenUri uri_;
  crypto::KeyType type_;
  std::string key_name_;
  CK_KEY_TYPE token_type_;
  // A session with an ECB operation open, of the login `epoch`.
  struct Stream {
    CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
    uint64_t epoch = 0;
  };
  static constexpr size_t kMaxIdleStreams = 4;  // per direction
  // [encrypt]: false once the module refused to continue an open ECB operation of that
  // direction: one-shot calls only.
  mutable std::atomic<bool> streams_work_[2] = {true, true};
  mutable absl::Mutex streams_mu_;
  mutable std::vector<Stream> idle_streams_[2] ABSL_GUARDED_BY(streams_mu_);  // [encrypt]
  mutable absl::Mutex mu_;
  mutable uint64_t handle_epoch_ ABSL_GUARDED_BY(mu_) = 0;
  mutable CK_OBJECT_HANDLE handle_ ABSL_GUARDED_BY(mu_) = CK_INVALID_HANDLE;
  // E_K(0), computed once (EncryptedZeroBlock); wiped on destruction.
  mutable bool zero_block_known_ ABSL_GUARDED_BY(mu_) = false;
  mutable uint8_t zero_block_[16] ABSL_GUARDED_BY(mu_) = {};
};

}  // namespace desfired::pkcs11

#endif  // DESFIRED_CORE_PKCS11_TOKEN_KEY_H_
