// Validate (server/rpc/card_validation.h): every bad field is named by its proto path, and the
// requests the card-operation tests make (tests/unit/core/cardops, card_ops_test.cc) are valid.
// CardValidationTest.<name> holds the validation asserts of the card test of that name whose
// card part runs in tests/unit/core/cardops.
#include "server/rpc/card_validation.h"

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "core/apdu/error_metadata.h"
#include "core/cardops/data.h"
#include "gtest/gtest.h"
#include "proto/convert/status_convert.h"
#include "tests/unit/server/rpc/card_requests.h"

namespace desfired::server {
namespace {

using testing::CreateAppOf;
using testing::DebitOf;
using testing::Field;
using testing::kAdminAid;
using testing::kReader;
using testing::kTransitAid;
using testing::MakeFileOf;
using testing::On;
using testing::OnFile;
using testing::ReadTapsOf;
using testing::SetAuth;

struct InvalidCase {
  const char* name;
  std::function<absl::Status()> validate;
  const char* field;
};

template <typename Request>
Request Valid(uint32_t aid = kTransitAid) {
  return On<Request>(aid);
}

std::vector<InvalidCase> InvalidCases() {
  std::vector<InvalidCase> cases;
  auto add = [&cases](const char* name, const char* field, std::function<absl::Status()> f) {
    cases.push_back({name, std::move(f), field});
  };
  add("no reader", "target.reader", [] {
    v1::ReadDataRequest r = Valid<v1::ReadDataRequest>();
    r.mutable_target()->clear_reader();
    return Validate(r);
  });
  add("uid of 5 bytes", "target.expected_uid", [] {
    v1::ReadDataRequest r = Valid<v1::ReadDataRequest>();
    r.mutable_target()->set_expected_uid("12345");
    return Validate(r);
  });
  add("aid beyond 24 bits", "aid", [] { return Validate(Valid<v1::ReadDataRequest>(0x1000000)); });
  add("aid 0 for a file", "aid", [] { return Validate(Valid<v1::GetValueRequest>(0)); });
  add("file_no 32", "file_no", [] {
    v1::ReadDataRequest r = Valid<v1::ReadDataRequest>();
    r.set_file_no(32);
    return Validate(r);
  });
  add("offset beyond 24 bits", "offset", [] {
    v1::ReadDataRequest r = Valid<v1::ReadDataRequest>();
    r.set_offset(0x1000000);
    return Validate(r);
  });
  add("length beyond 24 bits", "length", [] {
    v1::ReadDataRequest r = Valid<v1::ReadDataRequest>();
    r.set_length(0x1000000);
    return Validate(r);
  });
  add("unknown communication mode", "communication_mode", [] {
    v1::ReadDataRequest r = Valid<v1::ReadDataRequest>();
    r.set_communication_mode(static_cast<v1::CommunicationMode>(9));
    return Validate(r);
  });
  add("empty write", "data", [] { return Validate(Valid<v1::WriteDataRequest>()); });
  add("write over the limit", "data", [] {
    v1::WriteDataRequest r = Valid<v1::WriteDataRequest>();
    r.set_data(std::string(cardops::kMaxWriteBytes + 1, 'x'));
    return Validate(r);
  });
  add("write past 24 bits", "offset", [] {
    v1::WriteRecordRequest r = Valid<v1::WriteRecordRequest>();
    r.set_offset(0xFFFFFF);
    r.set_data("ab");
    return Validate(r);
  });
  add("request id too long", "request_id", [] {
    v1::WriteDataRequest r = Valid<v1::WriteDataRequest>();
    r.set_data("x");
    r.set_request_id(std::string(129, 'a'));
    return Validate(r);
  });
  add("request id with a newline", "request_id", [] {
    v1::ClearRecordFileRequest r = Valid<v1::ClearRecordFileRequest>();
    r.set_request_id("a\nb");
    return Validate(r);
  });
  add("bad key name", "auth.key_name", [] {
    v1::ReadDataRequest r = Valid<v1::ReadDataRequest>();
    r.mutable_auth()->set_key_name("no spaces");
    return Validate(r);
  });
  add("key number without name", "auth.key_name", [] {
    v1::ReadDataRequest r = Valid<v1::ReadDataRequest>();
    r.mutable_auth()->set_key_number(3);
    return Validate(r);
  });
  add("key number 14", "auth.key_number", [] {
    v1::ReadDataRequest r = Valid<v1::ReadDataRequest>();
    SetAuth(r.mutable_auth(), "k", 14);
    return Validate(r);
  });
  add("card level key 1", "auth.key_number", [] {
    v1::GetCardInfoRequest r;
    r.mutable_target()->set_reader(kReader);
    SetAuth(r.mutable_auth(), "k", 1);
    return Validate(r);
  });
  add("unknown scheme", "auth.scheme", [] {
    v1::ReadDataRequest r = Valid<v1::ReadDataRequest>();
    SetAuth(r.mutable_auth(), "k", 1, static_cast<v1::AuthScheme>(7));
    return Validate(r);
  });
  add("debit of 0", "amount", [] { return Validate(Valid<v1::DebitRequest>()); });
  add("negative credit", "amount", [] {
    v1::CreditRequest r = Valid<v1::CreditRequest>();
    r.set_amount(-5);
    return Validate(r);
  });
  add("negative limited credit", "amount", [] {
    v1::LimitedCreditRequest r = Valid<v1::LimitedCreditRequest>();
    r.set_amount(-1);
    return Validate(r);
  });
  add("negative page size", "page_size", [] {
    v1::ReadRecordsRequest r = Valid<v1::ReadRecordsRequest>();
    r.set_page_size(-1);
    return Validate(r);
  });
  add("negative page size (applications)", "page_size", [] {
    v1::ListApplicationsRequest r;
    r.mutable_target()->set_reader(kReader);
    r.set_page_size(-10);
    return Validate(r);
  });
  add("malformed page token", "page_token", [] {
    v1::ListFilesRequest r = Valid<v1::ListFilesRequest>();
    r.set_page_token("abc");
    return Validate(r);
  });
  add("page token with a sign", "page_token", [] {
    v1::ReadRecordsRequest r = Valid<v1::ReadRecordsRequest>();
    r.set_page_token("+4");
    return Validate(r);
  });
  add("tap log max records", "max_records", [] {
    v1::ReadTapLogRequest r = Valid<v1::ReadTapLogRequest>();
    r.set_max_records(0x1000000);
    return Validate(r);
  });
  add("format without key", "auth.key_name", [] {
    v1::FormatCardRequest r;
    r.mutable_target()->set_reader(kReader);
    r.mutable_target()->set_expected_uid(std::string(7, '\x04'));
    return Validate(r);
  });
  add("application aid 0", "aid", [] {
    v1::CreateApplicationRequest r = Valid<v1::CreateApplicationRequest>(0);
    return Validate(r);
  });
  add("application without settings", "key_settings",
      [] { return Validate(Valid<v1::CreateApplicationRequest>(1)); });
  add("application with 15 keys", "key_count", [] {
    v1::CreateApplicationRequest r = Valid<v1::CreateApplicationRequest>(1);
    r.mutable_key_settings()->set_configuration_changeable(true);
    r.set_key_count(15);
    return Validate(r);
  });
  add("application without family", "key_family", [] {
    v1::CreateApplicationRequest r = Valid<v1::CreateApplicationRequest>(1);
    r.mutable_key_settings()->set_configuration_changeable(true);
    r.set_key_count(1);
    return Validate(r);
  });
  add("DF name without ISO id", "iso_file_id", [] {
    v1::CreateApplicationRequest r = Valid<v1::CreateApplicationRequest>(1);
    r.mutable_key_settings()->set_configuration_changeable(true);
    r.set_key_count(1);
    r.set_key_family(v1::KEY_FAMILY_AES);
    r.set_df_name("x");
    return Validate(r);
  });
  add("file without settings", "settings", [] { return Validate(Valid<v1::CreateFileRequest>()); });
  add("transaction MAC file with data settings", "settings.transaction_mac", [] {
    v1::CreateFileRequest r = Valid<v1::CreateFileRequest>();
    r.mutable_settings()->set_file_type(v1::FILE_TYPE_TRANSACTION_MAC);
    r.mutable_settings()->set_communication_mode(v1::COMMUNICATION_MODE_PLAIN);
    r.mutable_settings()->mutable_access_rights();
    r.mutable_settings()->mutable_data()->set_size(12);
    return Validate(r);
  });
  add("transaction MAC file without its key", "settings.transaction_mac.key_name", [] {
    v1::CreateFileRequest r = Valid<v1::CreateFileRequest>();
    r.mutable_settings()->set_file_type(v1::FILE_TYPE_TRANSACTION_MAC);
    r.mutable_settings()->set_communication_mode(v1::COMMUNICATION_MODE_PLAIN);
    r.mutable_settings()->mutable_access_rights();
    r.mutable_settings()->mutable_transaction_mac()->set_key_version(1);
    return Validate(r);
  });
  add("transaction MAC key version 256", "settings.transaction_mac.key_version", [] {
    v1::CreateFileRequest r = Valid<v1::CreateFileRequest>();
    r.mutable_settings()->set_file_type(v1::FILE_TYPE_TRANSACTION_MAC);
    r.mutable_settings()->set_communication_mode(v1::COMMUNICATION_MODE_PLAIN);
    r.mutable_settings()->mutable_access_rights();
    r.mutable_settings()->mutable_transaction_mac()->set_key_name("tmac");
    r.mutable_settings()->mutable_transaction_mac()->set_key_version(256);
    return Validate(r);
  });
  add("debit with a 15-byte reader id", "transaction_mac.reader_id", [] {
    v1::DebitRequest r = Valid<v1::DebitRequest>();
    r.set_amount(1);
    r.mutable_transaction_mac()->set_reader_id(std::string(15, 'r'));
    return Validate(r);
  });
  add("deferred debit with a Transaction MAC", "transaction_mac", [] {
    v1::DebitRequest r = Valid<v1::DebitRequest>();
    r.set_amount(1);
    r.set_defer_commit(true);
    r.mutable_transaction_mac()->set_key_name("tmac");
    return Validate(r);
  });
  add("value file with record settings", "settings.value", [] {
    v1::CreateFileRequest r = Valid<v1::CreateFileRequest>();
    r.mutable_settings()->set_file_type(v1::FILE_TYPE_VALUE);
    r.mutable_settings()->set_communication_mode(v1::COMMUNICATION_MODE_PLAIN);
    r.mutable_settings()->mutable_access_rights();
    r.mutable_settings()->mutable_record()->set_record_size(4);
    return Validate(r);
  });
  add("access right 16", "settings.access_rights.write", [] {
    v1::CreateFileRequest r = Valid<v1::CreateFileRequest>();
    r.mutable_settings()->set_file_type(v1::FILE_TYPE_STANDARD);
    r.mutable_settings()->set_communication_mode(v1::COMMUNICATION_MODE_PLAIN);
    r.mutable_settings()->mutable_access_rights()->set_write(16);
    r.mutable_settings()->mutable_data()->set_size(8);
    return Validate(r);
  });
  add("cyclic file of one record", "settings.record.max_records", [] {
    v1::CreateFileRequest r = Valid<v1::CreateFileRequest>();
    r.mutable_settings()->set_file_type(v1::FILE_TYPE_CYCLIC_RECORD);
    r.mutable_settings()->set_communication_mode(v1::COMMUNICATION_MODE_PLAIN);
    r.mutable_settings()->mutable_access_rights();
    r.mutable_settings()->mutable_record()->set_record_size(4);
    r.mutable_settings()->mutable_record()->set_max_records(1);
    return Validate(r);
  });
  add("initial value outside the limits", "initial_value", [] {
    v1::CreateFileRequest r = Valid<v1::CreateFileRequest>();
    r.mutable_settings()->set_file_type(v1::FILE_TYPE_VALUE);
    r.mutable_settings()->set_communication_mode(v1::COMMUNICATION_MODE_PLAIN);
    r.mutable_settings()->mutable_access_rights();
    r.mutable_settings()->mutable_value()->set_upper_limit(10);
    r.set_initial_value(11);
    return Validate(r);
  });
  add("negative limited credit value", "settings.value.limited_credit_value", [] {
    v1::CreateFileRequest r = MakeFileOf(4, v1::FILE_TYPE_VALUE, v1::COMMUNICATION_MODE_PLAIN);
    r.mutable_settings()->mutable_value()->set_limited_credit_value(-1);
    return Validate(r);
  });
  add("record file above 24 bits", "settings.record.max_records", [] {
    // 4096 records of 4097 bytes: each number fits in 24 bits, the file (16,781,312) does not.
    v1::CreateFileRequest r =
        MakeFileOf(4, v1::FILE_TYPE_LINEAR_RECORD, v1::COMMUNICATION_MODE_PLAIN);
    r.mutable_settings()->mutable_record()->set_record_size(4097);
    r.mutable_settings()->mutable_record()->set_max_records(4096);
    return Validate(r);
  });
  add("change key without auth", "auth.key_name", [] {
    v1::ChangeKeyRequest r = Valid<v1::ChangeKeyRequest>();
    r.set_new_key_name("k");
    return Validate(r);
  });
  add("change key 14", "key_number", [] {
    v1::ChangeKeyRequest r = Valid<v1::ChangeKeyRequest>();
    SetAuth(r.mutable_auth(), "m", 0);
    r.set_key_number(14);
    r.set_new_key_name("k");
    return Validate(r);
  });
  add("change key without new key", "new_key_name", [] {
    v1::ChangeKeyRequest r = Valid<v1::ChangeKeyRequest>();
    SetAuth(r.mutable_auth(), "m", 0);
    return Validate(r);
  });
  add("card key settings with change_key_access", "key_settings.change_key_access", [] {
    v1::ChangeKeySettingsRequest r = Valid<v1::ChangeKeySettingsRequest>(0);
    SetAuth(r.mutable_auth(), "m", 0);
    r.mutable_key_settings()->set_change_key_access(1);
    return Validate(r);
  });
  add("commit at card level", "aid", [] {
    v1::CommitTransactionRequest r = Valid<v1::CommitTransactionRequest>(0);
    return Validate(r);
  });
  return cases;
}

TEST(CardOpsValidateTest, RejectsEachBadFieldByName) {
  for (const InvalidCase& c : InvalidCases()) {
    const absl::Status status = c.validate();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.name << ": " << status;
    EXPECT_EQ(Field(status), c.field) << c.name << ": " << status;
    EXPECT_EQ(ToErrorInfo(status).reason(), "INVALID_ARGUMENT") << c.name;
    EXPECT_FALSE(status.message().empty()) << c.name;
  }
}

TEST(CardOpsValidateTest, AcceptsWellFormedRequests) {
  v1::WriteDataRequest write = Valid<v1::WriteDataRequest>();
  write.set_file_no(31);
  write.set_offset(0xFFFFFF - cardops::kMaxWriteBytes);
  write.set_data(std::string(cardops::kMaxWriteBytes, 'x'));
  write.set_request_id(std::string(128, 'r'));
  SetAuth(write.mutable_auth(), "a.b-c_d", 13, v1::AUTH_SCHEME_EV2);
  EXPECT_TRUE(Validate(write).ok()) << Validate(write);

  v1::ReadRecordsRequest records = Valid<v1::ReadRecordsRequest>();
  records.set_page_size(5000);  // more than the maximum: the maximum
  records.set_page_token("16777215");
  EXPECT_TRUE(Validate(records).ok()) << Validate(records);

  v1::DebitRequest debit = Valid<v1::DebitRequest>(0xFFFFFF);
  debit.set_amount(2147483647);
  debit.mutable_target()->set_expected_uid(std::string(7, '\x04'));
  EXPECT_TRUE(Validate(debit).ok()) << Validate(debit);

  v1::ChangeKeyRequest change = Valid<v1::ChangeKeyRequest>(0);
  SetAuth(change.mutable_auth(), "picc", 0);
  change.set_new_key_name("new");
  EXPECT_TRUE(Validate(change).ok()) << Validate(change);

  v1::CreateFileRequest file = Valid<v1::CreateFileRequest>();
  file.set_iso_file_id(0xE104);
  file.mutable_settings()->set_file_type(v1::FILE_TYPE_LINEAR_RECORD);
  file.mutable_settings()->set_communication_mode(v1::COMMUNICATION_MODE_FULL);
  file.mutable_settings()->mutable_access_rights()->set_read(14);
  file.mutable_settings()->mutable_record()->set_record_size(32);
  file.mutable_settings()->mutable_record()->set_max_records(1);
  EXPECT_TRUE(Validate(file).ok()) << Validate(file);

  // The largest record file of 4096-byte records: 4096 × 4095 = 16,773,120 bytes.
  file.mutable_settings()->mutable_record()->set_record_size(4096);
  file.mutable_settings()->mutable_record()->set_max_records(4095);
  EXPECT_TRUE(Validate(file).ok()) << Validate(file);

  v1::CreateFileRequest value = MakeFileOf(4, v1::FILE_TYPE_VALUE, v1::COMMUNICATION_MODE_PLAIN);
  value.mutable_settings()->mutable_value()->set_limited_credit_value(40);  // ignored, not < 0
  EXPECT_TRUE(Validate(value).ok()) << Validate(value);
}

// --- The validation asserts of the card tests (their card part: tests/unit/core/cardops) --------

TEST(CardValidationTest, GetCardInfoWithMasterKeyReadsUidFromCard) {
  v1::GetCardInfoRequest request;
  request.mutable_target()->set_reader(kReader);
  SetAuth(request.mutable_auth(), "picc", 0);
  EXPECT_TRUE(Validate(request).ok()) << Validate(request);
}

TEST(CardValidationTest, GetFileSettingsOfRecordAndDataFiles) {
  auto request = On<v1::GetFileSettingsRequest>();
  request.set_file_no(3);
  EXPECT_TRUE(Validate(request).ok()) << Validate(request);
}

TEST(CardValidationTest, ReadDataPlainWithoutKeyAndFullAndMacWithKey) {
  auto plain = On<v1::ReadDataRequest>();
  plain.set_file_no(4);
  EXPECT_TRUE(Validate(plain).ok()) << Validate(plain);
}

TEST(CardValidationTest, WriteDataToFullStandardFile) {
  auto write = OnFile<v1::WriteDataRequest>(5, "app_master", 0);
  write.set_offset(3);
  write.set_data(std::string(20, '@'));
  write.set_defer_commit(true);
  EXPECT_TRUE(Validate(write).ok()) << Validate(write);
}

TEST(CardValidationTest, WriteDataToBackupFileCommitsUnlessDeferred) {
  auto commit = On<v1::CommitTransactionRequest>();
  SetAuth(commit.mutable_auth(), "app_debit", 2);
  EXPECT_TRUE(Validate(commit).ok()) << Validate(commit);
}

TEST(CardValidationTest, ValueOperationsReportValueBeforeAndAfter) {
  auto get = OnFile<v1::GetValueRequest>(1, "app_read", 1);
  EXPECT_TRUE(Validate(get).ok()) << Validate(get);
  EXPECT_TRUE(Validate(DebitOf(100)).ok());
  auto limited = OnFile<v1::LimitedCreditRequest>(1, "app_debit", 2);
  limited.set_amount(40);
  EXPECT_TRUE(Validate(limited).ok()) << Validate(limited);
  auto credit = OnFile<v1::CreditRequest>(1, "app_credit", 3);
  credit.set_amount(500);
  EXPECT_TRUE(Validate(credit).ok()) << Validate(credit);
}

TEST(CardValidationTest, AbortTransactionDiscardsDeferredDebit) {
  EXPECT_TRUE(Validate(DebitOf(100, /*defer=*/true)).ok());
  auto abort = On<v1::AbortTransactionRequest>();
  SetAuth(abort.mutable_auth(), "app_debit", 2);
  EXPECT_TRUE(Validate(abort).ok()) << Validate(abort);
}

TEST(CardValidationTest, CallWithAnotherKeyLosesDeferredDebit) {
  EXPECT_TRUE(Validate(DebitOf(100, /*defer=*/true)).ok());
}

TEST(CardValidationTest, WriteRecordThenClearRecordFile) {
  auto write = OnFile<v1::WriteRecordRequest>(3, "app_debit", 2);
  write.set_data(std::string(32, '\x07'));
  EXPECT_TRUE(Validate(write).ok()) << Validate(write);
  auto clear = OnFile<v1::ClearRecordFileRequest>(3, "app_credit", 3);
  EXPECT_TRUE(Validate(clear).ok()) << Validate(clear);
  EXPECT_TRUE(Validate(ReadTapsOf(1, "")).ok());
  EXPECT_TRUE(Validate(ReadTapsOf(10, "")).ok());
}

TEST(CardValidationTest, DeleteApplicationWithItsOwnMasterKey) {
  EXPECT_TRUE(Validate(CreateAppOf(kAdminAid, 0x0B)).ok());
}

TEST(CardValidationTest, ChangeKeyToDiversifiedKeyAuthenticatesWithTheStoreKey) {
  EXPECT_TRUE(Validate(CreateAppOf(kAdminAid, 0x0B)).ok());
  auto file = MakeFileOf(1, v1::FILE_TYPE_VALUE, v1::COMMUNICATION_MODE_FULL);
  EXPECT_TRUE(Validate(file).ok()) << Validate(file);
}

}  // namespace
}  // namespace desfired::server
