#include "core/apdu/scripted_transport.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/util/status_macros.h"

namespace desfired::apdu {

absl::StatusOr<ScriptedTransport> ScriptedTransport::FromHex(
    const std::vector<HexExchange>& script) {
  std::vector<Exchange> exchanges;
  exchanges.reserve(script.size());
  for (const HexExchange& hex : script) {
    Exchange e;
    DESFIRED_ASSIGN_OR_RETURN(e.command, HexDecode(hex.command));
    DESFIRED_ASSIGN_OR_RETURN(e.response, HexDecode(hex.response));
    exchanges.push_back(std::move(e));
  }
  return ScriptedTransport(std::move(exchanges));
}

absl::StatusOr<Bytes> ScriptedTransport::Transmit(ByteSpan command) {
  if (next_ >= script_.size()) {
    return absl::FailedPreconditionError(
        absl::StrFormat("script used up after %d exchanges; unexpected command %s", script_.size(),
                        HexEncode(command)));
  }
  const Exchange& e = script_[next_];
  if (ByteSpan(e.command) != command) {
    return absl::FailedPreconditionError(
        absl::StrFormat("scripted exchange %d: expected command %s, got %s", next_,
                        HexEncode(e.command), HexEncode(command)));
  }
  ++next_;
  return e.response;
}

std::string ScriptedTransport::Remaining() const {
  std::string out =
      absl::StrFormat("%d of %d exchanges unused", script_.size() - next_, script_.size());
  for (size_t i = next_; i < script_.size(); ++i) {
    absl::StrAppend(&out, "\n  #", i, " ", HexEncode(script_[i].command));
  }
  return out;
}

}  // namespace desfired::apdu
