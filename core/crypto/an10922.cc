#include "core/crypto/an10922.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstring>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/util/status_macros.h"

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

// The keys of `count` inputs, each part CMAC_K(constant ‖ M) with the AN10922 padding rule: the
// input is padded to two blocks (80 00..) and finished with K2 whenever it is shorter than two
// blocks (unlike plain CMAC, a one-block-or-shorter input is not padded to a single block).
// `many` computes the CMACs of n messages side by side (min_blocks 2).
using CmacMany = absl::FunctionRef<absl::Status(const uint8_t* const* messages, size_t length,
                                                size_t n, uint8_t* tags)>;
absl::Status DiversifyKeysImpl(KeyType type, size_t bs, const uint8_t* const* inputs,
                               size_t input_length, size_t count, uint8_t* out, CmacMany many) {
  uint8_t constants[3] = {};
  const size_t parts = PartConstants(type, constants);
  const size_t key_length = KeyLength(type);
  uint8_t d[kChunk][32];
  const uint8_t* messages[kChunk];
  uint8_t tags[kChunk * 16];
  absl::Status s;
  for (size_t first = 0; first < count && s.ok(); first += kChunk) {
    const size_t n = std::min(kChunk, count - first);
    for (size_t i = 0; i < n; ++i) {
      std::memcpy(d[i] + 1, inputs[first + i], input_length);
      messages[i] = d[i];
    }
    for (size_t part = 0; part < parts && s.ok(); ++part) {
      for (size_t i = 0; i < n; ++i) d[i][0] = constants[part];
      s = many(messages, 1 + input_length, n, tags);
      for (size_t i = 0; i < n && s.ok(); ++i) {
        std::memcpy(out + (first + i) * key_length + part * bs, tags + i * bs, bs);
      }
    }
  }
  OPENSSL_cleanse(tags, std::min(count, kChunk) * bs);
  OPENSSL_cleanse(d, std::min(count, kChunk) * sizeof(d[0]));
  return s;
}

absl::Status CheckMaster(KeyType master_type, KeyType type, ByteSpan first_input) {
  if (absl::Status s = CheckTypeAndInput(type, first_input); !s.ok()) return s;
  if (master_type != type) {
    return absl::InvalidArgumentError(absl::StrCat(
        "AN10922: master key is ", KeyTypeName(master_type), ", requested ", KeyTypeName(type)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status DiversifyKeysWith(const Cmac& master, KeyType type, const uint8_t* const* inputs,
                               size_t input_length, size_t count, uint8_t* out) {
  const ByteSpan first_input(count > 0 ? inputs[0] : nullptr, input_length);
  DESFIRED_RETURN_IF_ERROR(CheckMaster(master.cipher().type(), type, first_input));
  return DiversifyKeysImpl(
      type, master.block_size(), inputs, input_length, count, out,
      [&master](const uint8_t* const* messages, size_t length, size_t n, uint8_t* tags) {
        master.ComputeMany(messages, length, n, tags, /*min_blocks=*/2);
        return absl::OkStatus();
      });
}

absl::Status DiversifyKeysVia(const KeyCipher& master, KeyType type, const uint8_t* const* inputs,
                              size_t input_length, size_t count, uint8_t* out) {
  const ByteSpan first_input(count > 0 ? inputs[0] : nullptr, input_length);
  DESFIRED_RETURN_IF_ERROR(CheckMaster(master.type(), type, first_input));
  return DiversifyKeysImpl(
      type, master.block_size(), inputs, input_length, count, out,
      [&master](const uint8_t* const* messages, size_t length, size_t n, uint8_t* tags) {
        return CmacManyVia(master, messages, length, n, tags,
                           /*min_blocks=*/2);
      });
}

absl::Status DiversifyKeyWith(const Cmac& master, KeyType type, ByteSpan input, uint8_t* out) {
  const uint8_t* data = input.data();
  return DiversifyKeysWith(master, type, &data, input.size(), 1, out);
}

absl::Status DiversifyKeyVia(const KeyCipher& master, KeyType type, ByteSpan input, uint8_t* out) {
  const uint8_t* data = input.data();
  return DiversifyKeysVia(master, type, &data, input.size(), 1, out);
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
