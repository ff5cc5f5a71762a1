// The card operations' test fixture: the in-process emulator (desfire-sim's card model) with the
// demo transit card (sim/images/transit.json: application F51001, AES keys 0 master, 1 read,
// 2 debit, 3 credit; value file 1 full, backup 2 MAC, cyclic tap records 3 MAC, standard 4
// plain with free read, standard 5 full) or a blank card for the issuing calls, a key store that
// holds the card's keys, and a CardContext over them. No protos: core requests only.
#ifndef DESFIRED_TESTS_UNIT_CORE_CARDOPS_FIXTURE_H_
#define DESFIRED_TESTS_UNIT_CORE_CARDOPS_FIXTURE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "core/apdu/status_payload.h"
#include "core/cardops/cardops.h"
#include "core/desfire/card.h"
#include "core/keys/key_store.h"
#include "core/tap/pipeline.h"
#include "gtest/gtest.h"
#include "sim/card/card.h"
#include "sim/image/image.h"
#include "tests/testing/emulator_transport.h"
#include "tests/unit/hex_testing.h"

namespace desfired::cardops {

inline constexpr uint32_t kTransitAid = 0xF51001;
inline constexpr char kReader[] = "Emulated Reader 00 00";

// The transit card's keys (make_transit.py), the blank card's PICC key, and keys to issue with.
inline constexpr char kKeyFile[] = R"(
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

inline Bytes Hex(absl::string_view hex) { return test_util::Hex(hex); }
inline Bytes BytesOf(absl::string_view s) { return Bytes(s.begin(), s.end()); }
inline std::string Str(const Bytes& b) { return std::string(b.begin(), b.end()); }

inline Bytes Pattern(size_t n, uint8_t seed) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(seed + 5 * i);
  return b;
}

inline std::string Reason(const absl::Status& status) {
  return apdu::GetReason(status).value_or("");
}

// The "field" of an INVALID_ARGUMENT from the operations' own checks; "" otherwise.
inline std::string Field(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kInvalidArgument) return "";
  return GetErrorMetadata(status, kMetadataField).value_or("");
}

inline KeyRef Key(const std::string& name, uint8_t number,
                  desfire::AuthScheme scheme = desfire::AuthScheme::kNone) {
  return {.name = name, .key_no = number, .scheme = scheme};
}

class CardOpsTest : public ::testing::Test {
 protected:
  void SetUp() override { Load("transit.json"); }

  void Load(const std::string& image) {
    auto state = sim::LoadImage(std::string(SOURCE_DIR) + "/sim/images/" + image);
    ASSERT_TRUE(state.ok()) << state.status();
    const Bytes uid = state->uid;
    transport_ = std::make_unique<desfired::testing::EmulatorTransport>(*std::move(state));
    card_ = std::make_unique<desfire::DesfireCard>(*transport_);
    auto keys = keys::KeyStore::Parse(kKeyFile, "test-keys");
    ASSERT_TRUE(keys.ok()) << keys.status();
    keys_ = *std::move(keys);
    taps_.keys = &keys_;
    ctx_ = CardContext();
    ctx_.card = card_.get();
    ctx_.uid = uid;
    ctx_.atr = Hex("3b8180018080");
    ctx_.reader = kReader;
    ctx_.keys = &keys_;
    ctx_.taps = &taps_;
  }

  // A request on the transit application (or `aid`) with the reader named.
  template <typename Request>
  Request On(uint32_t aid = kTransitAid) {
    Request r;
    r.target.reader = kReader;
    r.aid = aid;
    return r;
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
  int32_t SimValue() { return SimFile(kTransitAid, 1).value; }

  // Debit on the transit value file with the debit key.
  absl::StatusOr<ValueChange> DebitBy(int32_t amount, bool defer = false) {
    auto r = On<ValueChangeRequest>();
    r.file_no = 1;
    r.auth = Key("app_debit", 2);
    r.amount = amount;
    r.defer_commit = defer;
    return Debit(ctx_, r);
  }

  // The tap records (file 3) with the read key, newest first.
  absl::StatusOr<RecordPage> ReadTaps(int32_t page_size, std::string token) {
    auto r = On<ReadRecordsRequest>();
    r.file_no = 3;
    r.auth = Key("app_read", 1);
    r.page_size = page_size;
    r.page_token = std::move(token);
    return ReadRecords(ctx_, r);
  }

  std::unique_ptr<desfired::testing::EmulatorTransport> transport_;
  std::unique_ptr<desfire::DesfireCard> card_;
  keys::KeyStore keys_;
  tap::TapPipelineConfig taps_;
  CardContext ctx_;
};

// The issuing calls on a blank card.
class AdminTest : public CardOpsTest {
 protected:
  static constexpr uint32_t kAid = 0xA1A2A3;
  void SetUp() override { Load("blank.json"); }

  // Creates `aid` (AES, 3 keys, all zero) with the key settings byte `settings`.
  void CreateApp(uint32_t aid, uint8_t settings) {
    absl::Status created =
        CreateApplication(ctx_, {.target = {.reader = kReader},
                                 .auth = Key("picc", 0),
                                 .application = {.aid = aid,
                                                 .key_settings = settings,
                                                 .num_keys = 3,
                                                 .key_family = desfire::KeyFamily::kAes}});
    ASSERT_TRUE(created.ok()) << created;
  }

  // Creates file `file_no` of `type` in `aid`: access rights read, write and read-write key 1,
  // change key 0; 48 bytes, values 0..1000 (100 at first, limited credit), or 4 records of 16.
  absl::Status MakeFile(uint8_t file_no, desfire::FileType type, desfire::CommMode mode,
                        const std::string& key = "zero_aes", uint32_t aid = kAid) {
    auto create = On<CreateFileRequest>(aid);
    create.auth = Key(key, 0);
    create.file_no = file_no;
    desfire::FileSettings& s = create.settings;
    s.type = type;
    s.comm_mode = mode;
    s.access = {.read = 1, .write = 1, .read_write = 1, .change = 0};
    switch (type) {
      case desfire::FileType::kStandardData:
      case desfire::FileType::kBackupData:
        s.file_size = 48;
        break;
      case desfire::FileType::kValue:
        s.upper_limit = 1000;
        s.limited_credit_enabled = true;
        create.initial_value = 100;
        break;
      default:
        s.record_size = 16;
        s.max_records = 4;
        break;
    }
    return CreateFile(ctx_, create);
  }

  sim::Application* SimApp(uint32_t aid) {
    for (sim::Application& app : state().applications) {
      if (app.aid == aid) return &app;
    }
    return nullptr;
  }
};

}  // namespace desfired::cardops

#endif  // DESFIRED_TESTS_UNIT_CORE_CARDOPS_FIXTURE_H_
