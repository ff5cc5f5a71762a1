#include "proto/convert/tap_convert.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace desfired {
namespace {

// Hot path (ParseTaps answers 10,000s of records per call): the strings are written in place,
// without temporaries, so each costs at most its own buffer.

// *out = lower-case hex of `data`.
void SetHex(ByteSpan data, std::string* out) {
  out->resize(2 * data.size());
  HexEncodeTo(data, out->data());
}

// *out = TapResult::RecordId(): "<first 8 hex digits of the UID>_<unix time>".
void SetRecordId(const tap::TapFields& f, std::string* out) {
  out->reserve(8 + 1 + 10);  // uint32: at most 10 digits
  SetHex(ByteSpan(f.uid, 4), out);
  absl::StrAppend(out, "_", f.timestamp);
}

// *out = TapResult::DedupKey(): "<uid hex>:<unix time>:<terminal id>".
void SetDedupKey(const tap::TapFields& f, std::string* out) {
  out->reserve(2 * tap::kUidLength + 1 + 10 + 1 + 10);
  SetHex(ByteSpan(f.uid, tap::kUidLength), out);
  absl::StrAppend(out, ":", f.timestamp, ":", f.terminal_id);
}

}  // namespace

void ToProto(const tap::TapResult& in, v1::TapResult* out) {
  out->Clear();
  out->set_index(in.index);
  out->set_status(static_cast<v1::TapResult::Status>(in.status));
  for (int w = tap::kFirstWarning; w <= tap::kLastWarning; ++w) {
    if (in.warnings & (1u << w)) out->add_warnings(static_cast<v1::TapWarning>(w));
  }
  SetHex(in.raw, out->mutable_raw_hex());
  if (in.status == tap::TapStatus::kRejected) {
    out->set_error(in.ErrorText());
    return;
  }
  const tap::TapFields& f = in.fields;
  SetRecordId(f, out->mutable_record_id());
  SetDedupKey(f, out->mutable_dedup_key());
  v1::TapRecord* rec = out->mutable_record();
  rec->set_record_type(static_cast<v1::TapRecord::Type>(f.type));
  rec->mutable_tap_time()->set_seconds(f.timestamp);
  rec->set_terminal_id(f.terminal_id);
  rec->set_fare_product(f.fare_product);
  rec->set_zone_route(f.zone_route);
  SetHex(ByteSpan(f.uid, tap::kUidLength), rec->mutable_card_uid());
  SetHex(ByteSpan(f.mac, tap::kMacLength), rec->mutable_mac());
  rec->set_crc8(f.crc8);
  if (in.key_name != nullptr) out->set_key_name(*in.key_name);
  out->set_mac_algorithm(static_cast<v1::TapMacAlgorithm>(in.mac_algorithm));
  if (in.has_clock_offset) {
    out->mutable_corrected_tap_time()->set_seconds(in.corrected_time);
    out->set_clock_offset_seconds(in.clock_offset);
  }
  if (in.terminal_name != nullptr) out->set_terminal_name(*in.terminal_name);
  if (in.fare_product_name != nullptr) out->set_fare_product_name(*in.fare_product_name);
}

void ToProto(const tap::TapSummary& in, v1::TapSummary* out) {
  out->Clear();
  out->set_total(in.total);
  out->set_valid(in.valid);
  out->set_flagged(in.flagged);
  out->set_rejected(in.rejected);
  for (int w = tap::kFirstWarning; w <= tap::kLastWarning; ++w) {
    if (in.warnings[w] == 0) continue;
    auto* wc = out->add_warnings();
    wc->set_warning(static_cast<v1::TapWarning>(w));
    wc->set_count(in.warnings[w]);
  }
  for (const auto& [id, n] : in.unknown_terminals) {
    auto* c = out->add_unknown_terminals();
    c->set_id(id);
    c->set_count(n);
  }
  for (const auto& [id, n] : in.unknown_fare_products) {
    auto* c = out->add_unknown_fare_products();
    c->set_id(id);
    c->set_count(n);
  }
}

}  // namespace desfired
