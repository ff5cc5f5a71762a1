// Helpers shared by the core/desfire tests.
#ifndef DESFIRED_TESTS_UNIT_CORE_DESFIRE_TEST_UTIL_H_
#define DESFIRED_TESTS_UNIT_CORE_DESFIRE_TEST_UTIL_H_

#include <algorithm>
#include <array>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "core/apdu/scripted_transport.h"
#include "core/apdu/status_payload.h"
#include "core/crypto/block_cipher.h"
#include "core/crypto/cmac.h"
#include "core/desfire/channel.h"
#include "core/desfire/session.h"
#include "core/util/bytes.h"

namespace desfired::desfire {

// Starts an EV2 session from published session keys (the app notes print keys, TI and
// counters without the authentication that produced them).
class SessionTestPeer {
 public:
  static void StartEv2(Session& s, const Bytes& enc, const Bytes& mac, const Bytes& ti,
                       uint16_t counter) {
    s.Invalidate();
    s.enc_.emplace(*crypto::BlockCipher::Create(crypto::KeyType::kAes128, enc));
    s.cmac_.emplace(*crypto::Cmac::Create(crypto::KeyType::kAes128, mac));
    std::copy(ti.begin(), ti.end(), s.ti_.begin());
    s.cmd_ctr_ = counter;
    s.scheme_ = AuthScheme::kEv2;
  }
  // An LRP session from SesAuthMasterKey (session_keys.h), TI, CmdCtr and EncCtr.
  static void StartLrp(Session& s, const Bytes& master, const Bytes& ti, uint16_t counter,
                       uint32_t enc_counter) {
    s.Invalidate();
    s.lrp_.emplace(*LrpMessaging::Create(master, enc_counter));
    std::copy(ti.begin(), ti.end(), s.ti_.begin());
    s.cmd_ctr_ = counter;
    s.scheme_ = AuthScheme::kLrp;
  }
  static std::string Iv(const Session& s, bool command, uint16_t counter) {
    std::array<uint8_t, 16> iv = s.Ev2Iv(command, counter);
    return HexEncode(iv);
  }
};

}  // namespace desfired::desfire

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
  ScriptedSession(const std::vector<apdu::ScriptedTransport::HexExchange>& script,
                  std::vector<Bytes> rnd_a)
      : transport(*apdu::ScriptedTransport::FromHex(script)),
        channel(transport),
        session(channel, FixedRandom(std::move(rnd_a))) {}
  apdu::ScriptedTransport transport;
  Channel channel;
  Session session;
};

inline std::string ReasonOf(const absl::Status& s) { return apdu::GetReason(s).value_or("<none>"); }

}  // namespace desfired::desfire::testing

#endif  // DESFIRED_TESTS_UNIT_CORE_DESFIRE_TEST_UTIL_H_
