#include "server/rpc/tap_service.h"

#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/apdu/error_metadata.h"
#include "core/apdu/status_payload.h"
#include "core/util/status_reason.h"
#include "proto/convert/status_convert.h"
#include "proto/convert/tap_convert.h"
#include "proto/convert/tap_wire.h"
#include "server/rpc/tap_input.h"
#include "server/rpc/tap_limits.h"
#include "server/rpc/tap_reactors.h"
#include "server/rpc/tap_request_scan.h"

namespace desfired::server {
namespace {

// What one chunk added to a stream's summary: the counts and warnings (the unknown terminal
// and product maps stay out of it).
tap::TapSummary Delta(const tap::TapSummary& now, const tap::TapSummary& before) {
  tap::TapSummary d;
  d.total = now.total - before.total;
  d.valid = now.valid - before.valid;
  d.flagged = now.flagged - before.flagged;
  d.rejected = now.rejected - before.rejected;
  for (size_t i = 0; i < d.warnings.size(); ++i)
    d.warnings[i] = now.warnings[i] - before.warnings[i];
  return d;
}

// ScanTapRequest into `*records` and `*view`.
absl::Status Scan(grpc::ByteBuffer* buffer, size_t max_records, size_t* records, int* view) {
  absl::StatusOr<size_t> n = ScanTapRequest(buffer, max_records, view);
  if (!n.ok()) return n.status();
  *records = *n;
  return absl::OkStatus();
}

// The bytes of `buf` as a message for gRPC, without a copy: gRPC frees them when it is done.
grpc::ByteBuffer TakeBytes(TextBuffer& buf) {
  const size_t size = buf.size();
  if (size == 0) {
    grpc::Slice empty;
    return grpc::ByteBuffer(&empty, 1);
  }
  grpc::Slice slice(buf.Release().release(), size,
                    [](void* bytes) { delete[] static_cast<char*>(bytes); });
  return grpc::ByteBuffer(&slice, 1);
}

// The stream's duplicate detection had to drop a key inside its window: RESOURCE_EXHAUSTED.
absl::Status DedupCapacityError(size_t capacity) {
  absl::Status s = WithReason(
      absl::ResourceExhaustedError(absl::StrCat(
          "the stream's duplicate detection is full (--max_stream_dedup_entries=", capacity,
          " taps within the duplicate window); the results of the chunks acknowledged so far "
          "are complete: continue in a new stream from this chunk")),
      "DEDUP_CAPACITY");
  s = apdu::WithErrorMetadata(std::move(s), apdu::kMetadataLimit, "max_stream_dedup_entries");
  return apdu::WithErrorMetadata(std::move(s), apdu::kMetadataMax, absl::StrCat(capacity));
}

// Parses the `records` records of `request` (scanned; numbered from `first_index`) and appends
// their results in `view` to `out`, as the `results` (field 1) of a ParseTapsResponse or
// ParseTapStreamResponse. The records are read from the request's bytes: no message per record.
absl::Status ParseInto(tap::TapPipeline& pipeline, uint64_t first_index, size_t records,
                       grpc::ByteBuffer* request, int view, TextBuffer* out) {
  const auto result_view = static_cast<v1::TapResultView>(view);
  // About the size of a result of a 32-byte record, so that the buffer rarely grows.
  const size_t per_record = result_view == v1::TAP_RESULT_VIEW_BASIC ? 112 : 224;
  out->Reserve(records * per_record + 256);
  return ProcessTapRequest(pipeline, first_index, request, [&](const tap::TapResult& result) {
    AppendTapResultField(result, result_view, 1, out);
  });
}

}  // namespace

absl::Status InChunk(const absl::Status& status, uint64_t chunk) {
  absl::Status out(status.code(), absl::StrCat("chunk ", chunk, ": ", status.message()));
  status.ForEachPayload(
      [&out](absl::string_view url, const absl::Cord& value) { out.SetPayload(url, value); });
  if (!GetReason(out).has_value()) out = WithReason(std::move(out), ReasonOf(status));
  return apdu::WithErrorMetadata(std::move(out), apdu::kMetadataChunk, absl::StrCat(chunk));
}

TapServiceImpl::TapServiceImpl(Options options, ServerHooks hooks)
    : options_(std::move(options)),
      hooks_(std::move(hooks)),
      worst_result_bytes_(WorstTapResultBytes(options_.pipeline)) {}

void TapServiceImpl::Done(absl::string_view method, grpc::CallbackServerContext* context,
                          absl::Time start, const absl::Status& status) const {
  if (!hooks_.on_call_done) return;
  CallInfo info;
  info.service = "TapService";
  info.method = method;
  info.stream = method == "ParseTapStream" || method == "VerifySunStream";
  info.caller = hooks_.caller ? hooks_.caller(context) : context->peer();
  info.code = static_cast<grpc::StatusCode>(status.code());
  info.reason = ReasonOf(status);
  info.latency = absl::Now() - start;
  info.context = context;
  hooks_.on_call_done(info);
}

absl::StatusOr<std::unique_ptr<tap::TapPipeline>> TapServiceImpl::NewPipeline(
    std::shared_ptr<const keys::KeyStore>& keys) const {
  tap::TapPipelineConfig config = options_.pipeline;
  if (options_.keys != nullptr) {
    keys = options_.keys->Current();
    config.keys = keys.get();
  }
  return tap::TapPipeline::Create(config);
}

absl::Status TapServiceImpl::Authorize(grpc::CallbackServerContext* context,
                                       absl::string_view method) const {
  return hooks_.authorize ? hooks_.authorize(context, method) : absl::OkStatus();
}

std::string TapServiceImpl::Principal(grpc::CallbackServerContext* context) const {
  return hooks_.principal ? hooks_.principal(context) : std::string();
}

void TapServiceImpl::Parsed(const tap::TapSummary& summary) const {
  if (hooks_.on_taps_parsed) hooks_.on_taps_parsed(summary);
}

absl::Status TapServiceImpl::Malformed(absl::Status status, grpc::CallbackServerContext* context,
                                       absl::string_view path) const {
  if (!IsMalformedTapRequest(status)) return status;
  if (hooks_.on_malformed) hooks_.on_malformed(context, path);
  return absl::InvalidArgumentError(
      absl::StrCat("the request is not a valid protobuf message of ", path));
}

absl::Status TapServiceImpl::ParseBatch(grpc::ByteBuffer* request, size_t records, int view,
                                        grpc::ByteBuffer* response,
                                        CentralTapDedup::Session* central) const {
  std::shared_ptr<const keys::KeyStore> keys;
  absl::StatusOr<std::unique_ptr<tap::TapPipeline>> pipeline = NewPipeline(keys);
  if (!pipeline.ok()) return pipeline.status();
  TextBuffer out;  // a ParseTapsResponse: results (1), summary (2)
  uint64_t central_duplicates = 0;
  if (central == nullptr) {
    if (absl::Status s = ParseInto(**pipeline, 0, records, request, view, &out); !s.ok()) return s;
  } else {
    absl::StatusOr<uint64_t> added =
        ParseCentral(*central, **pipeline, 0, records, request, view, &out);
    if (!added.ok()) return added.status();
    central_duplicates = *added;
  }
  const tap::TapSummary counts = WithCentralDuplicates((*pipeline)->summary(), central_duplicates);
  v1::TapSummary summary;
  ToProto(counts, &summary);
  AppendMessageField(summary, 2, &out);
  Parsed(counts);
  *response = TakeBytes(out);
  return absl::OkStatus();
}

void TapServiceImpl::FinishParseTaps(grpc::CallbackServerContext* context, absl::Time start,
                                     grpc::ServerUnaryReactor* reactor, absl::Status status) const {
  status = Malformed(std::move(status), context, "/desfired.v1.TapService/ParseTaps");
  const grpc::Status grpc_status = ToGrpcStatus(status);
  Done("ParseTaps", context, start, status);
  reactor->Finish(grpc_status);
}

grpc::ServerUnaryReactor* TapServiceImpl::ParseTaps(grpc::CallbackServerContext* context,
                                                    const grpc::ByteBuffer* request,
                                                    grpc::ByteBuffer* response) {
  const absl::Time start = absl::Now();
  auto* reactor = new UnaryReactor(options_.budget);
  // The reader only reads; gRPC's own deserializer takes the buffer the same way.
  grpc::ByteBuffer* bytes = const_cast<grpc::ByteBuffer*>(request);
  absl::Status status = Authorize(context, "ParseTaps");
  if (status.ok()) status = reactor->hold.AddCall(Principal(context));
  size_t records = 0;
  int view = 0;
  if (status.ok()) status = Scan(bytes, options_.max_batch, &records, &view);
  if (status.ok()) {
    status = reactor->hold.Charge(TapWorkBytes(bytes->Length(), records, worst_result_bytes_));
  }
  if (status.ok() && options_.central_dedup != nullptr) {
    // Parsed, checked and answered on a thread of the central check (it waits for PostgreSQL).
    options_.central_dedup->Run([this, context, start, reactor, bytes, records, view,
                                 response](CentralTapDedup::Session& session) {
      FinishParseTaps(context, start, reactor,
                      ParseBatch(bytes, records, view, response, &session));
    });
    return reactor;
  }
  if (status.ok()) status = ParseBatch(bytes, records, view, response);
  FinishParseTaps(context, start, reactor, std::move(status));
  return reactor;
}

// ParseTapStream in the streams' shape (tap_reactors.h), with one pipeline for the stream.
// The chunk read and the results written are bytes (raw method); while a chunk is worked on
// its records are read from the request's bytes and its results written as bytes straight from
// the core results (proto/convert/tap_wire.h): no message per record either way.
class TapServiceImpl::StreamReactor final : public ChunkStream<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  StreamReactor(const TapServiceImpl& service, grpc::CallbackServerContext* context)
      : ChunkStream(service, context, "ParseTapStream") {
    if (!Admit()) return;
    absl::StatusOr<std::unique_ptr<tap::TapPipeline>> pipeline = service_.NewPipeline(keys_);
    if (!pipeline.ok()) {
      End(pipeline.status());
      return;
    }
    pipeline_ = *std::move(pipeline);
    ReadNext();
  }

 private:
  // The summary goes last: records_processed (2), summary (3).
  void Last() override {
    TextBuffer out;
    AppendVarintField(processed_, 2, &out);
    v1::TapSummary summary;
    ToProto(WithCentralDuplicates(pipeline_->summary(), central_duplicates_), &summary);
    AppendMessageField(summary, 3, &out);
    out_ = TakeBytes(out);
  }

  // The chunk, answered here, or on a thread of the central check (ParseChunkCentral).
  void Chunk() override {
    bool answered_later = false;
    absl::Status parsed = ParseChunk(&answered_later);
    if (!answered_later) ChunkDone(Malformed(std::move(parsed)));
  }

  absl::Status Malformed(absl::Status status) const {
    return service_.Malformed(std::move(status), context_,
                              "/desfired.v1.TapService/ParseTapStream");
  }

  // The chunk in in_: counted, charged, parsed, and its results into out_; with the central
  // check, handed to its thread (*answered_later), which calls ChunkDone.
  absl::Status ParseChunk(bool* answered_later) {
    size_t records = 0;
    int view = 0;
    if (absl::Status s = Scan(&in_, service_.options_.max_batch, &records, &view); !s.ok()) {
      return s;
    }
    if (absl::Status s =
            hold_.Charge(TapWorkBytes(in_.Length(), records, service_.worst_result_bytes_));
        !s.ok()) {
      return s;
    }
    if (service_.options_.central_dedup != nullptr) {
      *answered_later = true;
      ParseChunkCentral(records, view);
      return absl::OkStatus();
    }
    TextBuffer out;  // a ParseTapStreamResponse: results (1), records_processed (2)
    const tap::TapSummary before = Delta(pipeline_->summary(), tap::TapSummary());  // counts
    absl::Status parsed = ParseInto(*pipeline_, processed_, records, &in_, view, &out);
    if (!parsed.ok()) return parsed;
    if (pipeline_->dedup_evictions() > 0) {
      return DedupCapacityError(service_.options_.pipeline.reconciler.dedup_capacity);
    }
    Answer(records, Delta(pipeline_->summary(), before), out);
    return absl::OkStatus();
  }

  // ParseChunk with the central check, on its thread; it answers or ends the stream there
  // (ChunkDone). A key the stream's own detection dropped at its capacity is still in the
  // central table: no DEDUP_CAPACITY then.
  void ParseChunkCentral(size_t records, int view) {
    service_.options_.central_dedup->Run([this, records, view](CentralTapDedup::Session& session) {
      TextBuffer out;
      const tap::TapSummary before = Delta(pipeline_->summary(), tap::TapSummary());
      absl::StatusOr<uint64_t> added =
          ParseCentral(session, *pipeline_, processed_, records, &in_, view, &out);
      if (!added.ok()) {
        ChunkDone(Malformed(added.status()));
        return;
      }
      central_duplicates_ += *added;
      Answer(records, WithCentralDuplicates(Delta(pipeline_->summary(), before), *added), out);
      ChunkDone(absl::OkStatus());
    });
  }

  // Reports the chunk's `counts` and writes its results in `out` with the acknowledgement.
  void Answer(size_t records, const tap::TapSummary& counts, TextBuffer& out) {
    service_.Parsed(counts);
    processed_ += records;
    AppendVarintField(processed_, 2, &out);
    out_ = TakeBytes(out);
  }

  std::shared_ptr<const keys::KeyStore> keys_;  // the pipeline's keys, for the stream's life
  std::unique_ptr<tap::TapPipeline> pipeline_;
  uint64_t processed_ = 0;
  uint64_t central_duplicates_ = 0;  // DUPLICATE_TAP flags the central check added
};

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* TapServiceImpl::ParseTapStream(
    grpc::CallbackServerContext* context) {
  return new StreamReactor(*this, context);
}

}  // namespace desfired::server
