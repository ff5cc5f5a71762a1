// CardTransport: the seam between card protocol (core/desfire) and reader (PC/SC in
// core/pcsc, emulator, scripted replay). It moves one raw APDU to the card and one raw
// response back; it knows nothing about DESFire, so readers depend on core/apdu only.
//
//   class PcscTransport final : public CardTransport { ... };
//   DESFIRED_ASSIGN_OR_RETURN(Bytes reply, transport.Transmit(apdu_bytes));
//
// Errors an implementation returns from Transmit:
//   UNAVAILABLE, reason CARD_REMOVED   the card is gone (or the reader lost it)
//   UNAVAILABLE                        the reader / service is temporarily unreachable
//   FAILED_PRECONDITION                (ScriptedTransport) the command differs from the script
// A reply shorter than 2 bytes may be returned as is: the channel turns it into
// CARD_REMOVED.
//
// Thread-compatible: one worker owns a transport and the card behind it.
#ifndef DESFIRED_CORE_APDU_TRANSPORT_H_
#define DESFIRED_CORE_APDU_TRANSPORT_H_

#include "absl/status/statusor.h"
#include "core/util/bytes.h"

namespace desfired::apdu {

class CardTransport {
 public:
  virtual ~CardTransport() = default;

  // Sends `command` (a complete APDU) and returns the complete response (data ‖ SW1 SW2).
  virtual absl::StatusOr<Bytes> Transmit(ByteSpan command) = 0;
};

}  // namespace desfired::apdu

#endif  // DESFIRED_CORE_APDU_TRANSPORT_H_
