#include "proto/convert/tap_wire.h"

#include <cstring>
#include <string>

namespace desfired {
namespace {

enum WireType : uint8_t { kVarint = 0, kLengthDelimited = 2 };

// The tag of field `field` (1..15): one byte.
char* Tag(char* p, int field, WireType type) {
  *p++ = static_cast<char>(field << 3 | type);
  return p;
}

char* Varint(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

// A varint field, left out when 0.
char* VarintField(char* p, int field, uint64_t v) {
  if (v == 0) return p;
  return Varint(Tag(p, field, kVarint), v);
}

char* StringField(char* p, int field, absl::string_view s) {
  if (s.empty()) return p;
  p = Varint(Tag(p, field, kLengthDelimited), s.size());
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

// A string field of the lower-case hex of `data` (n bytes).
char* HexField(char* p, int field, const uint8_t* data, size_t n) {
  if (n == 0) return p;
  p = Varint(Tag(p, field, kLengthDelimited), 2 * n);
  HexEncodeTo(ByteSpan(data, n), p);
  return p + 2 * n;
}

// A google.protobuf.Timestamp field of whole seconds (present, as ToProto always sets it).
char* TimestampField(char* p, int field, int64_t seconds) {
  p = Tag(p, field, kLengthDelimited);
  char* length = p++;  // at most 11 bytes: one length byte
  p = VarintField(p, 1, static_cast<uint64_t>(seconds));
  *length = static_cast<char>(p - length - 1);
  return p;
}

// The TapRecord of `f` as field 6 (at most 67 bytes: one length byte).
char* RecordField(char* p, const tap::TapFields& f) {
  p = Tag(p, 6, kLengthDelimited);
  char* length = p++;
  p = VarintField(p, 1, static_cast<uint64_t>(f.type));
  p = TimestampField(p, 2, f.timestamp);
  p = VarintField(p, 3, f.terminal_id);
  p = VarintField(p, 4, f.fare_product);
  p = VarintField(p, 5, f.zone_route);
  p = HexField(p, 6, f.uid, tap::kUidLength);
  p = HexField(p, 7, f.mac, tap::kMacLength);
  p = VarintField(p, 8, f.crc8);
  *length = static_cast<char>(p - length - 1);
  return p;
}

size_t NameSize(const std::string* name) { return name == nullptr ? 0 : name->size(); }

// The room a field of a string of `n` bytes takes at most.
constexpr size_t StringRoom(size_t n) { return 1 + 10 + n; }

}  // namespace

void AppendTapResultField(const tap::TapResult& r, v1::TapResultView view, int field_number,
                          TextBuffer* out) {
  const bool full = view != v1::TAP_RESULT_VIEW_BASIC;
  const bool rejected = r.status == tap::TapStatus::kRejected;
  std::string error_text;
  absl::string_view error;
  if (rejected) {
    if (r.reject == tap::RejectReason::kUnreadableInput) {
      error = r.input_error;
    } else {
      error_text = r.ErrorText();
      error = error_text;
    }
  }
  // Every fixed field, the strings and two length prefixes of up to 10 bytes.
  const size_t room = 256 + StringRoom(error.size()) + StringRoom(2 * r.raw.size()) +
                      StringRoom(NameSize(r.key_name)) + StringRoom(NameSize(r.terminal_name)) +
                      StringRoom(NameSize(r.fare_product_name));
  char* const start = out->Reserve(room);
  // The message is written after room for its tag and length, then moved up to them.
  char* const body = start + 1 + 10;
  char* p = body;
  p = VarintField(p, 1, static_cast<uint64_t>(r.status));
  int warnings = 0;
  for (int w = tap::kFirstWarning; w <= tap::kLastWarning; ++w) warnings += (r.warnings >> w) & 1;
  if (warnings > 0) {  // packed: one byte per value (1..9)
    p = Varint(Tag(p, 2, kLengthDelimited), static_cast<uint64_t>(warnings));
    for (int w = tap::kFirstWarning; w <= tap::kLastWarning; ++w) {
      if ((r.warnings >> w) & 1) *p++ = static_cast<char>(w);
    }
  }
  if (rejected) {
    p = StringField(p, 3, error);
    if (full) p = HexField(p, 4, r.raw.data(), r.raw.size());
    p = VarintField(p, 8, r.index);
  } else {
    if (full) {
      p = HexField(p, 4, r.raw.data(), r.raw.size());
      p = Tag(p, 5, kLengthDelimited);
      char* const length = p++;
      p = r.WriteRecordId(p);
      *length = static_cast<char>(p - length - 1);
    }
    p = RecordField(p, r.fields);
    if (full) {
      p = Tag(p, 7, kLengthDelimited);
      char* const length = p++;
      p = r.WriteDedupKey(p);
      *length = static_cast<char>(p - length - 1);
    }
    p = VarintField(p, 8, r.index);
    if (r.key_name != nullptr) p = StringField(p, 9, *r.key_name);
    p = VarintField(p, 10, static_cast<uint64_t>(r.mac_algorithm));
    if (r.has_clock_offset) {
      p = TimestampField(p, 11, r.corrected_time);
      p = VarintField(p, 12, static_cast<uint64_t>(r.clock_offset));
    }
    if (r.terminal_name != nullptr) p = StringField(p, 13, *r.terminal_name);
    if (r.fare_product_name != nullptr) p = StringField(p, 14, *r.fare_product_name);
  }
  const size_t size = static_cast<size_t>(p - body);
  char* q = Varint(Tag(start, field_number, kLengthDelimited), size);
  std::memmove(q, body, size);
  out->Commit(q + size);
}

void AppendMessageField(const google::protobuf::MessageLite& message, int field_number,
                        TextBuffer* out) {
  const size_t size = message.ByteSizeLong();
  char* p = Varint(Tag(out->Reserve(1 + 10 + size), field_number, kLengthDelimited), size);
  message.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(p));
  out->Commit(p + size);
}

void AppendVarintField(uint64_t value, int field_number, TextBuffer* out) {
  out->Commit(VarintField(out->Reserve(1 + 10), field_number, value));
}

}  // namespace desfired
