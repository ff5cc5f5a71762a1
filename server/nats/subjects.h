// The NATS subjects and message ids of desfired's events (docs/fleet.md, "Events on NATS"):
//
//   desfired.<instance>.<reader>.<kind>      kind: reader | card | change
//
//   SubjectOf("station-1", "ACS ACR122U PICC 00 00", CardEventKind::kCardInserted)
//     == "desfired.station-1.ACS_ACR122U_PICC_00_00.card"
//
// A reader name becomes one subject token: ASCII letters, digits, '-' and '_' are kept, every
// other byte (space, '.', '*', '>', controls, each byte of a UTF-8 character) becomes '_'.
// Events of pcscd itself (PCSC_UNAVAILABLE / PCSC_AVAILABLE) name no reader: their token is
// "_". Two readers whose names differ only in replaced bytes share a token; the payload always
// carries the exact name.
//
// Thread-safe: pure functions.
#ifndef DESFIRED_SERVER_NATS_SUBJECTS_H_
#define DESFIRED_SERVER_NATS_SUBJECTS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/readers/card_event.h"

namespace desfired::server::nats {

// The root of every subject; the stream takes "desfired.>" (or "desfired.<instance>.>").
inline constexpr absl::string_view kSubjectRoot = "desfired";

// The longest instance id.
inline constexpr size_t kMaxInstanceBytes = 64;

// OK when `instance` is one subject token of 1..kMaxInstanceBytes letters, digits, '-' or '_';
// INVALID_ARGUMENT naming the flag --instance otherwise.
absl::Status CheckInstance(absl::string_view instance);

// `reader` as one subject token (above); "_" for an empty name.
std::string ReaderToken(absl::string_view reader);

// "reader" (READER_*, PCSC_*), "card" (CARD_*) or "change" (CHANGE).
absl::string_view KindToken(CardEventKind kind);

// desfired.<instance>.<reader token>.<kind token>. `instance` must pass CheckInstance.
std::string SubjectOf(absl::string_view instance, absl::string_view reader, CardEventKind kind);

// The message id (header Nats-Msg-Id) of event `sequence` of boot `boot` of `instance`:
// "<instance>.<boot>.<sequence>". The boot number is counted up at every start (the buffer
// directory's boot file), so no two events of an instance ever share an id, and a resend of an
// event (after a lost acknowledgement, an outage or a restart) carries its first id.
std::string MessageIdOf(absl::string_view instance, uint64_t boot, uint64_t sequence);

}  // namespace desfired::server::nats

#endif  // DESFIRED_SERVER_NATS_SUBJECTS_H_
