#include "server/rpc/tap_limits.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>

#include "core/keys/key_store.h"
#include "desfired/v1/taps.pb.h"
#include "google/protobuf/io/coded_stream.h"
#include "proto/convert/tap_convert.h"
#include "server/rpc/request_limits.h"

namespace desfired::server {
namespace {

// Encoded size of one element of a repeated message field: tag, length, message.
size_t AsElement(size_t message_bytes) {
  return 1 + google::protobuf::io::CodedOutputStream::VarintSize64(message_bytes) + message_bytes;
}

size_t EncodedResult(const tap::TapResult& result) {
  v1::TapResult proto;
  ToProto(result, &proto);
  return AsElement(proto.ByteSizeLong());
}

}  // namespace

size_t WorstTapResultBytes(const tap::TapPipelineConfig& config) {
  const Bytes raw(kMaxTapRecordBytes, 0xFF);
  const std::string key_name(keys::kMaxKeyNameLength, 'k');
  const std::string terminal_name(config.terminals ? config.terminals->longest_name() : 0, 't');
  const std::string fare_name(config.tariffs ? config.tariffs->longest_name() : 0, 'f');

  tap::TapResult decoded;
  decoded.index = std::numeric_limits<uint64_t>::max();
  decoded.status = tap::TapStatus::kFlagged;
  for (int w = tap::kFirstWarning; w <= tap::kLastWarning; ++w) {
    decoded.add(static_cast<tap::TapWarning>(w));
  }
  decoded.raw = ByteSpan(raw.data(), tap::kRecordSize);
  decoded.fields.type = tap::RecordType::kTransfer;
  decoded.fields.timestamp = std::numeric_limits<uint32_t>::max();
  decoded.fields.terminal_id = 0xFFFFFF;
  decoded.fields.fare_product = 0xFFFF;
  decoded.fields.zone_route = 0xFF;
  decoded.fields.crc8 = 0xFF;
  decoded.mac_algorithm = crypto::MacAlgorithm::kAes128CmacEv2;
  decoded.key_name = &key_name;
  decoded.has_clock_offset = true;
  decoded.clock_offset = std::numeric_limits<int64_t>::min();
  decoded.corrected_time = std::numeric_limits<int64_t>::min();
  if (config.terminals) decoded.terminal_name = &terminal_name;
  if (config.tariffs) decoded.fare_product_name = &fare_name;
  size_t worst = EncodedResult(decoded);

  for (tap::RejectReason reason : {tap::RejectReason::kTooShort, tap::RejectReason::kTooLong,
                                   tap::RejectReason::kBadRecordType}) {
    tap::TapResult rejected;
    rejected.index = std::numeric_limits<uint64_t>::max();
    rejected.status = tap::TapStatus::kRejected;
    rejected.reject = reason;
    rejected.reject_detail = std::numeric_limits<uint32_t>::max();
    rejected.raw = ByteSpan(raw.data(), raw.size());
    worst = std::max(worst, EncodedResult(rejected));
  }

  // One unknown terminal / fare product more in the summary: an IdCount at its widest.
  v1::TapSummary::IdCount id;
  id.set_id(std::numeric_limits<uint32_t>::max());
  id.set_count(std::numeric_limits<uint64_t>::max());
  if (config.terminals) worst += AsElement(id.ByteSizeLong());
  if (config.tariffs) worst += AsElement(id.ByteSizeLong());
  return worst;
}

size_t MaxTapBatchFor(size_t max_message_bytes, size_t worst_result_bytes) {
  if (max_message_bytes <= kTapResponseOverheadBytes || worst_result_bytes == 0) return 0;
  return (max_message_bytes - kTapResponseOverheadBytes) / worst_result_bytes;
}

size_t TapWorkBytes(size_t request_bytes, size_t records, size_t worst_result_bytes) {
  return request_bytes + records * (kTapWorkBytesPerRecord + worst_result_bytes);
}

size_t SunWorkBytes(size_t request_bytes, size_t messages) {
  return 3 * request_bytes + messages * kTapWorkBytesPerRecord;
}

}  // namespace desfired::server
