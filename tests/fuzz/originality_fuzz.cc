// Fuzz target: the host's handling of originality data (core/desfire/originality.h): a card's
// ReadSig answer through DesfireCard::ReadSignature and DecodeReadSigAnswer, the signature
// through VerifyOriginality under every product's keys, and the extra-keys text
// (ParseOriginalityKeys).
//
// Input: byte 0 even: the rest is the card's reply to ReadSig (data ‖ SW1 SW2), byte 1 picks
// the product; odd: the rest is an originality keys text.
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "core/apdu/transport.h"
#include "core/desfire/card.h"
#include "core/desfire/originality.h"
#include "core/util/bytes.h"

namespace {

namespace desfire = desfired::desfire;

class OneReply : public desfired::apdu::CardTransport {
 public:
  explicit OneReply(desfired::ByteSpan reply) : reply_(reply.begin(), reply.end()) {}
  absl::StatusOr<desfired::Bytes> Transmit(desfired::ByteSpan) override {
    if (used_) return absl::UnavailableError("one reply only");
    used_ = true;
    return reply_;
  }

 private:
  desfired::Bytes reply_;
  bool used_ = false;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const desfired::ByteSpan rest(data + 1, size - 1);
  if ((data[0] & 1) != 0) {
    (void)desfire::ParseOriginalityKeys(
        absl::string_view(reinterpret_cast<const char*>(rest.data()), rest.size()));
    return 0;
  }
  const auto product = static_cast<desfire::CardProduct>(data[1] % 8);
  OneReply transport(rest.subspan(1));
  desfire::DesfireCard card(transport);
  absl::StatusOr<desfired::Bytes> sig = card.ReadSignature();
  const uint8_t uid[7] = {0x04, 0x51, 0x8D, 0xFA, 0xA9, 0x61, 0x80};
  if (sig.ok()) (void)desfire::VerifyOriginality(product, uid, *sig);
  // The raw bytes as a signature too (any length).
  (void)desfire::VerifyOriginality(product, uid, rest);
  return 0;
}
