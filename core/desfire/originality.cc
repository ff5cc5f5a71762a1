#include "core/desfire/originality.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "core/apdu/status_payload.h"

namespace desfired::desfire {
namespace {

// proxmark3 client/src/crypto/originality.c manufacturer_public_keys[] (ev3_vectors.md §5).
enum NxpKey : size_t { kLight, kEv2, kEv2Xl, kEv3, kNtag424, kEv1Ntag413, kNxpKeyCount };

struct NxpKeyRow {
  NxpKey id;
  const char* name;
  const char* hex;
};

constexpr NxpKeyRow kNxpKeys[] = {
    {kLight, "NXP DESFire Light",
     "040E98E117AAA36457F43173DC920A8757267F44CE4EC5ADD3C54075571AEBBF7B942A9774A1D94AD02572427E5A"
     "E0A2DD36591B1FB34FCF3D"},
    {kEv2, "NXP DESFire EV2",
     "04B304DC4C615F5326FE9383DDEC9AA892DF3A57FA7FFB3276192BC0EAA252ED45A865E3B093A3D0DCE5BE29E9"
     "2F1392CE7DE321E3E5C52B3A"},
    {kEv2Xl, "NXP DESFire EV2 XL",
     "04CD5D45E50B1502F0BA4656FF37669597E7E183251150F9574CC8DA56BF01C7ABE019E29FEA48F9CE22C3EA40"
     "29A765E1BC95A89543BAD1BC"},
    {kEv3, "NXP DESFire EV3",
     "041DB46C145D0A36539C6544BD6D9B0AA62FF91EC48CBC6ABAE36E0089A46F0D08C8A715EA40A63313B92E90DD"
     "C1730230E0458A33276FB743"},
    {kNtag424, "NXP NTAG 424 DNA",
     "048A9B380AF2EE1B98DC417FECC263F8449C7625CECE82D9B916C992DA209D68422B81EC20B65A66B5102A6159"
     "6AF3379200599316A00A1410"},
    {kEv1Ntag413, "NXP NTAG 413 DNA / DESFire EV1",
     "04BB5D514F7050025C7D0F397310360EEC91EAF792E96FC7E0F496CB4E669D414F877B7B27901FE67C2E3B33CD"
     "39D1C797715189AC951C2ADD"},
};

// The keys of each product's family, most likely first. The labels overlap (§7): the
// NTAG 424 DNA key and the DESFire EV2 key are both labelled for NTAG 424 DNA, DESFire EV2
// and DESFire Light.
std::vector<NxpKey> Family(CardProduct product) {
  switch (product) {
    case CardProduct::kDesfireEv1:
      return {kEv1Ntag413};
    case CardProduct::kDesfireEv2:
      return {kEv2, kNtag424};
    case CardProduct::kDesfireEv2Xl:
      return {kEv2Xl};
    case CardProduct::kDesfireEv3:
      return {kEv3};
    case CardProduct::kDesfireLight:
      return {kLight, kNtag424, kEv2};
    case CardProduct::kNtag424Dna:
      return {kNtag424, kEv2};
    case CardProduct::kDesfireEv0:
    case CardProduct::kUnknown:
      break;
  }
  return {};
}

absl::StatusOr<OriginalityKey> KeyFromHex(absl::string_view name, absl::string_view hex) {
  absl::StatusOr<Bytes> point = HexDecode(hex);
  if (!point.ok()) return absl::InvalidArgumentError(absl::StrCat("key '", name, "': not hex"));
  absl::StatusOr<crypto::P224PublicKey> key = crypto::P224PublicKey::FromUncompressed(*point);
  if (!key.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("key '", name, "': ", key.status().message()));
  }
  return OriginalityKey{.name = std::string(name), .key = *std::move(key)};
}

}  // namespace

absl::StatusOr<Bytes> DecodeReadSigAnswer(uint8_t status, ByteSpan data) {
  if (status != kReadSigStatus && status != 0x00) {
    return apdu::ProtocolError(absl::StrFormat(
        "ReadSig: the card answered status %02X, a signature comes with 90", status));
  }
  if (data.size() != crypto::kP224SignatureBytes) {
    return apdu::ProtocolError(absl::StrFormat(
        "ReadSig: the card answered %d bytes, a signature has %d (r and s of 28 bytes)",
        data.size(), crypto::kP224SignatureBytes));
  }
  return Bytes(data.begin(), data.end());
}

const std::vector<OriginalityKey>& NxpOriginalityKeys() {
  static const std::vector<OriginalityKey>* const keys = [] {
    auto* out = new std::vector<OriginalityKey>();
    for (const NxpKeyRow& row : kNxpKeys) {
      // The table is constant and checked by the tests: a failure here is a typo in it.
      out->push_back(*KeyFromHex(row.name, row.hex));
    }
    return out;
  }();
  return *keys;
}

std::vector<const OriginalityKey*> NxpKeysFor(CardProduct product) {
  std::vector<const OriginalityKey*> out;
  for (NxpKey id : Family(product)) out.push_back(&NxpOriginalityKeys()[id]);
  return out;
}

Bytes OriginalityDigest(ByteSpan uid) {
  Bytes digest(crypto::kP224FieldBytes, 0);
  const size_t n = std::min(uid.size(), digest.size());
  std::copy(uid.end() - static_cast<ptrdiff_t>(n), uid.end(), digest.end() - n);
  return digest;
}

OriginalityResult VerifyOriginality(CardProduct product, ByteSpan uid, ByteSpan signature,
                                    absl::Span<const OriginalityKey> extra) {
  OriginalityResult result;
  const Bytes digest = OriginalityDigest(uid);
  std::vector<const OriginalityKey*> keys = NxpKeysFor(product);
  const bool has_nxp_key = !keys.empty();
  for (const OriginalityKey& key : extra) keys.push_back(&key);
  // One check over all keys (P224VerifyAny: u1·G once, then one multiplication per key), the
  // same verdict as verifying key by key; keys_tried lists the keys up to the one that verifies.
  std::vector<const crypto::P224PublicKey*> points;
  points.reserve(keys.size());
  for (const OriginalityKey* key : keys) points.push_back(&key->key);
  const int match = crypto::P224VerifyAny(points, digest, signature);
  const size_t tried = match >= 0 ? static_cast<size_t>(match) + 1 : keys.size();
  for (size_t i = 0; i < tried; ++i) result.keys_tried.push_back(keys[i]->name);
  if (match >= 0) {
    result.verdict = OriginalityVerdict::kGenuine;
    result.key_name = keys[static_cast<size_t>(match)]->name;
    return result;
  }
  result.verdict =
      has_nxp_key ? OriginalityVerdict::kNotGenuine : OriginalityVerdict::kUnknownProduct;
  return result;
}

absl::StatusOr<std::vector<OriginalityKey>> ParseOriginalityKeys(absl::string_view text) {
  std::vector<OriginalityKey> out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    for (absl::string_view entry : absl::StrSplit(line, ',', absl::SkipWhitespace())) {
      entry = absl::StripAsciiWhitespace(entry);
      const size_t eq = entry.find('=');
      if (eq == absl::string_view::npos || eq == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("entry ", out.size() + 1,
                         ": an originality key is NAME=HEX (HEX: 04 ‖ x ‖ y, 114 hex digits)"));
      }
      const absl::string_view name = absl::StripAsciiWhitespace(entry.substr(0, eq));
      absl::StatusOr<OriginalityKey> key = KeyFromHex(name, entry.substr(eq + 1));
      if (!key.ok()) return key.status();
      out.push_back(*std::move(key));
    }
  }
  return out;
}

}  // namespace desfired::desfire
