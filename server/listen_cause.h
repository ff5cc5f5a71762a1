// Why a listen address cannot be listened on, for the start-up error
// "cannot listen on 127.0.0.1:50051: address in use". gRPC's ServerBuilder only says that
// it failed; this binds a socket of our own to the same address afterwards and names the
// errno (or the name resolution failure) it gets.
//
//   ListenFailureCause("127.0.0.1:50051")  → "address in use"
//   ListenFailureCause("10.9.9.9:50051")   → "address not available on this host"
//   ListenFailureCause("nosuchhost:1")     → "cannot resolve 'nosuchhost': ..."
//   → "" when the address binds now (the cause was elsewhere, or has gone).
//
// `listen` is host:port with an IPv6 host in brackets ("[::1]:50051"). The probe socket is
// closed before returning; nothing listens.
//
// Thread-safe.
#ifndef DESFIRED_SERVER_LISTEN_CAUSE_H_
#define DESFIRED_SERVER_LISTEN_CAUSE_H_

#include <string>

#include "absl/strings/string_view.h"

namespace desfired::server {

std::string ListenFailureCause(absl::string_view listen);

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_LISTEN_CAUSE_H_
