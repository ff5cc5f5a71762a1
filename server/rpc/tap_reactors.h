// The reactors of TapService's calls (tap_service.h), one shape for each kind of call, so that
// every method is admitted and limited the same way:
//
//   UnaryReactor     ParseTaps, VerifySun: holds the call's share of the CallBudget until
//                    gRPC is done with the call (its answer sent or abandoned).
//   ChunkStream      ParseTapStream, VerifySunStream: authorize, then the call in the budget
//                    (TOO_MANY_CALLS) for the stream's life; then one chunk read, worked on
//                    (its bytes charged: IN_FLIGHT_BYTES) and answered at a time — the next
//                    read starts when the answer is written, so a client that does not read
//                    is not buffered without bound; after the client half-closes, a last
//                    answer. A chunk may be worked on another thread (ChunkDone answers it
//                    there). An error about a chunk ends the stream (InChunk); the call is
//                    reported once (Done) however it ends.
//
//   class TapServiceImpl::MyStream final : public ChunkStream<v1::Req, v1::Resp> {
//    public:
//     MyStream(const TapServiceImpl& s, grpc::CallbackServerContext* c)
//         : ChunkStream(s, c, "MyStream") {
//       if (Admit()) ReadNext();
//     }
//    private:
//     void Chunk() override;  // in_ -> out_, charging hold_ first; then ChunkDone(status)
//     void Last() override;    // the closing answer into out_
//   };
//
// Internal to server/rpc (tap_service.cc, tap_sun.cc). Thread-compatible: one thing of a call
// runs at a time here (a read, the chunk's work, a write: never two together), whichever
// thread runs it.
#ifndef DESFIRED_SERVER_RPC_TAP_REACTORS_H_
#define DESFIRED_SERVER_RPC_TAP_REACTORS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "proto/convert/status_convert.h"
#include "server/rpc/call_budget.h"
#include "server/rpc/tap_service.h"

namespace desfired::server {

// `status` about chunk `chunk` of a stream: the message starts "chunk N: ", the reason is
// kept and the metadata "chunk" names it.
absl::Status InChunk(const absl::Status& status, uint64_t chunk);

class TapServiceImpl::UnaryReactor final : public grpc::ServerUnaryReactor {
 public:
  explicit UnaryReactor(CallBudget* budget) : hold(budget) {}
  void OnDone() override { delete this; }

  CallHold hold;
};

template <typename In, typename Out>
class TapServiceImpl::ChunkStream : public grpc::ServerBidiReactor<In, Out> {
 protected:
  // `method` names the stream in Authorize and Done (a literal: it is kept).
  ChunkStream(const TapServiceImpl& service, grpc::CallbackServerContext* context,
              absl::string_view method)
      : service_(service),
        context_(context),
        hold_(service.options_.budget),
        method_(method),
        start_(absl::Now()) {}

  // Authorizes the stream and counts it in the budget; false when refused (the stream has
  // ended with the refusal). The derived constructor calls it first.
  bool Admit() {
    absl::Status admitted = service_.Authorize(context_, method_);
    if (admitted.ok()) admitted = hold_.AddCall(service_.Principal(context_));
    if (!admitted.ok()) End(admitted);
    return admitted.ok();
  }
  // Starts reading the first chunk (after Admit and the stream's own set-up).
  void ReadNext() { this->StartRead(&in_); }

  // The chunk in in_ (the `chunk_`th, 0-based): charged (hold_.Charge), worked on, its answer
  // left in out_; then ChunkDone, once, on this thread or another (the chunk's work may go to
  // a thread of its own: nothing else of the call runs until ChunkDone).
  virtual void Chunk() = 0;
  // The answer after the client half-closed, into out_.
  virtual void Last() = 0;

  // Ends the chunk's work: an error ends the stream as InChunk(error, chunk_), with no answer;
  // otherwise out_ is written and the next chunk read after it.
  void ChunkDone(const absl::Status& worked) {
    in_.Clear();
    if (!worked.ok()) {
      End(InChunk(worked, chunk_));
      return;
    }
    ++chunk_;
    this->StartWrite(&out_);
  }

  // Reports the call and finishes it with `status` (once; later calls do nothing).
  void End(const absl::Status& status) {
    if (ended_) return;
    ended_ = true;
    const grpc::Status grpc_status = ToGrpcStatus(status);
    service_.Done(method_, context_, start_, status);
    this->Finish(grpc_status);
  }

  const TapServiceImpl& service_;
  grpc::CallbackServerContext* const context_;
  CallHold hold_;
  In in_;               // the chunk being read or worked on
  Out out_;             // the answer being written
  uint64_t chunk_ = 0;  // index of the chunk being worked on

 private:
  void OnReadDone(bool ok) final {
    if (!ok) {  // the client half-closed: the last answer
      Last();
      last_ = true;
      this->StartWrite(&out_);
      return;
    }
    Chunk();
  }

  void OnWriteDone(bool ok) final {
    out_.Clear();
    hold_.ReleaseBytes();
    if (!ok) {
      End(absl::CancelledError("the client went away"));
      return;
    }
    if (last_) {
      End(absl::OkStatus());
      return;
    }
    this->StartRead(&in_);
  }

  void OnDone() final {
    // Ended by gRPC without End (not expected: a read or a write is always in flight, and it
    // fails on cancellation): still reported exactly once. hold_ gives back the budget.
    if (!ended_) service_.Done(method_, context_, start_, absl::CancelledError(""));
    delete this;
  }

  const absl::string_view method_;
  const absl::Time start_;
  bool last_ = false;
  bool ended_ = false;  // End ran: the call is reported and finished
};

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_RPC_TAP_REACTORS_H_
