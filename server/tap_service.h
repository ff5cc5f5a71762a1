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
// Thread-safe.
#ifndef DESFIRED_SERVER_TAP_SERVICE_H_
#define DESFIRED_SERVER_TAP_SERVICE_H_

#include <functional>

#include "core/tap/pipeline.h"
#include "desfired/v1/taps.grpc.pb.h"
#include "server/card_service.h"

namespace desfired::server {

class TapServiceImpl final : public v1::TapService::CallbackService {
 public:
  struct Options {
    tap::TapPipelineConfig pipeline;  // keys and tables owned by the server
    size_t max_batch = 100000;
  };
  TapServiceImpl(Options options, ServerHooks hooks)
      : options_(std::move(options)), hooks_(std::move(hooks)) {}

  grpc::ServerUnaryReactor* ParseTaps(grpc::CallbackServerContext* context,
                                      const v1::ParseTapsRequest* request,
                                      v1::ParseTapsResponse* response) override;
  grpc::ServerBidiReactor<v1::ParseTapStreamRequest, v1::ParseTapStreamResponse>* ParseTapStream(
      grpc::CallbackServerContext* context) override;

 private:
  class StreamReactor;
  void Done(absl::string_view method, grpc::CallbackServerContext* context, absl::Time start,
            grpc::StatusCode code) const;

  const Options options_;
  const ServerHooks hooks_;
};

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_TAP_SERVICE_H_
