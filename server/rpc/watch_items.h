// The items of WatchCards in desfired.v1 terms: the event hub's readers, card events and change
// outcomes (server/readers) as the proto messages every channel sends them in — the WatchCards
// stream, the HTTP API's event stream (through it) and the NATS publisher (server/nats).
//
//   v1::WatchCardsResponse item;
//   EventToProto(*watch_item.event, &item);   // CardEvent → item.event, CHANGE → item.change
//
// Thread-safe: pure functions.
#ifndef DESFIRED_SERVER_RPC_WATCH_ITEMS_H_
#define DESFIRED_SERVER_RPC_WATCH_ITEMS_H_

#include "absl/time/time.h"
#include "desfired/v1/card.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "server/readers/card_event.h"
#include "server/readers/event_hub.h"

namespace desfired::server {

google::protobuf::Timestamp ToTimestamp(absl::Time t);

// KIND_UNSPECIFIED for CHANGE (which is not a v1::CardEvent).
v1::CardEvent::Kind ToProto(CardEventKind kind);

// A reader of the hub's state (ListReaders, the WatchCards snapshot).
void ToProto(const ReaderState& in, v1::Reader* out);

// A CHANGE event's outcome. `e.change` must be set.
void ToProto(const CardEvent& e, v1::ChangeEvent* out);

// Any event as the WatchCards item that carries it: `out->change` for a CHANGE event with its
// outcome, `out->event` otherwise. `out` is cleared first.
void EventToProto(const CardEvent& e, v1::WatchCardsResponse* out);

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_RPC_WATCH_ITEMS_H_
