// The card operations' test fixture: the emulated card of tests/testing/emulated_card_test.h
// with the demo transit card, or a blank card for the issuing calls, and the core requests the
// tests make. No protos: core requests only.
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
#include "tests/testing/emulated_card_test.h"
#include "tests/unit/hex_testing.h"

namespace desfired::cardops {

inline constexpr uint32_t kTransitAid = desfired::testing::kEmulatedTransitAid;
inline constexpr char const* kReader = desfired::testing::kEmulatedReader;

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

class CardOpsTest : public desfired::testing::EmulatedCardTest {
 protected:
  void SetUp() override { Load("transit.json"); }

  // A request on the transit application (or `aid`) with the reader named.
  template <typename Request>
  Request On(uint32_t aid = kTransitAid) {
    Request r;
    r.target.reader = kReader;
    r.aid = aid;
    return r;
  }

  // A request on file `file_no` of the transit application (or `aid`) with the key `auth`.
  template <typename Request>
  Request OnFile(decltype(Request{}.file_no) file_no, KeyRef auth, uint32_t aid = kTransitAid) {
    Request r = On<Request>(aid);
    r.file_no = file_no;
    r.auth = std::move(auth);
    return r;
  }

  // Debit on the transit value file with the debit key.
  absl::StatusOr<ValueChange> DebitBy(int32_t amount, bool defer = false) {
    auto r = OnFile<ValueChangeRequest>(1, Key("app_debit", 2));
    r.amount = amount;
    r.defer_commit = defer;
    return Debit(ctx_, r);
  }

  // CommitTransaction / AbortTransaction of DebitBy's session (the debit key).
  TransactionRequest DebitTransaction() {
    auto r = On<TransactionRequest>();
    r.auth = Key("app_debit", 2);
    return r;
  }

  // The tap records (file 3) with the read key, newest first.
  absl::StatusOr<RecordPage> ReadTaps(int32_t page_size, std::string token) {
    auto r = OnFile<ReadRecordsRequest>(3, Key("app_read", 1));
    r.page_size = page_size;
    r.page_token = std::move(token);
    return ReadRecords(ctx_, r);
  }
};

// The issuing calls on a blank card.
class AdminTest : public CardOpsTest {
 protected:
  static constexpr uint32_t kAid = 0xA1A2A3;
  void SetUp() override { Load("blank.json"); }

  // A ChangeKey of key 1 of kAid (the zero key of CreateApp, zero_aes) to the store's key
  // `new_key_name`, authenticated with key 0 (zero_aes).
  ChangeKeyRequest ChangeKey1To(const std::string& new_key_name) {
    auto change = On<ChangeKeyRequest>(kAid);
    change.auth = Key("zero_aes", 0);
    change.key_no = 1;
    change.new_key_name = new_key_name;
    change.old_key_name = "zero_aes";
    return change;
  }

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
    auto create = OnFile<CreateFileRequest>(file_no, Key(key, 0), aid);
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
