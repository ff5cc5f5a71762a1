// Helpers for the card-side tests: hex literals, a scripted random source, transcripts.
#ifndef DESFIRED_TESTS_SIM_SIM_TEST_UTIL_H_
#define DESFIRED_TESTS_SIM_SIM_TEST_UTIL_H_

#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "core/util/bytes.h"
#include "gtest/gtest.h"
#include "sim/card/auth.h"
#include "sim/card/card.h"
#include "sim/card/protocol.h"

namespace desfired::sim::testing {

inline Bytes H(absl::string_view hex) {
  std::string compact;
  for (char c : hex) {
    if (c != ' ') compact.push_back(c);
  }
  auto b = HexDecode(compact);
  EXPECT_TRUE(b.ok()) << hex;
  return b.ok() ? *b : Bytes{};
}

// A random source that hands out queued byte strings in order (each draw must match the
// length of the next queued string; an empty queue yields 0xA5 bytes and fails the test).
class ScriptedRandom {
 public:
  void Push(Bytes b) { queue_->push_back(std::move(b)); }
  RandomSource Source() {
    auto q = queue_;
    return [q](MutableByteSpan out) {
      if (q->empty()) {
        ADD_FAILURE() << "random source exhausted";
        std::fill(out.begin(), out.end(), 0xA5);
        return;
      }
      Bytes b = std::move(q->front());
      q->pop_front();
      EXPECT_EQ(b.size(), out.size());
      std::copy_n(b.begin(), std::min(b.size(), out.size()), out.begin());
    };
  }

 private:
  std::shared_ptr<std::deque<Bytes>> queue_ = std::make_shared<std::deque<Bytes>>();
};

// Sends the wrapped native command 90 INS 00 00 [Lc data] 00 and returns the reply's data;
// `*sw` gets its status byte. The reply must end in 91 xx.
inline Bytes SendWrapped(Card& card, uint8_t ins, const Bytes& data, Sw* sw) {
  Bytes apdu = {kClaNativeWrapped, ins, 0, 0};
  if (!data.empty()) {
    apdu.push_back(static_cast<uint8_t>(data.size()));
    apdu.insert(apdu.end(), data.begin(), data.end());
  }
  apdu.push_back(0);
  Bytes r = card.Transmit(apdu);
  EXPECT_GE(r.size(), 2u);
  EXPECT_EQ(r[r.size() - 2], kSw1Desfire);
  *sw = static_cast<Sw>(r.back());
  r.resize(r.size() - 2);
  return r;
}

struct Exchange {
  const char* command;   // C-APDU hex
  const char* response;  // expected R-APDU hex
};

// Sends every command and compares the whole response APDU.
inline void RunTranscript(Card& card, const std::vector<Exchange>& transcript) {
  for (const Exchange& e : transcript) {
    EXPECT_EQ(HexEncode(card.Transmit(H(e.command))), HexEncode(H(e.response)))
        << "command " << e.command;
  }
}

}  // namespace desfired::sim::testing

#endif  // DESFIRED_TESTS_SIM_SIM_TEST_UTIL_H_
