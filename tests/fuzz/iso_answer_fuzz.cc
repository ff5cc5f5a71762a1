// Fuzz target: the host's ISO/IEC 7816-4 file commands (core/desfire/iso_apdu.h,
// DesfireCard::IsoReadBinary / IsoUpdateBinary / IsoReadRecords / IsoAppendRecord /
// IsoSelectFile): the answers of a card to them, and the arguments they are built from.
//
// Input: byte 0 picks the call and its arguments (low 3 bits the call, the rest the file and
// the length); byte 1 an offset; the rest is the card's answers, each one length byte
// followed by that many bytes (data ‖ SW1 SW2), replayed in order (then the card is gone).
// DecodeIsoAnswer also gets the whole tail as one answer.
#include <cstddef>
#include <cstdint>
#include <optional>

#include "core/desfire/card.h"
#include "core/desfire/iso_apdu.h"
#include "core/util/bytes.h"
#include "tests/fuzz/fuzz_replies.h"

namespace {

namespace desfire = desfired::desfire;
using desfired::Bytes;
using desfired::ByteSpan;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const ByteSpan rest(data + 2, size - 2);
  (void)desfire::DecodeIsoAnswer(rest, data[1]);
  desfired::fuzz::FuzzReplies transport(rest);
  desfire::DesfireCard card(transport);
  const uint8_t pick = data[0];
  const desfire::IsoFile file =
      (pick & 0x08) ? std::nullopt : std::optional<uint8_t>(pick >> 3 & 0x1F);
  const uint32_t offset = static_cast<uint32_t>(data[1]) << ((pick & 0x80) ? 7 : 0);
  const Bytes payload(pick >> 4, 0xA5);
  switch (pick & 0x07) {
    case 0:
      (void)card.IsoReadBinary(file, offset, pick >> 3);
      break;
    case 1:
      (void)card.IsoReadBinary(file, offset, 0);
      break;
    case 2:
      (void)card.IsoUpdateBinary(file, offset, payload, {.commit = (pick & 0x40) != 0});
      break;
    case 3:
      (void)card.IsoReadRecords(file, data[1], pick >> 5);
      break;
    case 4:
      (void)card.IsoAppendRecord(file, payload);
      break;
    case 5:
      (void)card.IsoSelectFile(desfire::IsoSelectBy::kDfName, ByteSpan(desfire::kNdefDfName));
      (void)card.IsoReadBinary(file, offset, 0);
      break;
    default:
      (void)card.IsoSelectFile(desfire::IsoSelectBy::kChildEf, ByteSpan(data, 2));
      (void)card.IsoReadRecords(std::nullopt, 1, 0);
      break;
  }
  return 0;
}
