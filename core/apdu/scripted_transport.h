// ScriptedTransport: a CardTransport that replays a recorded transcript. Each exchange names
// the exact command expected and the response to give; any other command fails the call.
// Used to run the host code against real-card traces (tests/unit/core/desfire).
//
//   DESFIRED_ASSIGN_OR_RETURN(ScriptedTransport t, ScriptedTransport::FromHex({
//       {"90 60 00 00 00", "04 01 01 01 00 1a 05 91 af"},
//       {"90 af 00 00 00", ""},          // empty reply: the card was removed
//   }));
//   ... run the code under test over `t` ...
//   EXPECT_TRUE(t.Finished()) << t.Remaining();
//
// Errors from Transmit:
//   FAILED_PRECONDITION  the command differs from the next scripted one (the message shows
//                        the index, the expected and the actual hex), or the script is used up.
// FromHex returns INVALID_ARGUMENT for malformed hex.
//
// Thread-compatible.
#ifndef DESFIRED_CORE_APDU_SCRIPTED_TRANSPORT_H_
#define DESFIRED_CORE_APDU_SCRIPTED_TRANSPORT_H_

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/apdu/transport.h"
#include "core/util/bytes.h"

namespace desfired::apdu {

class ScriptedTransport final : public CardTransport {
 public:
  struct Exchange {
    Bytes command;
    Bytes response;
  };
  struct HexExchange {
    std::string command;   // spaces allowed
    std::string response;  // "" or one byte: the card was removed
  };

  explicit ScriptedTransport(std::vector<Exchange> script) : script_(std::move(script)) {}
  static absl::StatusOr<ScriptedTransport> FromHex(const std::vector<HexExchange>& script);

  absl::StatusOr<Bytes> Transmit(ByteSpan command) override;

  // True when every exchange was used.
  bool Finished() const { return next_ == script_.size(); }
  // How many exchanges were used.
  size_t position() const { return next_; }
  // A description of the unused exchanges, for test failure messages.
  std::string Remaining() const;

 private:
  std::vector<Exchange> script_;
  size_t next_ = 0;
};

}  // namespace desfired::apdu

#endif  // DESFIRED_CORE_APDU_SCRIPTED_TRANSPORT_H_
