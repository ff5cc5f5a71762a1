#include "server/rpc/watch_items.h"

#include <ctime>

#include "core/util/enum_table.h"

namespace desfired::server {
namespace {

constexpr EnumRow<CardEventKind, v1::CardEvent::Kind> kEventKinds[] = {
    {CardEventKind::kReaderAdded, v1::CardEvent::READER_ADDED},
    {CardEventKind::kReaderRemoved, v1::CardEvent::READER_REMOVED},
    {CardEventKind::kCardInserted, v1::CardEvent::CARD_INSERTED},
    {CardEventKind::kCardRemoved, v1::CardEvent::CARD_REMOVED},
    {CardEventKind::kCardUpdated, v1::CardEvent::CARD_UPDATED},
    {CardEventKind::kPcscUnavailable, v1::CardEvent::PCSC_UNAVAILABLE},
    {CardEventKind::kPcscAvailable, v1::CardEvent::PCSC_AVAILABLE},
};

}  // namespace

google::protobuf::Timestamp ToTimestamp(absl::Time t) {
  google::protobuf::Timestamp ts;
  const timespec spec = absl::ToTimespec(t);
  ts.set_seconds(spec.tv_sec);
  ts.set_nanos(static_cast<int32_t>(spec.tv_nsec));
  return ts;
}

v1::CardEvent::Kind ToProto(CardEventKind kind) {
  return ValueOf(kEventKinds, kind).value_or(v1::CardEvent::KIND_UNSPECIFIED);
}

void ToProto(const ReaderState& in, v1::Reader* out) {
  out->set_name(in.reader);
  out->set_card_present(in.card.has_value());
  if (in.card.has_value()) {
    out->set_uid(AsString(in.card->uid));
    out->set_atr(AsString(in.card->atr));
    *out->mutable_card_inserted_time() = ToTimestamp(in.card->inserted_at);
    out->set_uid_unknown_reason(in.card->uid_unknown_reason);
  }
}

void ToProto(const CardEvent& e, v1::ChangeEvent* out) {
  const ChangeRecord& c = *e.change;
  out->set_sequence(e.sequence);
  switch (c.outcome) {
    case ChangeOutcome::kCommitted:
      out->set_outcome(v1::ChangeEvent::COMMITTED);
      break;
    case ChangeOutcome::kReplayed:
      out->set_outcome(v1::ChangeEvent::REPLAYED);
      break;
    case ChangeOutcome::kNotCommitted:
      out->set_outcome(v1::ChangeEvent::NOT_COMMITTED);
      break;
    case ChangeOutcome::kUnknown:
      out->set_outcome(v1::ChangeEvent::UNKNOWN);
      break;
  }
  out->set_method(c.method);
  out->set_reader(e.reader);
  out->set_request_id(c.request_id);
  if (c.ledger_seq.has_value()) out->set_ledger_seq(*c.ledger_seq);
  *out->mutable_time() = ToTimestamp(e.time);
  if (c.amount.has_value()) out->set_amount(*c.amount);
  out->set_reason(c.reason);
}

void EventToProto(const CardEvent& e, v1::WatchCardsResponse* out) {
  out->Clear();
  if (e.kind == CardEventKind::kChange && e.change.has_value()) {
    ToProto(e, out->mutable_change());
    return;
  }
  v1::CardEvent* event = out->mutable_event();
  event->set_sequence(e.sequence);
  event->set_kind(ToProto(e.kind));
  event->set_reader(e.reader);
  event->set_uid(AsString(e.uid));
  event->set_atr(AsString(e.atr));
  *event->mutable_time() = ToTimestamp(e.time);
  event->set_uid_unknown_reason(e.uid_unknown_reason);
}

}  // namespace desfired::server
