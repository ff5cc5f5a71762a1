#include "core/tap/parser.h"

#include <algorithm>
#include <cstring>

#include "core/crypto/crc.h"
#include "core/tap/format.h"

namespace desfired::tap {

int64_t StartOfYearUtc(int year) {
  // Days from 1970-01-01 to year-01-01 (proleptic Gregorian).
  const int64_t y = year - 1;
  const int64_t days =
      365 * (y - 1969) + (y / 4 - 1969 / 4) - (y / 100 - 1969 / 100) + (y / 400 - 1969 / 400);
  return days * 86400;
}

TapParser::TapParser(const ParserOptions& options, MacVerifier* verifier)
    : min_time_(StartOfYearUtc(options.min_year)),
      max_time_(StartOfYearUtc(options.max_year + 1) - 1),
      verifier_(verifier != nullptr && !verifier->empty() ? verifier : nullptr) {}

void TapParser::Unreadable(uint64_t index, ByteSpan raw, absl::string_view error, TapResult* out) {
  *out = TapResult{};
  out->index = index;
  out->raw = raw;
  out->status = TapStatus::kRejected;
  out->reject = RejectReason::kUnreadableInput;
  out->input_error = error;
}

bool TapParser::Decode(uint64_t index, ByteSpan raw, TapResult* out) {
  const size_t n = raw.size();
  const uint8_t* p = raw.data();
  if (n >= kMinRecordSize && n <= kRecordSize &&
      p[kTypeOffset] >= static_cast<uint8_t>(RecordType::kEntry) &&
      p[kTypeOffset] <= static_cast<uint8_t>(RecordType::kTransfer)) {
    // Every field read before anything is stored: the record's bytes could alias the result
    // as far as the compiler knows, and this way Reset's stores to the fields are dropped.
    const uint8_t type = p[kTypeOffset];
    const uint32_t timestamp = LoadLe32(p + kTimestampOffset);
    const uint32_t terminal = LoadLe24(p + kTerminalOffset);
    const uint32_t fare = LoadLe16(p + kFareOffset);
    const uint8_t zone = p[kZoneOffset];
    uint64_t uid;
    uint64_t mac;
    std::memcpy(&uid, p + kUidOffset, kUidLength);
    std::memcpy(&mac, p + kMacOffset, kMacLength);
    const uint8_t crc = p[kCrcOffset];
    out->Reset(index, raw);
    TapFields& f = out->fields;
    f.type = static_cast<RecordType>(type);
    f.timestamp = timestamp;
    f.terminal_id = terminal;
    f.fare_product = fare;
    f.zone_route = zone;
    std::memcpy(f.uid, &uid, kUidLength);
    std::memcpy(f.mac, &mac, kMacLength);
    f.crc8 = crc;
    return true;
  }
  out->Reset(index, raw);
  if (n < kMinRecordSize) {
    out->reject = RejectReason::kTooShort;
    out->reject_detail = static_cast<uint32_t>(n);
  } else if (n > kRecordSize) {
    out->reject = RejectReason::kTooLong;
    out->reject_detail = n > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(n);
  } else {
    out->reject = RejectReason::kBadRecordType;
    out->reject_detail = p[kTypeOffset];
  }
  return false;
}

void TapParser::Finish(const MacVerifier::Outcome* mac, uint8_t crc, TapResult* out) const {
  const uint8_t* p = out->raw.data();
  const size_t n = out->raw.size();
  uint32_t warnings = 0;
  auto add = [&warnings](TapWarning w) { warnings |= 1u << static_cast<int>(w); };
  const bool crc_ok = crc == out->fields.crc8;
  if (!crc_ok) add(TapWarning::kCrc8Mismatch);

  bool mac_ok = false;
  if (mac != nullptr && mac->key_name != nullptr) {
    out->key_name = mac->key_name;
    out->mac_algorithm = mac->algorithm;
    if (mac->verified) {
      mac_ok = true;
    } else if (mac->key_unavailable) {
      add(TapWarning::kMacNotVerified);
    } else {
      add(TapWarning::kMacVerificationFailed);
    }
  } else {
    add(TapWarning::kMacNotVerified);
  }

  const int64_t t = out->fields.timestamp;
  if (t < min_time_ || t > max_time_) add(TapWarning::kClockDriftDetected);
  if (n == kRecordSize) {  // the padding as one word
    uint32_t padding;
    std::memcpy(&padding, p + kPaddingOffset, sizeof(padding));
    if (padding != 0xFFFFFFFFu) add(TapWarning::kPaddingInvalid);
  } else {
    for (size_t i = kPaddingOffset; i < n; ++i) {
      if (p[i] != kPaddingByte) {
        add(TapWarning::kPaddingInvalid);
        break;
      }
    }
    add(TapWarning::kRecordTruncated);
  }
  out->warnings = static_cast<uint16_t>(out->warnings | warnings);
  out->status = crc_ok && mac_ok ? TapStatus::kValid : TapStatus::kFlagged;
}

void TapParser::ParseBatch(uint64_t first_index, const ByteSpan* raws, size_t count,
                           TapResult* out) {
  if (count == 1) return Parse(first_index, raws[0], out);  // without the batch's arrays
  constexpr size_t kChunk = MacVerifier::kMaxBatch;
  size_t decoded[kChunk];  // positions in the chunk of the records that reach the MAC check
  const uint8_t* records[kChunk];
  uint32_t terminals[kChunk];
  uint8_t crcs[kChunk];
  MacVerifier::Outcome macs[kChunk];
  for (size_t first = 0; first < count; first += kChunk) {
    const size_t n = std::min(kChunk, count - first);
    size_t m = 0;
    for (size_t i = 0; i < n; ++i) {
      TapResult* r = &out[first + i];
      if (!Decode(first_index + first + i, raws[first + i], r)) continue;
      decoded[m] = first + i;
      records[m] = r->raw.data();
      terminals[m] = r->fields.terminal_id;
      ++m;
    }
    crypto::Crc8Many(records, kCrcCoveredLength, m, crcs);
    if (verifier_ != nullptr) verifier_->VerifyBatch(records, terminals, m, macs);
    for (size_t k = 0; k < m; ++k) {
      Finish(verifier_ != nullptr ? &macs[k] : nullptr, crcs[k], &out[decoded[k]]);
    }
  }
}

void TapParser::Parse(uint64_t index, ByteSpan raw, TapResult* out) {
  if (!Decode(index, raw, out)) return;
  const uint8_t crc = crypto::Crc8(ByteSpan(raw.data(), kCrcCoveredLength));
  if (verifier_ == nullptr) return Finish(nullptr, crc, out);
  const MacVerifier::Outcome mac = verifier_->Verify(out->raw.data(), out->fields.terminal_id);
  Finish(&mac, crc, out);
}

}  // namespace desfired::tap
