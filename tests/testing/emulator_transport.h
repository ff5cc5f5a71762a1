// EmulatorTransport: a CardTransport over desfire-sim's card model in this process. Every APDU
// goes straight to sim::Card::Transmit; nothing else stands between host and card, so tests can
// look at (and change) the card's memory directly and count the APDUs sent.
//
//   auto state = sim::LoadImage(SOURCE_DIR "/sim/images/transit.json");
//   EmulatorTransport transport(*std::move(state));
//   desfire::DesfireCard card(transport);
//   ... transport.card().mutable_state() ... transport.transmitted() ...
//
// Thread-compatible: one thread drives the card.
#ifndef DESFIRED_TESTS_TESTING_EMULATOR_TRANSPORT_H_
#define DESFIRED_TESTS_TESTING_EMULATOR_TRANSPORT_H_

#include <cstddef>
#include <utility>

#include "absl/status/statusor.h"
#include "core/apdu/transport.h"
#include "core/util/bytes.h"
#include "sim/card/card.h"

namespace desfired::testing {

class EmulatorTransport final : public apdu::CardTransport {
 public:
  explicit EmulatorTransport(sim::CardState state) : card_(std::move(state)) {}
  absl::StatusOr<Bytes> Transmit(ByteSpan command) override {
    ++transmitted_;
    return card_.Transmit(command);
  }
  sim::Card& card() { return card_; }
  // APDUs sent so far.
  size_t transmitted() const { return transmitted_; }

 private:
  sim::Card card_;
  size_t transmitted_ = 0;
};

}  // namespace desfired::testing

#endif  // DESFIRED_TESTS_TESTING_EMULATOR_TRANSPORT_H_
