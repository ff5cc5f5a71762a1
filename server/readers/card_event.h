// CardEvent: one change seen on the readers — a reader appeared or went away, a card was put
// on a reader or taken off. The reader monitor produces them; EventHub (event_hub.h) numbers
// them and fans them out to WatchCards subscribers.
//
//   hub.Publish({.kind = CardEventKind::kCardInserted, .reader = "ACS ACR122U 00 00",
//                .uid = uid, .atr = atr, .time = absl::Now()});
//
// Thread-compatible: a plain value.
#ifndef DESFIRED_SERVER_READERS_CARD_EVENT_H_
#define DESFIRED_SERVER_READERS_CARD_EVENT_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/util/bytes.h"
#include "core/util/enum_table.h"
#include "server/readers/change_event.h"

namespace desfired::server {

enum class CardEventKind : uint8_t {
  kReaderAdded,
  kReaderRemoved,  // the reader's card, if any, is gone with it
  kCardInserted,
  kCardRemoved,
  kCardUpdated,  // the UID of a card inserted without one was read
  // pcscd cannot be reached (no reader; the readers' cards are reported removed after it),
  // and pcscd answers again (no reader; its readers follow as READER_ADDED, their cards as
  // CARD_INSERTED).
  kPcscUnavailable,
  kPcscAvailable,
  // A card call that went through the audit ledger finished (`change` says how). No state
  // changes; only watchers that ask for changes receive it (change_event.h).
  kChange,
};

inline constexpr EnumRow<CardEventKind, absl::string_view> kCardEventKindNames[] = {
    {CardEventKind::kReaderAdded, "READER_ADDED"},
    {CardEventKind::kReaderRemoved, "READER_REMOVED"},
    {CardEventKind::kCardInserted, "CARD_INSERTED"},
    {CardEventKind::kCardRemoved, "CARD_REMOVED"},
    {CardEventKind::kCardUpdated, "CARD_UPDATED"},
    {CardEventKind::kPcscUnavailable, "PCSC_UNAVAILABLE"},
    {CardEventKind::kPcscAvailable, "PCSC_AVAILABLE"},
    {CardEventKind::kChange, "CHANGE"},
};

// The names above (the proto's), "UNKNOWN" for any other value.
constexpr absl::string_view CardEventKindName(CardEventKind kind) {
  return ValueOf(kCardEventKindNames, kind).value_or("UNKNOWN");
}

struct CardEvent {
  // Assigned by EventHub::Publish (strictly increasing, no gaps); 0 before that.
  uint64_t sequence = 0;
  CardEventKind kind = CardEventKind::kReaderAdded;
  std::string reader = {};
  // CARD_INSERTED: the card's UID and ATR. CARD_REMOVED: the card that left (EventHub fills
  // them in from its state when the publisher leaves them empty). CARD_UPDATED: the UID now
  // read (the ATR from the state when empty). Otherwise empty.
  Bytes uid = {};
  Bytes atr = {};
  // When the monitor saw the change.
  absl::Time time = absl::UnixEpoch();
  // CARD_INSERTED with an empty uid: why it is unknown ("UID unknown: ...").
  std::string uid_unknown_reason = {};
  // CHANGE: the call's outcome (reader: the reader the request named). Otherwise empty.
  std::optional<ChangeRecord> change = std::nullopt;
};

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_READERS_CARD_EVENT_H_
