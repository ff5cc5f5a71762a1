// Fuzz target: PKCS#11 URIs (core/pkcs11/uri.h, p11-kit's parser behind it) and the key-store
// lines that name token keys, with the object template a parsed URI gives.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/keys/key_store.h"
#include "core/pkcs11/uri.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto uri = desfired::pkcs11::TokenUri::Parse(text);
  if (uri.ok()) (void)uri->ObjectTemplate();
  (void)desfired::keys::KeyStore::Parse("key k AES128 " + text + "\n", "fuzz");
  return 0;
}
