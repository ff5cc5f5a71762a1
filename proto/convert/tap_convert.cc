#include "proto/convert/tap_convert.h"

#include <cstdint>
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

// *out = TapResult::RecordId().
void SetRecordId(const tap::TapResult& r, std::string* out) {
  char buf[tap::TapResult::kMaxRecordIdLength];
  out->assign(buf, r.WriteRecordId(buf));
}

// *out = TapResult::DedupKey().
void SetDedupKey(const tap::TapResult& r, std::string* out) {
  char buf[tap::TapResult::kMaxDedupKeyLength];
  out->assign(buf, r.WriteDedupKey(buf));
}

// The value of each byte as a lower-case hex digit, or -1 (ToProto writes lower case only, so
// anything else would not come back the same). A table: the digits of random UIDs and MACs
// defeat the branch predictor of a range test.
struct LowerHexTable {
  int8_t of[256];
  constexpr LowerHexTable() : of() {
    for (int c = 0; c < 256; ++c) {
      of[c] = static_cast<int8_t>(
          c >= '0' && c <= '9' ? c - '0' : (c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1));
    }
  }
};
constexpr LowerHexTable kLowerHex;

int LowerHexValue(char c) { return kLowerHex.of[static_cast<unsigned char>(c)]; }

// Decodes `hex` into out[0, n); false unless it is exactly 2n lower-case hex digits.
bool DecodeHex(absl::string_view hex, uint8_t* out, size_t n) {
  if (hex.size() != 2 * n) return false;
  int bad = 0;  // one test at the end
  for (size_t i = 0; i < n; ++i) {
    const int high = LowerHexValue(hex[2 * i]);
    const int low = LowerHexValue(hex[2 * i + 1]);
    bad |= high | low;
    out[i] = static_cast<uint8_t>((high & 0xF) << 4 | (low & 0xF));
  }
  return bad >= 0;
}

absl::Status Invalid(const v1::TapResult& in, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("tap result ", in.index(), ": ", what));
}

// The reason the parser gives a rejected record of these bytes, when `error` is its text;
// otherwise `error` itself, as the text of kUnreadableInput.
void SetRejectReason(absl::string_view error, tap::TapResult* out) {
  const size_t n = out->raw.size();
  if (n < tap::kMinRecordSize) {
    out->reject = tap::RejectReason::kTooShort;
    out->reject_detail = static_cast<uint32_t>(n);
  } else if (n > tap::kRecordSize) {
    out->reject = tap::RejectReason::kTooLong;
    out->reject_detail = n > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(n);
  } else {
    out->reject = tap::RejectReason::kBadRecordType;
    out->reject_detail = out->raw[tap::kTypeOffset];
  }
  if (out->ErrorText() == error) return;
  out->reject = tap::RejectReason::kUnreadableInput;
  out->reject_detail = 0;
  out->input_error = error;
}

// The fields of a decoded record; INVALID_ARGUMENT as FromProto says.
absl::Status FieldsFromProto(const v1::TapResult& in, tap::TapFields* f) {
  const v1::TapRecord& rec = in.record();
  if (rec.record_type() < static_cast<int>(tap::RecordType::kEntry) ||
      rec.record_type() > static_cast<int>(tap::RecordType::kTransfer)) {
    return Invalid(in, absl::StrCat("unknown record_type ", rec.record_type()));
  }
  f->type = static_cast<tap::RecordType>(rec.record_type());
  if (rec.tap_time().seconds() < 0 || rec.tap_time().seconds() > UINT32_MAX) {
    return Invalid(in, absl::StrCat("tap_time ", rec.tap_time().seconds(), " is out of range"));
  }
  f->timestamp = static_cast<uint32_t>(rec.tap_time().seconds());
  f->terminal_id = rec.terminal_id();
  f->fare_product = rec.fare_product();
  f->zone_route = rec.zone_route();
  if (!DecodeHex(rec.card_uid(), f->uid, tap::kUidLength)) {
    return Invalid(in, "card_uid is not 16 lower-case hex digits");
  }
  if (!DecodeHex(rec.mac(), f->mac, tap::kMacLength)) {
    return Invalid(in, "mac is not 16 lower-case hex digits");
  }
  if (rec.crc8() > 0xFF) return Invalid(in, absl::StrCat("crc8 ", rec.crc8(), " is above 255"));
  f->crc8 = static_cast<uint8_t>(rec.crc8());
  return absl::OkStatus();
}

// A name of the result: nullptr for an empty one, as ToProto writes none for nullptr.
const std::string* Name(const std::string& name) { return name.empty() ? nullptr : &name; }

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
  SetRecordId(in, out->mutable_record_id());
  SetDedupKey(in, out->mutable_dedup_key());
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

absl::Status FromProto(const v1::TapResult& in, Bytes* raw, tap::TapResult* out) {
  *out = tap::TapResult{};
  out->index = in.index();
  if (in.status() < static_cast<int>(tap::TapStatus::kValid) ||
      in.status() > static_cast<int>(tap::TapStatus::kRejected)) {
    return Invalid(in, absl::StrCat("unknown status ", in.status()));
  }
  out->status = static_cast<tap::TapStatus>(in.status());
  for (int w : in.warnings()) {
    if (w < tap::kFirstWarning || w > tap::kLastWarning) {
      return Invalid(in, absl::StrCat("unknown warning ", w));
    }
    out->add(static_cast<tap::TapWarning>(w));
  }
  const std::string& hex = in.raw_hex();
  raw->resize(hex.size() / 2);
  if (hex.size() % 2 != 0 || !DecodeHex(hex, raw->data(), raw->size())) {
    return Invalid(in, "raw_hex is not lower-case hex");
  }
  out->raw = *raw;
  if (out->status == tap::TapStatus::kRejected) {
    SetRejectReason(in.error(), out);
    return absl::OkStatus();
  }
  if (absl::Status s = FieldsFromProto(in, &out->fields); !s.ok()) return s;
  out->key_name = Name(in.key_name());
  if (in.mac_algorithm() < static_cast<int>(crypto::MacAlgorithm::kNone) ||
      in.mac_algorithm() > static_cast<int>(crypto::MacAlgorithm::kTdesCmac)) {
    return Invalid(in, absl::StrCat("unknown mac_algorithm ", in.mac_algorithm()));
  }
  out->mac_algorithm = static_cast<crypto::MacAlgorithm>(in.mac_algorithm());
  if (in.has_corrected_tap_time()) {
    out->has_clock_offset = true;
    out->corrected_time = in.corrected_tap_time().seconds();
    out->clock_offset = in.clock_offset_seconds();
  }
  out->terminal_name = Name(in.terminal_name());
  out->fare_product_name = Name(in.fare_product_name());
  return absl::OkStatus();
}

absl::Status FromProto(const v1::TapSummary& in, tap::TapSummary* out) {
  *out = tap::TapSummary{};
  out->total = in.total();
  out->valid = in.valid();
  out->flagged = in.flagged();
  out->rejected = in.rejected();
  for (const v1::TapSummary::WarningCount& wc : in.warnings()) {
    const int w = wc.warning();
    if (w < tap::kFirstWarning || w > tap::kLastWarning) {
      return absl::InvalidArgumentError(absl::StrCat("tap summary: unknown warning ", w));
    }
    out->warnings[w] += wc.count();
  }
  for (const v1::TapSummary::IdCount& c : in.unknown_terminals()) {
    out->unknown_terminals[c.id()] += c.count();
  }
  for (const v1::TapSummary::IdCount& c : in.unknown_fare_products()) {
    out->unknown_fare_products[c.id()] += c.count();
  }
  return absl::OkStatus();
}

}  // namespace desfired
