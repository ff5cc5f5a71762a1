#include "core/tap/parser.h"

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

void TapParser::Parse(uint64_t index, ByteSpan raw, TapResult* out) {
  *out = TapResult{};
  out->index = index;
  out->raw = raw;
  const size_t n = raw.size();
  if (n < kMinRecordSize) {
    out->reject = RejectReason::kTooShort;
    out->reject_detail = static_cast<uint32_t>(n);
    return;
  }
  if (n > kRecordSize) {
    out->reject = RejectReason::kTooLong;
    out->reject_detail = n > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(n);
    return;
  }
  const uint8_t* p = raw.data();
  const uint8_t type = p[kTypeOffset];
  if (type < static_cast<uint8_t>(RecordType::kEntry) ||
      type > static_cast<uint8_t>(RecordType::kTransfer)) {
    out->reject = RejectReason::kBadRecordType;
    out->reject_detail = type;
    return;
  }

  TapFields& f = out->fields;
  f.type = static_cast<RecordType>(type);
  f.timestamp = LoadLe32(p + kTimestampOffset);
  f.terminal_id = LoadLe24(p + kTerminalOffset);
  f.fare_product = LoadLe16(p + kFareOffset);
  f.zone_route = p[kZoneOffset];
  std::memcpy(f.uid, p + kUidOffset, kUidLength);
  std::memcpy(f.mac, p + kMacOffset, kMacLength);
  f.crc8 = p[kCrcOffset];

  const bool crc_ok = crypto::Crc8(ByteSpan(p, kCrcCoveredLength)) == f.crc8;
  if (!crc_ok) out->add(TapWarning::kCrc8Mismatch);

  bool mac_ok = false;
  if (verifier_ != nullptr) {
    const MacVerifier::Outcome o = verifier_->Verify(p, f.terminal_id);
    out->key_name = o.key_name;
    out->mac_algorithm = o.algorithm;
    if (o.key_name == nullptr) {
      out->add(TapWarning::kMacNotVerified);
    } else if (o.verified) {
      mac_ok = true;
    } else {
      out->add(TapWarning::kMacVerificationFailed);
    }
  } else {
    out->add(TapWarning::kMacNotVerified);
  }

  const int64_t t = f.timestamp;
  if (t < min_time_ || t > max_time_) out->add(TapWarning::kClockDriftDetected);
  for (size_t i = kPaddingOffset; i < n; ++i) {
    if (p[i] != kPaddingByte) {
      out->add(TapWarning::kPaddingInvalid);
      break;
    }
  }
  if (n < kRecordSize) out->add(TapWarning::kRecordTruncated);

  out->status = crc_ok && mac_ok ? TapStatus::kValid : TapStatus::kFlagged;
}

}  // namespace desfired::tap
