#include "core/crypto/an10922.h"

#include <openssl/crypto.h>

#include <algorithm>
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

// Diversification inputs handled per ComputeMany call (stack buffers).
constexpr size_t kChunk = 64;

// The constant bytes that start each part's CMAC input; returns the number of parts.
size_t PartConstants(KeyType type, uint8_t constants[3]) {
  if (type == KeyType::k2Tdea) {
    constants[0] = 0x21, constants[1] = 0x22;
    return 2;
  }
  if (type == KeyType::k3Tdea) {
    constants[0] = 0x31, constants[1] = 0x32, constants[2] = 0x33;
    return 3;
  }
  constants[0] = 0x01;
  return 1;
}

}  // namespace

// Each part of the key is CMAC_K(constant ‖ M) with the AN10922 padding rule: the input is
// padded to two blocks (80 00..) and finished with K2 whenever it is shorter than two blocks
// (unlike plain CMAC, a one-block-or-shorter input is not padded to a single block).
absl::Status DiversifyKeysWith(const Cmac& master, KeyType type, const uint8_t* const* inputs,
                               size_t input_length, size_t count, uint8_t* out) {
  const ByteSpan first_input(count > 0 ? inputs[0] : nullptr, input_length);
  if (absl::Status s = CheckTypeAndInput(type, first_input); !s.ok()) return s;
  if (master.cipher().type() != type) {
    return absl::InvalidArgumentError(absl::StrCat("AN10922: master key is ",
                                                   KeyTypeName(master.cipher().type()),
                                                   ", requested ", KeyTypeName(type)));
  }
  uint8_t constants[3] = {};
  const size_t parts = PartConstants(type, constants);
  const size_t bs = master.block_size();
  const size_t key_length = KeyLength(type);
  uint8_t d[kChunk][32];
  const uint8_t* messages[kChunk];
  uint8_t tags[kChunk * 16];
  for (size_t first = 0; first < count; first += kChunk) {
    const size_t n = std::min(kChunk, count - first);
    for (size_t i = 0; i < n; ++i) {
      std::memcpy(d[i] + 1, inputs[first + i], input_length);
      messages[i] = d[i];
    }
    for (size_t part = 0; part < parts; ++part) {
      for (size_t i = 0; i < n; ++i) d[i][0] = constants[part];
      master.ComputeMany(messages, 1 + input_length, n, tags, /*min_blocks=*/2);
      for (size_t i = 0; i < n; ++i) {
        std::memcpy(out + (first + i) * key_length + part * bs, tags + i * bs, bs);
      }
    }
  }
  OPENSSL_cleanse(tags, std::min(count, kChunk) * bs);
  return absl::OkStatus();
}

absl::Status DiversifyKeyWith(const Cmac& master, KeyType type, ByteSpan input, uint8_t* out) {
  const uint8_t* data = input.data();
  return DiversifyKeysWith(master, type, &data, input.size(), 1, out);
}

absl::Status DiversifyKeyVia(const KeyCipher& master, KeyType type, ByteSpan input, uint8_t* out) {
  if (absl::Status s = CheckTypeAndInput(type, input); !s.ok()) return s;
  if (master.type() != type) {
    return absl::InvalidArgumentError(absl::StrCat(
        "AN10922: master key is ", KeyTypeName(master.type()), ", requested ", KeyTypeName(type)));
  }
  uint8_t constants[3] = {};
  const size_t parts = PartConstants(type, constants);
  const size_t bs = master.block_size();
  uint8_t d[32];
  std::memcpy(d + 1, input.data(), input.size());
  absl::Status s;
  for (size_t part = 0; part < parts && s.ok(); ++part) {
    d[0] = constants[part];
    s = CmacVia(master, ByteSpan(d, 1 + input.size()), out + part * bs, /*min_blocks=*/2);
  }
  OPENSSL_cleanse(d, sizeof(d));
  return s;
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
