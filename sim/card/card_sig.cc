// Card::ReadSig (card.h): the originality signature, ECDSA on P-224 over the UID left-padded
// to 28 bytes (ev3_vectors.md §5), signed with the card's test key (core/crypto only).
#include "core/crypto/ecdsa_p224.h"
#include "sim/card/card.h"

namespace desfired::sim {

Card::Result Card::ReadSig(ByteSpan data) {
  if (originality_key_.empty()) return Error(Sw::kIllegalCommand);
  if (data.size() != 1) return Error(Sw::kLengthError);
  if (data[0] != 0x00) return Error(Sw::kParameterError);  // the only address
  Bytes digest(crypto::kP224FieldBytes, 0);
  std::copy(state_.uid.begin(), state_.uid.end(), digest.end() - state_.uid.size());
  absl::StatusOr<Bytes> sig = crypto::P224Sign(originality_key_, digest);
  if (!sig.ok()) return Error(Sw::kPiccIntegrityError);
  Result r = Raw(Sw::kSignature);  // plain r ‖ s with 91 90, in or out of a session
  r.data = *std::move(sig);
  return r;
}

}  // namespace desfired::sim
