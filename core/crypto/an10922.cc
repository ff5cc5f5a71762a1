#include "core/crypto/an10922.h"

#include <openssl/crypto.h>

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace desfired::crypto {
namespace {

// The CMAC input 'constant ‖ M' is always padded to this many bytes (two cipher blocks).
size_t PaddedLength(KeyType type) { return type == KeyType::kAes128 ? 32 : 16; }

absl::Status CheckTypeAndInput(KeyType type, ByteSpan input) {
  if (type == KeyType::kDes) {
    return absl::InvalidArgumentError("AN10922 defines no diversification for single-DES keys");
  }
  const size_t max_input = PaddedLength(type) - 1;
  if (input.empty() || input.size() > max_input) {
    return absl::InvalidArgumentError(absl::StrCat("AN10922 diversification input for ",
                                                   KeyTypeName(type), " must be 1..", max_input,
                                                   " bytes, got ", input.size()));
  }
  return absl::OkStatus();
}

// CMAC_K(constant ‖ M) with the AN10922 padding rule: the input is padded to two blocks
// (80 00..) and the padded-block subkey K2 applied whenever it is shorter than two blocks.
// Unlike plain CMAC, a one-block-or-shorter input is not padded to a single block.
void DiversifiedCmac(const Cmac& cmac, uint8_t constant, ByteSpan input, uint8_t* out) {
  const size_t bs = cmac.block_size();
  const size_t padded = 2 * bs;
  uint8_t d[32] = {};
  d[0] = constant;
  std::memcpy(d + 1, input.data(), input.size());
  const size_t len = 1 + input.size();
  const ByteSpan subkey = len < padded ? cmac.k2() : cmac.k1();
  if (len < padded) d[len] = 0x80;
  for (size_t i = 0; i < bs; ++i) d[bs + i] ^= subkey[i];

  const BlockCipher& cipher = cmac.cipher();
  cipher.EncryptBlock(d, d);  // CBC with IV 0: block 1 is E(d0)
  for (size_t i = 0; i < bs; ++i) d[bs + i] ^= d[i];
  cipher.EncryptBlock(d + bs, out);
  OPENSSL_cleanse(d, sizeof(d));
}

}  // namespace

absl::Status DiversifyKeyWith(const Cmac& master, KeyType type, ByteSpan input, uint8_t* out) {
  if (absl::Status s = CheckTypeAndInput(type, input); !s.ok()) return s;
  if (master.cipher().type() != type) {
    return absl::InvalidArgumentError(absl::StrCat("AN10922: master key is ",
                                                   KeyTypeName(master.cipher().type()),
                                                   ", requested ", KeyTypeName(type)));
  }
  switch (type) {
    case KeyType::kAes128:
      DiversifiedCmac(master, 0x01, input, out);
      break;
    case KeyType::k2Tdea:
      DiversifiedCmac(master, 0x21, input, out);
      DiversifiedCmac(master, 0x22, input, out + 8);
      break;
    case KeyType::k3Tdea:
      DiversifiedCmac(master, 0x31, input, out);
      DiversifiedCmac(master, 0x32, input, out + 8);
      DiversifiedCmac(master, 0x33, input, out + 16);
      break;
    case KeyType::kDes:
      break;  // rejected above
  }
  return absl::OkStatus();
}

absl::StatusOr<Bytes> DiversifyKey(KeyType type, ByteSpan master_key, ByteSpan input) {
  if (absl::Status s = CheckTypeAndInput(type, input); !s.ok()) return s;
  absl::StatusOr<Cmac> master = Cmac::Create(type, master_key);
  if (!master.ok()) {
    return absl::Status(master.status().code(),
                        absl::StrCat("AN10922 master key: ", master.status().message()));
  }
  Bytes key(KeyLength(type));
  if (absl::Status s = DiversifyKeyWith(*master, type, input, key.data()); !s.ok()) return s;
  return key;
}

}  // namespace desfired::crypto
