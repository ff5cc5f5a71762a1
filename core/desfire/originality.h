// Originality signatures: is this card a genuine NXP chip? The card signs its UID at the
// factory (ECDSA on secp224r1) and answers ReadSig (0x3C 00) with r ‖ s; NXP publishes one
// public key per product line. This file holds NXP's keys, the ReadSig answer decoder and the
// verification; DesfireCard::ReadSignature (card.h) sends the command.
//
//   DESFIRED_ASSIGN_OR_RETURN(Bytes sig, card.ReadSignature());
//   OriginalityResult r = VerifyOriginality(version.product, version.uid, sig, extra_keys);
//   if (r.verdict == OriginalityVerdict::kGenuine) { ... r.key_name ... }
//
// Facts (ev3_vectors.md §5; proxmark3 cmdhfntag424.c / desfirecore.c; nfc-ev2-crypto
// validate_ecc.py, AN12196 §8.2):
//   - ReadSig answers 56 bytes with status 91 90 (not 91 00, although the data sheets say so;
//     91 00 is accepted too);
//   - the signed "digest" is the raw 7-byte UID taken as a big-endian integer, i.e. the UID
//     left-padded with zeros to 28 bytes (no hash);
//   - key labels overlap (§7): two keys are both labelled for NTAG 424 DNA and DESFire EV2, so
//     every key of the product's family is tried, and the one that verifies is named.
//
// Thread-safe: NXP's key table is built once (thread-safe static); the functions are pure.
#ifndef DESFIRED_CORE_DESFIRE_ORIGINALITY_H_
#define DESFIRED_CORE_DESFIRE_ORIGINALITY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/crypto/ecdsa_p224.h"
#include "core/desfire/product.h"
#include "core/util/bytes.h"

namespace desfired::desfire {

// The status byte a genuine ReadSig answer ends with (91 90).
inline constexpr uint8_t kReadSigStatus = 0x90;

struct OriginalityKey {
  std::string name;  // "NXP DESFire EV3", or the name a configuration gave
  crypto::P224PublicKey key;
};

enum class OriginalityVerdict {
  kGenuine,         // a key tried (NXP's or an extra one) verifies the signature
  kNotGenuine,      // NXP publishes keys for the product and no key verifies
  kUnknownProduct,  // NXP publishes no key for the product and no extra key verifies
};

struct OriginalityResult {
  OriginalityVerdict verdict = OriginalityVerdict::kUnknownProduct;
  std::string key_name;                 // the key that verified (kGenuine only)
  std::vector<std::string> keys_tried;  // in the order tried
};

// The ReadSig answer: 56 bytes r ‖ s with status 90 (or 00). INTERNAL / PROTOCOL_ERROR naming
// what is wrong for another status or length.
absl::StatusOr<Bytes> DecodeReadSigAnswer(uint8_t status, ByteSpan data);

// NXP's published keys (proxmark3 originality.c), named "NXP <label>".
const std::vector<OriginalityKey>& NxpOriginalityKeys();

// The NXP keys to try for `product`, most likely first (the family per §7); empty for a
// product without a published key (EV0, unknown).
std::vector<const OriginalityKey*> NxpKeysFor(CardProduct product);

// The value signed for `uid`: the UID left-padded with zeros to 28 bytes.
Bytes OriginalityDigest(ByteSpan uid);

// Tries NxpKeysFor(product), then `extra` (keys the operator trusts, e.g. a test card's).
// A signature of the wrong length verifies under no key.
OriginalityResult VerifyOriginality(CardProduct product, ByteSpan uid, ByteSpan signature,
                                    absl::Span<const OriginalityKey> extra = {});

// Extra trusted keys from a text: entries separated by commas or new lines, each
// `NAME=HEX` (HEX: the 57-byte uncompressed point, 114 hex digits); blank entries and lines
// starting with '#' (comments, which may hold commas) are skipped. INVALID_ARGUMENT naming the
// entry for anything else.
absl::StatusOr<std::vector<OriginalityKey>> ParseOriginalityKeys(absl::string_view text);

}  // namespace desfired::desfire

#endif  // DESFIRED_CORE_DESFIRE_ORIGINALITY_H_
