// The limits on what a client sends: every string and bytes field of every CardService and
// TapService request has a documented maximum (docs/api.md, "Limits"), in this one place.
// CheckLimits enforces them first thing in every CardService call, right after the caller is
// authorized and before anything is logged, recorded in the ledger, queued or sent to a card, so
// that a client cannot grow the permanent ledger, the logs or the errors with its input.
// TapService requests are checked in their wire form instead, before they are parsed
// (tap_request_scan.h: every record at most kMaxTapInputBytes encoded, so `raw` is bounded too).
//
//   absl::Status status = Authorize(...);
//   if (status.ok()) status = CheckLimits(*request);   // INVALID_ARGUMENT naming the field
//   if (status.ok()) status = Validate(*request);      // card_validation.h: the finer rules
//
// A field over its limit fails with INVALID_ARGUMENT, reason INVALID_ARGUMENT, metadata "field"
// = the dotted proto path (e.g. "target.reader", "records.raw"; an element of a repeated field
// is named by the field, and its index is in the message). The message gives the size and the
// limit; it never quotes the value.
//
// Limits are per field name: a name means the same thing in every request of desfired.v1
// (`reader` is always a PC/SC reader name, `request_id` always the idempotency key). A string
// field whose name has no entry gets kDefaultMaxStringBytes, so nothing is unbounded; the unit
// test (request_limits_test.cc) walks every request message of both services and fails on a
// string or bytes field without an entry of its own. Unknown fields (a client newer than the
// server) are allowed up to kMaxUnknownFieldBytes per message, since they would otherwise reach
// the ledger's copy of a change request unbounded.
//
// Thread-safe: constants and pure functions.
#ifndef DESFIRED_SERVER_RPC_REQUEST_LIMITS_H_
#define DESFIRED_SERVER_RPC_REQUEST_LIMITS_H_

#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/cardops/data.h"
#include "core/cardops/paging.h"
#include "google/protobuf/message.h"

namespace desfired::server {

// CardTarget.reader, WatchCardsRequest.readers: a PC/SC reader name. pcsc-lite keeps names in
// MAX_READERNAME (128) bytes with the NUL, so a real name has at most 127; 256 leaves room for
// other PC/SC stacks.
inline constexpr size_t kMaxReaderNameBytes = 256;
// CardTarget.expected_uid: a UID has 4, 7 or 10 bytes.
inline constexpr size_t kMaxUidBytes = 10;
// KeyRef.key_name, ChangeKeyRequest.new_key_name / old_key_name: the key store's names
// (core/keys/key_store.h: 1..64 letters, digits, '_', '-', '.').
inline constexpr size_t kMaxKeyNameBytes = 64;
// TransactionMacRequest.reader_id: a reader id (TMRI) has 16 bytes (docs/ev3.md).
inline constexpr size_t kMaxReaderIdBytes = 16;
// request_id of every change: up to 128 printable ASCII characters.
inline constexpr size_t kMaxRequestIdBytes = 128;
// page_token: what next_page_token held (core/cardops/paging.h).
inline constexpr size_t kMaxPageTokenBytes = cardops::kMaxPageTokenLength;
// WriteDataRequest.data, WriteRecordRequest.data (--max_write_bytes may lower it).
inline constexpr size_t kMaxWriteDataBytes = cardops::kMaxWriteBytes;
// CreateApplicationRequest.df_name: an ISO/IEC 7816-4 DF name.
inline constexpr size_t kMaxDfNameBytes = 16;
// WatchCardsRequest.readers: names watched by one stream.
inline constexpr size_t kMaxWatchedReaders = 64;
// TapInput.raw: a tap record has 32 bytes; 33..64 still get a REJECTED result (TOO_LONG),
// longer ones fail the call.
inline constexpr size_t kMaxTapRecordBytes = 64;
// TapInput.raw_hex: the hex of kMaxTapRecordBytes bytes, one separator between pairs.
inline constexpr size_t kMaxTapRecordHexChars = 3 * kMaxTapRecordBytes;
// VerifySunRequest.meta_key_name / file_key_name: key store names, as kMaxKeyNameBytes.
// SunMessage: what a tag's URL carries, in hex. The lengths a tag can produce (32 or 48 digits
// of PICCData, 14 of UID, 6 of counter, 16 of MAC) with room to spare, so that a wrong length
// still gets a REJECTED result naming the field; longer values fail the call.
inline constexpr size_t kMaxSunFieldChars = 64;
// SunMessage.enc_file_data and mac_input: an NDEF file's worth (NTAG 424 DNA's file 2 has 256
// bytes, so 512 hex digits; EV3 files may be larger), bounded.
inline constexpr size_t kMaxSunDataChars = 4096;
// A string field without an entry of its own (none today; the unit test sees to it).
inline constexpr size_t kDefaultMaxStringBytes = 256;
// Unknown fields of one message, in encoded bytes.
inline constexpr size_t kMaxUnknownFieldBytes = 1024;

struct FieldLimit {
  absl::string_view field;  // the proto field name, e.g. "reader"
  size_t max_bytes = 0;     // of one value
  size_t max_count = 0;     // of a repeated field: most elements (0: not repeated here)
};

// Every entry, for the documentation and the tests.
absl::Span<const FieldLimit> FieldLimits();
// The entry of a field name; nullptr when it has none (then kDefaultMaxStringBytes applies).
const FieldLimit* FindFieldLimit(absl::string_view field);

// Checks every string and bytes field of `request`, nested messages included, and its unknown
// fields. OK, or INVALID_ARGUMENT naming the first field over its limit.
absl::Status CheckLimits(const google::protobuf::Message& request);

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_RPC_REQUEST_LIMITS_H_
