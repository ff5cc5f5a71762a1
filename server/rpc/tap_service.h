// TapService (desfired.v1): ParseTaps (one batch) and ParseTapStream (a bidirectional stream
// of chunks for large inputs), both through core/tap's TapPipeline — the same parser as
// desfirectl and ReadTapLog.
//
// Flow control of ParseTapStream: the server reads the next chunk only after the results of
// the previous one are written, so a client that does not read results is not buffered
// without bound. After the client half-closes, a last message carries the summary.
//
// Limits: a ParseTaps batch, and a ParseTapStream chunk, hold at most `max_batch` records
// (INVALID_ARGUMENT naming `records` beyond it); gRPC's message size limit bounds the bytes.
//
// Memory: the request and the response of a ParseTaps call live on one protobuf arena, freed
// when the call ends; a ParseTapStream chunk and its results each on an arena reset for the
// next chunk. (A batch of 10,000 records is some 100,000 small messages and strings; a malloc
// and a free for each cost more than the parsing itself: docs/benchmarks.md.)
//
// Thread-safe.
#ifndef DESFIRED_SERVER_RPC_TAP_SERVICE_H_
#define DESFIRED_SERVER_RPC_TAP_SERVICE_H_

#include <functional>
#include <memory>

#include "core/tap/pipeline.h"
#include "desfired/v1/taps.grpc.pb.h"
#include "server/rpc/hooks.h"
#include "server/security/key_ring.h"

namespace desfired::server {

class TapServiceImpl final : public v1::TapService::CallbackService {
 public:
  struct Options {
    tap::TapPipelineConfig pipeline;  // tables owned by the server; its keys are replaced by:
    const KeyRing* keys = nullptr;    // the store current when a call starts (nullptr: none)
    size_t max_batch = 100000;
  };
  TapServiceImpl(Options options, ServerHooks hooks);

  grpc::ServerUnaryReactor* ParseTaps(grpc::CallbackServerContext* context,
                                      const v1::ParseTapsRequest* request,
                                      v1::ParseTapsResponse* response) override;
  grpc::ServerBidiReactor<v1::ParseTapStreamRequest, v1::ParseTapStreamResponse>* ParseTapStream(
      grpc::CallbackServerContext* context) override;

 private:
  class StreamReactor;
  // A pipeline over the key store current now; `keys` keeps that store alive while it is used.
  absl::StatusOr<std::unique_ptr<tap::TapPipeline>> NewPipeline(
      std::shared_ptr<const keys::KeyStore>& keys) const;
  void Done(absl::string_view method, grpc::CallbackServerContext* context, absl::Time start,
            const absl::Status& status) const;
  absl::Status Authorize(grpc::CallbackServerContext* context, absl::string_view method) const;
  // Reports the records one batch or chunk parsed (not the stream's running total).
  void Parsed(const tap::TapSummary& summary) const;

  const Options options_;
  const ServerHooks hooks_;
  // ParseTaps' messages, one arena per call; set as the method's allocator.
  const std::unique_ptr<grpc::MessageAllocator<v1::ParseTapsRequest, v1::ParseTapsResponse>>
      allocator_;
};

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_RPC_TAP_SERVICE_H_
