// ServerHooks: the seams through which security, the audit ledger, metrics and logs see every
// CardService and TapService call. DesfiredServer fills them in (server.cc); a service calls
// them, in this order:
//
//   authorize(context, method)   before anything else; a non-OK status fails the call with it
//                                 (UNAUTHENTICATED / TOKEN_MISSING, PERMISSION_DENIED /
//                                 ROLE_DENIED, RESOURCE_EXHAUSTED / TOO_MANY_STREAMS).
//                                 For a stream it is the stream's admission: a stream that is
//                                 admitted gets exactly one on_call_done when it ends.
//   caller(context)              who is calling, for the ledger and the logs.
//   principal(context)           who is calling, for the limits per caller: a token's NAME or
//                                "cert:CN"; empty for a caller the server cannot identify.
//   key_check(context)           card calls: the caller's key policy; its check runs before
//                                 anything is recorded or queued and again on the reader's
//                                 worker before the first APDU (PERMISSION_DENIED /
//                                 KEY_ROLE_DENIED).
//   on_taps_parsed(summary)      after each ParseTaps batch / ParseTapStream chunk.
//   on_malformed(context, path)  TapService, whose methods read their requests as bytes: a
//                                request or chunk that is not a valid protobuf message of the
//                                method at `path` ("/desfired.v1.TapService/ParseTaps"). The
//                                other methods' are reported by MalformedRequestInterceptors.
//   on_call_done(info)           once per call, when it finishes (also for refused calls).
//
// Health checks and reflection do not pass through the hooks (they stay open to everyone).
//
// Thread-safe: the hooks are called from gRPC's and the workers' threads, concurrently.
#ifndef DESFIRED_SERVER_RPC_HOOKS_H_
#define DESFIRED_SERVER_RPC_HOOKS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/tap/summary.h"
#include "grpcpp/support/status.h"

namespace grpc {
class CallbackServerContext;
}

namespace desfired::keys {
class KeyStore;
}

namespace desfired::server {

// A key a card request names, and where the request would present it to the card.
struct KeyPresentation {
  std::string key_name;  // a key store name (never key bytes)
  uint32_t aid = 0;      // 0: the card (PICC) level
  uint8_t key_no = 0;
};

// Whether the call's caller may have desfired present `keys`, looked up in `store` (nullptr:
// no store), in a call of `method` (server/security/key_policy.h). Thread-safe.
using KeyCheck = std::function<absl::Status(const keys::KeyStore* store, absl::string_view method,
                                            const std::vector<KeyPresentation>& keys)>;

// One finished call, as the hooks see it.
struct CallInfo {
  absl::string_view service;  // "CardService" or "TapService"
  absl::string_view method;   // "Debit", "WatchCards", "ParseTaps", ...
  std::string caller;
  std::string request_id;  // empty when the request has none
  std::string reader;      // empty when the request names none
  grpc::StatusCode code = grpc::StatusCode::OK;
  std::string reason;  // ErrorInfo.reason of a failed call
  absl::Duration latency;
  bool replayed = false;  // answered from the ledger without touching the card
  // A call that went through the audit ledger: its outcome ("COMMITTED", "REPLAYED",
  // "NOT_COMMITTED", "UNKNOWN"; server/readers/change_event.h). Empty for other calls.
  absl::string_view change_outcome;
  // A stream (WatchCards, ParseTapStream): latency is its lifetime, and CANCELLED is its
  // client ending it.
  bool stream = false;
  // The call's context, as given to authorize: for matching the end of a call with its
  // admission (stream counts). Valid during on_call_done only.
  const grpc::CallbackServerContext* context = nullptr;
};

struct ServerHooks {
  std::function<absl::Status(grpc::CallbackServerContext*, absl::string_view method)> authorize =
      nullptr;
  // Default (unset): the peer address.
  std::function<std::string(grpc::CallbackServerContext*)> caller = nullptr;
  // Default (unset): every caller is anonymous ("").
  std::function<std::string(grpc::CallbackServerContext*)> principal = nullptr;
  // The key policy of a card call's caller, taken once on the RPC thread after authorize. The
  // check it returns runs there against the current key store, before anything is recorded or
  // queued, and again on the reader's worker against the job's own store (a SIGHUP reload may
  // come between) before the first APDU. Unset, or an empty check: every key may be presented.
  std::function<KeyCheck(grpc::CallbackServerContext*)> key_check = nullptr;
  std::function<void(const tap::TapSummary&)> on_taps_parsed = nullptr;
  std::function<void(grpc::CallbackServerContext*, absl::string_view path)> on_malformed = nullptr;
  std::function<void(const CallInfo&)> on_call_done = nullptr;
};

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_RPC_HOOKS_H_
