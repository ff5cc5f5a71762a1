// What every card operation's request names first: the card it is meant for (Target) and the
// key it authenticates with (KeyRef). The requests of the operations (card_info.h, data.h,
// values.h, ...) hold them.
//
//   cardops::ReadDataRequest r{.target = {.reader = "ACS ACR122U 00 00",
//                                         .expected_uid = uid},  // optional guard
//                              .aid = 0xF51001,
//                              .auth = {.name = "transit_read", .key_no = 1},
//                              .file_no = 5};
//
// How the prologue uses them (the expected-UID guard, the key from the store, the scheme):
// session.h.
//
// Thread-safe: value types.
#ifndef DESFIRED_CORE_CARDOPS_TARGET_H_
#define DESFIRED_CORE_CARDOPS_TARGET_H_

#include <cstdint>
#include <string>

#include "core/desfire/session.h"
#include "core/util/bytes.h"

namespace desfired::cardops {

// The card a request is meant for.
struct Target {
  // The reader the request names. The operations run on the CardContext of that reader's
  // worker; they report CardContext::reader, not this.
  std::string reader = {};
  // Empty: whatever card is on the reader. Otherwise the card's UID (as the reader reports
  // it) must be this, or the operation fails with CARD_MISMATCH before any APDU.
  Bytes expected_uid = {};
};

// The key a request authenticates with: a name in the key store (never key bytes).
struct KeyRef {
  std::string name = {};  // empty: no authentication (key_no and scheme are then not used)
  uint8_t key_no = 0;
  // kNone: desfire::DefaultScheme(the key's type).
  desfire::AuthScheme scheme = desfire::AuthScheme::kNone;
};

}  // namespace desfired::cardops

#endif  // DESFIRED_CORE_CARDOPS_TARGET_H_
