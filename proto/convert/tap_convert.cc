#include "proto/convert/tap_convert.h"

namespace desfired {

void ToProto(const tap::TapResult& in, v1::TapResult* out) {
  out->Clear();
  out->set_index(in.index);
  out->set_status(static_cast<v1::TapResult::Status>(in.status));
  for (int w = tap::kFirstWarning; w <= tap::kLastWarning; ++w) {
    if (in.warnings & (1u << w)) out->add_warnings(static_cast<v1::TapWarning>(w));
  }
  out->set_raw_hex(HexEncode(in.raw));
  if (in.status == tap::TapStatus::kRejected) {
    out->set_error(in.ErrorText());
    return;
  }
  const tap::TapFields& f = in.fields;
  out->set_record_id(in.RecordId());
  out->set_dedup_key(in.DedupKey());
  v1::TapRecord* rec = out->mutable_record();
  rec->set_record_type(static_cast<v1::TapRecord::Type>(f.type));
  rec->mutable_tap_time()->set_seconds(f.timestamp);
  rec->set_terminal_id(f.terminal_id);
  rec->set_fare_product(f.fare_product);
  rec->set_zone_route(f.zone_route);
  rec->set_card_uid(HexEncode(ByteSpan(f.uid, tap::kUidLength)));
  rec->set_mac(HexEncode(ByteSpan(f.mac, tap::kMacLength)));
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
