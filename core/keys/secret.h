// SecretBytes: key material that is wiped from memory when it goes away.
//
// Thread-compatible. Copying is disabled so that key bytes are not duplicated by accident;
// use Clone() where a copy is really wanted.
#ifndef DESFIRED_CORE_KEYS_SECRET_H_
#define DESFIRED_CORE_KEYS_SECRET_H_

#include <utility>
#include <vector>

#include "core/crypto/random.h"
#include "core/util/bytes.h"

namespace desfired::keys {

class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(Bytes bytes) : bytes_(std::move(bytes)) {}
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  SecretBytes(SecretBytes&& other) noexcept : bytes_(std::move(other.bytes_)) {
    other.bytes_.clear();
  }
  SecretBytes& operator=(SecretBytes&& other) noexcept {
    if (this != &other) {
      Wipe();
      bytes_ = std::move(other.bytes_);
      other.bytes_.clear();
    }
    return *this;
  }
  ~SecretBytes() { Wipe(); }

  ByteSpan view() const { return bytes_; }
  size_t size() const { return bytes_.size(); }
  SecretBytes Clone() const { return SecretBytes(bytes_); }

 private:
  void Wipe() {
    crypto::SecureWipe(MutableByteSpan(bytes_));
    bytes_.clear();
  }
  Bytes bytes_;
};

}  // namespace desfired::keys

#endif  // DESFIRED_CORE_KEYS_SECRET_H_
