// Fuzz target: the host's decoding of LRP card answers (core/desfire session_lrp.cc and the LRP
// branches of session.cc): AuthenticateLRPFirst / NonFirst answers and MACed or enciphered
// responses in an LRP session. The card's replies come from the input; the commands sent are
// not checked.
//
// Input: byte 0 picks the scenario (even: the authentication itself gets fuzzed replies; odd:
// a valid AuthenticateLRPFirst — the lrp-auth-first exchange of ev3_vectors.md §2 — comes
// first, then the commands get fuzzed replies); then replies as [length] [bytes] ... (each
// reply is data ‖ SW1 SW2 as a card would send it).
#include <cstddef>
#include <cstdint>
#include <deque>
#include <iterator>

#include "absl/status/status.h"
#include "core/apdu/transport.h"
#include "core/desfire/session.h"
#include "core/util/bytes.h"

namespace {

using desfired::Bytes;
using desfired::ByteSpan;
using desfired::MutableByteSpan;
namespace desfire = desfired::desfire;

// lrp-auth-first (icedevml/nfc-ev2-crypto test_lrp_auth.py): RndA, then the card's answers.
constexpr uint8_t kRndA[16] = {0x74, 0xD7, 0xDF, 0x6A, 0x2C, 0xEC, 0x0B, 0x72,
                               0xB4, 0x12, 0xDE, 0x0D, 0x2B, 0x11, 0x17, 0xE6};
constexpr uint8_t kAnswer1[] = {0x01, 0x56, 0x10, 0x9A, 0x31, 0x97, 0x7C, 0x85, 0x53, 0x19,
                                0xCD, 0x46, 0x18, 0xC9, 0xD2, 0xAE, 0xD2, 0x91, 0xAF};
constexpr uint8_t kAnswer2[] = {0xF4, 0xFC, 0x20, 0x9D, 0x9D, 0x60, 0x62, 0x35, 0x88,
                                0xB2, 0x99, 0xFA, 0x5D, 0x6B, 0x2D, 0x71, 0x01, 0x25,
                                0xF8, 0x54, 0x7D, 0x9F, 0xB8, 0xD5, 0x72, 0xC9, 0x0D,
                                0x2C, 0x2A, 0x14, 0xE2, 0x35, 0x91, 0x00};

class FuzzTransport : public desfired::apdu::CardTransport {
 public:
  std::deque<Bytes> replies;
  absl::StatusOr<Bytes> Transmit(ByteSpan) override {
    if (replies.empty()) return absl::UnavailableError("no more replies");
    Bytes r = std::move(replies.front());
    replies.pop_front();
    return r;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  FuzzTransport transport;
  const bool established = (data[0] & 1) != 0;
  if (established) {
    transport.replies.emplace_back(std::begin(kAnswer1), std::end(kAnswer1));
    transport.replies.emplace_back(std::begin(kAnswer2), std::end(kAnswer2));
  }
  for (size_t i = 1; i < size;) {
    const size_t n = data[i++];
    const size_t take = n < size - i ? n : size - i;
    transport.replies.emplace_back(data + i, data + i + take);
    i += take;
  }
  desfire::Channel channel(transport);
  desfire::Session session(channel, [](MutableByteSpan out) {
    for (size_t i = 0; i < out.size(); ++i) out[i] = kRndA[i % sizeof(kRndA)];
    return absl::OkStatus();
  });
  const Bytes key(16, 0);
  if (!session.Authenticate(desfire::AuthScheme::kLrp, 3, desfired::crypto::KeyType::kAes128, key)
           .ok()) {
    return 0;
  }
  (void)session.Execute({.ins = desfire::Ins::kGetCardUid,
                         .command_mode = desfire::CommMode::kMac,
                         .response_mode = desfire::CommMode::kFull,
                         .response_length = 7});
  (void)session.Execute({.ins = desfire::Ins::kReadData,
                         .header = {0x01, 0, 0, 0, 0, 0, 0},
                         .response_mode = desfire::CommMode::kFull});
  (void)session.Execute({.ins = desfire::Ins::kGetValue,
                         .header = {0x02},
                         .command_mode = desfire::CommMode::kMac,
                         .response_mode = desfire::CommMode::kMac});
  (void)session.AuthenticateLrpNonFirst(0, key);
  (void)session.Execute({.ins = desfire::Ins::kWriteData,
                         .header = {0x01, 0, 0, 0, 3, 0, 0},
                         .data = {1, 2, 3},
                         .command_mode = desfire::CommMode::kFull,
                         .response_mode = desfire::CommMode::kMac});
  return 0;
}
