// Helpers shared by the core/desfire tests.
#ifndef DESFIRED_TESTS_UNIT_CORE_DESFIRE_TEST_UTIL_H_
#define DESFIRED_TESTS_UNIT_CORE_DESFIRE_TEST_UTIL_H_

#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "core/apdu/status_payload.h"
#include "core/desfire/channel.h"
#include "core/desfire/scripted_transport.h"
#include "core/desfire/session.h"
#include "core/util/bytes.h"

namespace desfired::desfire::testing {

// Decodes hex or aborts (test data only).
inline Bytes H(absl::string_view hex) {
  absl::StatusOr<Bytes> b = HexDecode(hex);
  if (!b.ok()) {
    std::cerr << "bad hex in test: " << hex << "\n";
    std::abort();
  }
  return *std::move(b);
}

inline Bytes Ascii(absl::string_view s) { return Bytes(s.begin(), s.end()); }

// A random source that returns the given values in turn (RndA of the published vectors).
inline RandomSource FixedRandom(std::vector<Bytes> values) {
  auto state = std::make_shared<std::pair<std::vector<Bytes>, size_t>>(std::move(values), 0);
  return [state](MutableByteSpan out) -> absl::Status {
    if (state->second >= state->first.size()) {
      return absl::InternalError("test random source used up");
    }
    const Bytes& v = state->first[state->second++];
    if (v.size() != out.size()) return absl::InternalError("test random: wrong length");
    std::copy(v.begin(), v.end(), out.begin());
    return absl::OkStatus();
  };
}

// A session over a scripted transport: the card's side of a published transcript, replayed,
// with the host's RndA values taken from the transcript too.
struct ScriptedSession {
  ScriptedSession(const std::vector<ScriptedTransport::HexExchange>& script,
                  std::vector<Bytes> rnd_a)
      : transport(*ScriptedTransport::FromHex(script)),
        channel(transport),
        session(channel, FixedRandom(std::move(rnd_a))) {}
  ScriptedTransport transport;
  Channel channel;
  Session session;
};

inline std::string ReasonOf(const absl::Status& s) { return apdu::GetReason(s).value_or("<none>"); }

}  // namespace desfired::desfire::testing

#endif  // DESFIRED_TESTS_UNIT_CORE_DESFIRE_TEST_UTIL_H_
