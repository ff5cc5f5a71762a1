// The result of parsing one tap record, as plain data (the proto form is in
// proto/desfired/v1/taps.proto; server/ and client/ convert with tap_convert.h).
//
// A TapResult is filled by TapParser::Parse (decoding, CRC, MAC, padding, clock window) and
// then, optionally, by TapReconciler::Apply (backend clock, duplicates, registry, tariffs).
// Filling allocates nothing: `raw` is a view of the caller's input and the names point into
// the key store / tables, which must outlive the result.
#ifndef DESFIRED_CORE_TAP_RESULT_H_
#define DESFIRED_CORE_TAP_RESULT_H_

#include <cstdint>
#include <cstring>
#include <string>

#include "absl/strings/string_view.h"
#include "core/crypto/mac_algorithm.h"
#include "core/tap/format.h"
#include "core/util/bytes.h"

namespace desfired::tap {

enum class TapStatus : uint8_t {
  kValid = 1,
  kFlagged = 2,
  kRejected = 3,
};

// Numbered as desfired.v1.TapWarning; a result holds a set of them as a bit mask.
enum class TapWarning : uint8_t {
  kCrc8Mismatch = 1,
  kMacVerificationFailed = 2,
  kMacNotVerified = 3,
  kClockDriftDetected = 4,
  kPaddingInvalid = 5,
  kRecordTruncated = 6,
  kUnknownTerminal = 7,
  kUnknownFareProduct = 8,
  kDuplicateTap = 9,
};
inline constexpr int kFirstWarning = 1;
inline constexpr int kLastWarning = 9;

// "CRC8_MISMATCH", ...
absl::string_view TapWarningName(TapWarning w);
// "VALID", "FLAGGED", "REJECTED".
absl::string_view TapStatusName(TapStatus s);
// "ENTRY", "EXIT", "TRANSFER".
absl::string_view RecordTypeName(RecordType t);

// Why a record was rejected.
enum class RejectReason : uint8_t {
  kNone = 0,
  kTooShort,         // detail: length
  kTooLong,          // detail: length
  kBadRecordType,    // detail: the type byte
  kUnreadableInput,  // the input line could not be turned into bytes; see input_error
};

struct TapFields {
  RecordType type = RecordType::kEntry;
  uint32_t timestamp = 0;  // Unix seconds
  uint32_t terminal_id = 0;
  uint32_t fare_product = 0;
  uint32_t zone_route = 0;
  uint8_t uid[kUidLength] = {};
  uint8_t mac[kMacLength] = {};
  uint8_t crc8 = 0;
};

struct TapResult {
  uint64_t index = 0;
  TapStatus status = TapStatus::kRejected;
  uint16_t warnings = 0;  // bit (1 << TapWarning)
  RejectReason reject = RejectReason::kNone;
  uint32_t reject_detail = 0;
  absl::string_view input_error;  // for kUnreadableInput; owned by the input reader
  ByteSpan raw;                   // the input bytes; owned by the caller
  TapFields fields;               // valid unless REJECTED

  crypto::MacAlgorithm mac_algorithm = crypto::MacAlgorithm::kNone;
  const std::string* key_name = nullptr;  // the key that applied; owned by the key store

  // Set by TapReconciler.
  bool has_clock_offset = false;
  int64_t clock_offset = 0;                    // seconds, terminal minus backend (median estimate)
  int64_t corrected_time = 0;                  // timestamp - clock_offset
  const std::string* terminal_name = nullptr;  // owned by the registry
  const std::string* fare_product_name = nullptr;  // owned by the tariff table

  // Every field back to its default, then `index` and `raw`: what `*this = TapResult{}` does,
  // field by field, because a whole-struct assignment compiles to a slow `rep stos` here and
  // parsing runs this for every record.
  void Reset(uint64_t new_index, ByteSpan new_raw) {
    index = new_index;
    status = TapStatus::kRejected;
    warnings = 0;
    reject = RejectReason::kNone;
    reject_detail = 0;
    input_error = {};
    raw = new_raw;
    fields.type = RecordType::kEntry;  // not `fields = TapFields{}`: a stack copy that stalls
    fields.timestamp = 0;
    fields.terminal_id = 0;
    fields.fare_product = 0;
    fields.zone_route = 0;
    std::memset(fields.uid, 0, sizeof(fields.uid));
    std::memset(fields.mac, 0, sizeof(fields.mac));
    fields.crc8 = 0;
    mac_algorithm = crypto::MacAlgorithm::kNone;
    key_name = nullptr;
    has_clock_offset = false;
    clock_offset = 0;
    corrected_time = 0;
    terminal_name = nullptr;
    fare_product_name = nullptr;
  }

  bool has(TapWarning w) const { return warnings & (1u << static_cast<int>(w)); }
  void add(TapWarning w) { warnings = static_cast<uint16_t>(warnings | 1u << static_cast<int>(w)); }

  // Human-readable reason for a REJECTED result ("record too short: 12 bytes (minimum 28)").
  // Too long bytes that are the base64 decoding of 56..64 hex digits say so: the record was
  // sent as hex where base64 was expected.
  std::string ErrorText() const;
  // "<first 8 hex of UID>_<unix time>".
  std::string RecordId() const;
  // "<uid hex>:<unix time>:<terminal id>".
  std::string DedupKey() const;
  // RecordId() and DedupKey() written at `out`, which has room for kMaxRecordIdLength /
  // kMaxDedupKeyLength bytes; return their end. For encoders that must not allocate.
  static constexpr size_t kMaxRecordIdLength = 8 + 1 + 10;
  static constexpr size_t kMaxDedupKeyLength = 2 * kUidLength + 1 + 10 + 1 + 10;
  char* WriteRecordId(char* out) const;
  char* WriteDedupKey(char* out) const;
};

// A field added to TapResult must be reset in Reset() too (this fails until the size is updated).
static_assert(sizeof(void*) != 8 || sizeof(TapResult) == 152, "update TapResult::Reset()");

}  // namespace desfired::tap

#endif  // DESFIRED_CORE_TAP_RESULT_H_
