// Fuzz target: the host's Transaction MAC answers (core/desfire/tmac.h, card_tmac.cc):
// CommitTransaction's TMC ‖ TMV (DecodeCommitAnswer, DesfireCard::CommitTransactionMac, a Debit
// that asks for the MAC), EncTMRI (DecryptPreviousReaderId), GetFileSettings of a
// TransactionMAC file, and VerifyTransactionMac over whatever decoded: errors, never a crash,
// and never "verified" for bytes the key did not MAC.
//
// Input: byte 0 picks the call; the rest is the card's answers, each one length byte followed
// by that many bytes (data ‖ 91 status), replayed in order (then the card is gone). The
// decoders also get the whole tail as one answer.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "core/desfire/card.h"
#include "core/desfire/card_types.h"
#include "core/desfire/tmac.h"
#include "core/util/bytes.h"
#include "tests/fuzz/fuzz_replies.h"

namespace {

namespace desfire = desfired::desfire;
using desfired::Bytes;
using desfired::ByteSpan;

const Bytes kKey(16, 0x5A);
const Bytes kUid = {0x04, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const ByteSpan rest(data + 1, size - 1);
  desfire::TransactionMac mac;
  if (desfire::DecodeCommitAnswer(rest, mac).ok()) {
    if (mac.tmc != desfired::LoadLe32(rest.data()) || mac.tmv.size() != desfire::kTmvLength)
      std::abort();
    // An empty TMI's MAC is not these bytes unless they are its MAC: check it either way.
    (void)desfire::VerifyTransactionMac(kKey, kUid, mac);
  }
  absl::StatusOr<desfire::TmacSessionKeys> keys = desfire::DeriveTmacSessionKeys(kKey, 1, kUid);
  if (keys.ok()) (void)desfire::DecryptPreviousReaderId(*keys, rest);
  (void)desfire::DecodeFileSettings(rest);

  desfired::fuzz::FuzzReplies transport(rest);
  desfire::DesfireCard card(transport);
  switch (data[0] & 0x03) {
    case 0:
      (void)card.CommitTransactionMac();
      break;
    case 1:
      (void)card.Debit(data[0] >> 3 & 0x1F, 1 + (data[0] >> 2),
                       desfire::TxOptions{.transaction_mac = true});
      break;
    case 2:
      (void)card.GetFileSettings(data[0] >> 3 & 0x1F);
      (void)card.ReadData(data[0] >> 3 & 0x1F, 0, 12);
      break;
    default:
      (void)card.CommitReaderId(Bytes(16, data[0]));
      break;
  }
  if (card.last_transaction_mac().has_value() &&
      card.last_transaction_mac()->tmv.size() != desfire::kTmvLength) {
    std::abort();
  }
  return 0;
}
