// TapService (desfired.v1): ParseTaps (one batch) and ParseTapStream (a bidirectional stream
// of chunks for large inputs), both through core/tap's TapPipeline — the same parser as
// desfirectl and ReadTapLog; VerifySun and VerifySunStream, the same forms for SUN messages
// (core/tap/sun_verifier.h). The streams share one reactor (tap_reactors.h).
//
// Flow control of ParseTapStream: the server reads the next chunk only after the results of
// the previous one are written, so a client that does not read results is not buffered
// without bound. After the client half-closes, a last message carries the summary.
//
// Limits (docs/server.md, "Limits and memory"), checked in this order, each before the work
// it guards:
//   authorize            the hooks (identity, role, streams per caller);
//   calls                CallBudget::AddCall: TOO_MANY_CALLS, for the call's life (every
//                        method: a VerifySun call counts as a ParseTaps call does);
//   records              counted in the encoded message (tap_request_scan.h) before it is
//                        parsed: at most `max_batch` per batch or chunk, each at most
//                        kMaxTapInputBytes (INVALID_ARGUMENT naming the field);
//   bytes                CallBudget::AddBytes of TapWorkBytes (SunWorkBytes for VerifySun,
//                        after its request's checks): IN_FLIGHT_BYTES, while the batch or
//                        chunk is worked on and its answer written;
//   duplicate keys       ParseTapStream: a chunk that made the stream's duplicate detection
//                        drop a key inside its window (ReconcilerOptions::dedup_capacity)
//                        ends the stream with RESOURCE_EXHAUSTED / DEDUP_CAPACITY (metadata
//                        limit, max, chunk) instead of its results.
// A chunk that is not a valid ParseTapStreamRequest ends the stream with INVALID_ARGUMENT and
// metadata "chunk" (its 0-based index): the stream never ends OK with a chunk left out.
// The server's start-up check keeps max_batch × WorstTapResultBytes within the gRPC message
// limit (tap_limits.h), so an admitted batch can always be answered.
//
// Memory: the methods take their messages as bytes (raw gRPC methods) so that the records are
// counted before they are parsed. A ParseTaps batch is parsed and answered on one protobuf
// arena, freed once the answer is encoded; a ParseTapStream chunk and its results each on an
// arena reset for the next chunk. (A batch of 10,000 records is some 100,000 small messages
// and strings; a malloc and a free for each cost more than the parsing itself:
// docs/benchmarks.md.)
//
// Thread-safe.
#ifndef DESFIRED_SERVER_RPC_TAP_SERVICE_H_
#define DESFIRED_SERVER_RPC_TAP_SERVICE_H_

#include <functional>
#include <memory>
#include <string>

#include "core/tap/pipeline.h"
#include "core/tap/sun_verifier.h"
#include "desfired/v1/taps.grpc.pb.h"
#include "server/rpc/call_budget.h"
#include "server/rpc/hooks.h"
#include "server/rpc/tap_central.h"
#include "server/security/key_ring.h"

namespace desfired::server {

class TapServiceImpl final
    : public v1::TapService::WithCallbackMethod_VerifySunStream<
          v1::TapService::WithCallbackMethod_VerifySun<
              v1::TapService::WithRawCallbackMethod_ParseTaps<
                  v1::TapService::WithRawCallbackMethod_ParseTapStream<v1::TapService::Service>>>> {
 public:
  struct Options {
    tap::TapPipelineConfig pipeline;  // tables owned by the server; its keys are replaced by:
    const KeyRing* keys = nullptr;    // the store current when a call starts (nullptr: none)
    size_t max_batch = 50000;
    // Calls and bytes in flight per caller and overall; nullptr: no limits. Must outlive the
    // service.
    CallBudget* budget = nullptr;
    // VerifySun's read counters (--sun_counters); nullptr: not checked. Must outlive the
    // service.
    tap::SunCounterStore* sun_counters = nullptr;
    // --tap_dedup postgresql: duplicates across instances through the central table
    // (tap_central.h); batches and chunks are then worked on its threads. nullptr: each call
    // detects the duplicates within itself. Must outlive the service.
    CentralTapDedup* central_dedup = nullptr;
  };
  TapServiceImpl(Options options, ServerHooks hooks);

  grpc::ServerUnaryReactor* ParseTaps(grpc::CallbackServerContext* context,
                                      const grpc::ByteBuffer* request,
                                      grpc::ByteBuffer* response) override;
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* ParseTapStream(
      grpc::CallbackServerContext* context) override;
  // SUN messages through core/tap/sun_verifier.h with the key store current now (tap_sun.cc).
  grpc::ServerUnaryReactor* VerifySun(grpc::CallbackServerContext* context,
                                      const v1::VerifySunRequest* request,
                                      v1::VerifySunResponse* response) override;
  // The same in chunks, one response per chunk and the stream's counts last (tap_sun.cc).
  grpc::ServerBidiReactor<v1::VerifySunRequest, v1::VerifySunResponse>* VerifySunStream(
      grpc::CallbackServerContext* context) override;

 private:
  // The reactors (tap_reactors.h): the unary calls', the streams' shared shape, and the two
  // streams.
  class UnaryReactor;
  template <typename In, typename Out>
  class ChunkStream;
  class StreamReactor;
  class SunStreamReactor;
  // One VerifySun batch (or stream chunk) into `response`, its results indexed from
  // `first_index`; the request's checks and key errors as VerifySun answers them. `hold` is
  // charged SunWorkBytes (tap_limits.h) after the checks, before the messages are verified.
  absl::Status VerifySunBatch(const v1::VerifySunRequest& request, uint64_t first_index,
                              CallHold& hold, v1::VerifySunResponse* response) const;
  // A pipeline over the key store current now; `keys` keeps that store alive while it is used.
  absl::StatusOr<std::unique_ptr<tap::TapPipeline>> NewPipeline(
      std::shared_ptr<const keys::KeyStore>& keys) const;
  void Done(absl::string_view method, grpc::CallbackServerContext* context, absl::Time start,
            const absl::Status& status) const;
  absl::Status Authorize(grpc::CallbackServerContext* context, absl::string_view method) const;
  // The caller's name for the budget: "" for a caller the server cannot identify.
  std::string Principal(grpc::CallbackServerContext* context) const;
  // Reports the records one batch or chunk parsed (not the stream's running total).
  void Parsed(const tap::TapSummary& summary) const;
  // `status` as the caller gets it: bytes that are not a valid message of the method at `path`
  // (IsMalformedTapRequest) become INVALID_ARGUMENT in the words of the other methods' and are
  // reported through hooks_.on_malformed; any other status is returned as it is.
  absl::Status Malformed(absl::Status status, grpc::CallbackServerContext* context,
                         absl::string_view path) const;
  // Parses and answers one ParseTaps batch of `records` records; with `central`, checked
  // against the central table on that session (ParseCentral).
  absl::Status ParseBatch(grpc::ByteBuffer* request, size_t records, int view,
                          grpc::ByteBuffer* response,
                          CentralTapDedup::Session* central = nullptr) const;
  // Reports and finishes a ParseTaps call with `status`.
  void FinishParseTaps(grpc::CallbackServerContext* context, absl::Time start,
                       grpc::ServerUnaryReactor* reactor, absl::Status status) const;

  const Options options_;
  const ServerHooks hooks_;
  const size_t worst_result_bytes_;  // WorstTapResultBytes(options_.pipeline)
};

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_RPC_TAP_SERVICE_H_
