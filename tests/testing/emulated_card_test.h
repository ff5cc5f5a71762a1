// EmulatedCardTest: a gtest fixture over the in-process emulator (desfire-sim's card model) with
// a card image from sim/images (the demo transit card unless told otherwise), a key store
// parsed from a key file, and a cardops::CardContext over them. The card-operation tests
// (tests/unit/core/cardops, tests/unit/server/rpc) and the change recorder's tests build on it.
//
// The transit card (sim/images/transit.json): application F51001, AES keys 0 master, 1 read,
// 2 debit, 3 credit; value file 1 full, backup 2 MAC, cyclic tap records 3 MAC, standard 4
// plain with free read, standard 5 full. The users define SOURCE_DIR.
#ifndef DESFIRED_TESTS_TESTING_EMULATED_CARD_TEST_H_
#define DESFIRED_TESTS_TESTING_EMULATED_CARD_TEST_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "core/cardops/context.h"
#include "core/desfire/card.h"
#include "core/keys/key_store.h"
#include "core/tap/pipeline.h"
#include "gtest/gtest.h"
#include "sim/card/card.h"
#include "sim/image/image.h"
#include "tests/testing/emulator_transport.h"
#include "tests/unit/hex_testing.h"

namespace desfired::testing {

inline constexpr uint32_t kEmulatedTransitAid = 0xF51001;
inline constexpr char kEmulatedReader[] = "Emulated Reader 00 00";

// The transit card's keys (make_transit.py), the blank card's PICC key, and keys to issue with.
inline constexpr char kCardOpsKeyFile[] = R"(
key picc        DES     0000000000000000
key app_master  AES128  00112233445566778899aabbccddeeff  version=1
key app_read    AES128  a0a1a2a3a4a5a6a7a8a9aaabacadaeaf  version=1
key app_debit   AES128  b0b1b2b3b4b5b6b7b8b9babbbcbdbebf  version=1
key app_credit  AES128  c0c1c2c3c4c5c6c7c8c9cacbcccdcecf  version=1
key zero_aes    AES128  00000000000000000000000000000000
key new_key1    AES128  f0e1d2c3b4a5968778695a4b3c2d1e0f  version=7
key cards       AES128  00112233445566778899aabbccddeeff  diversify=an10922 system=4e5850
key tap         AES128  2b7e151628aed2a6abf7158809cf4f3c
tap static key=tap
)";

class EmulatedCardTest : public ::testing::Test {
 protected:
  // Loads sim/images/`image` onto a fresh emulated card, the keys of `key_file`, and a new
  // context over them (reader kEmulatedReader, the card's UID, an ATR, the tap keys).
  void Load(const std::string& image, const char* key_file = kCardOpsKeyFile) {
    auto state = sim::LoadImage(std::string(SOURCE_DIR) + "/sim/images/" + image);
    ASSERT_TRUE(state.ok()) << state.status();
    const Bytes uid = state->uid;
    transport_ = std::make_unique<EmulatorTransport>(*std::move(state));
    card_ = std::make_unique<desfire::DesfireCard>(*transport_);
    auto keys = keys::KeyStore::Parse(key_file, "test-keys");
    ASSERT_TRUE(keys.ok()) << keys.status();
    keys_ = *std::move(keys);
    taps_.keys = &keys_;
    ctx_ = cardops::CardContext();
    ctx_.card = card_.get();
    ctx_.uid = uid;
    ctx_.atr = test_util::Hex("3b8180018080");
    ctx_.reader = kEmulatedReader;
    ctx_.keys = &keys_;
    ctx_.taps = &taps_;
  }

  sim::CardState& state() { return transport_->card().mutable_state(); }
  sim::File& SimFile(uint32_t aid, uint8_t file_no) {
    for (sim::Application& app : state().applications) {
      if (app.aid != aid) continue;
      if (sim::File* f = app.FindFile(file_no)) return *f;
    }
    ADD_FAILURE() << "no file " << int{file_no};
    static sim::File none;
    return none;
  }
  // The transit value file's value on the card.
  int32_t SimValue() { return SimFile(kEmulatedTransitAid, 1).value; }

  std::unique_ptr<EmulatorTransport> transport_;
  std::unique_ptr<desfire::DesfireCard> card_;
  keys::KeyStore keys_;
  tap::TapPipelineConfig taps_;
  cardops::CardContext ctx_;
};

}  // namespace desfired::testing

#endif  // DESFIRED_TESTS_TESTING_EMULATED_CARD_TEST_H_
