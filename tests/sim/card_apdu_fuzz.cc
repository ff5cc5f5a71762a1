// Fuzz target: the card's APDU dispatcher. The input is a sequence of APDUs, each one
// length byte followed by that many bytes (a short tail is one last APDU). The card holds an
// application with one file of each type and free access, so the fuzzer reaches the file
// commands, chaining, transactions and the Transaction MAC; the random source is fixed, so runs are
// repeatable. Every answer must be at least one byte (native) or two (APDU) and nothing may crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "sim/card/card.h"
#include "sim/card/model.h"

namespace {

using desfired::Bytes;
using desfired::sim::AccessRights;
using desfired::sim::Application;
using desfired::sim::CardState;
using desfired::sim::File;
using desfired::sim::FileType;

CardState FuzzState() {
  CardState s = CardState::Blank();
  Application app;
  app.aid = 0x000001;
  app.key_settings = 0x0F;
  app.key_family = desfired::crypto::KeyType::kAes128;
  app.keys.assign(3, desfired::sim::Key{desfired::crypto::KeyType::kAes128, Bytes(16, 0), 0});
  const AccessRights free_access{0xE, 0xE, 0xE, 0xE};
  const FileType types[] = {FileType::kStandard, FileType::kBackup, FileType::kValue,
                            FileType::kLinearRecord, FileType::kCyclicRecord};
  uint8_t id = 0;
  for (FileType t : types) {
    File f;
    f.id = id++;
    f.type = t;
    f.access = free_access;
    f.data.assign(t == FileType::kStandard || t == FileType::kBackup ? 64 : 0, 0);
    f.upper_limit = 1000;
    f.limited_credit_enabled = true;
    f.record_size = 8;
    f.max_records = 4;
    app.files.push_back(f);
  }
  // A TransactionMAC file (free read, CommitReaderID disabled, so that every commit MACs):
  // every command above also feeds its TMI.
  File tmac;
  tmac.id = id;
  tmac.type = FileType::kTransactionMac;
  tmac.access = AccessRights{0xE, 0xF, 0xF, 0xE};
  tmac.tmac_key.assign(16, 0x11);
  app.files.push_back(tmac);
  s.applications.push_back(app);
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  desfired::sim::Card card(FuzzState(), [](desfired::MutableByteSpan out) {
    for (uint8_t& b : out) b = 0x5A;
  });
  size_t pos = 0;
  while (pos < size) {
    const size_t len = data[pos++];
    const size_t n = len < size - pos ? len : size - pos;
    const Bytes reply = card.Transmit(desfired::ByteSpan(data + pos, n));
    if (reply.empty()) std::abort();
    pos += n;
  }
  return 0;
}
