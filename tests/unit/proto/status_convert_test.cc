#include "proto/convert/status_convert.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/apdu/apdu.h"
#include "core/apdu/error_metadata.h"
#include "core/apdu/status_payload.h"
#include "core/desfire/card.h"
#include "core/desfire/status.h"
#include "core/pcsc/pcsc.h"
#include "desfired/v1/errors.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"
#include "server/readers/reasons.h"

namespace desfired {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::testing::ElementsAre;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

// Converts `status` and checks the invariants every error must keep: same code and message,
// details that parse as a google.rpc.Status with the same code and message and exactly one
// detail, which is an ErrorInfo of domain desfired.dev. Returns that ErrorInfo.
google::rpc::ErrorInfo ConvertAndCheck(const absl::Status& status) {
  const grpc::Status out = ToGrpcStatus(status);
  EXPECT_EQ(static_cast<int>(out.error_code()), static_cast<int>(status.code()));
  EXPECT_EQ(out.error_message(), status.message());

  google::rpc::Status details;
  EXPECT_TRUE(details.ParseFromString(out.error_details()));
  EXPECT_EQ(details.code(), static_cast<int>(status.code()));
  EXPECT_EQ(details.message(), status.message());
  EXPECT_EQ(details.details_size(), 1);
  google::rpc::ErrorInfo info;
  if (details.details_size() >= 1) {
    EXPECT_EQ(details.details(0).type_url(), "type.googleapis.com/google.rpc.ErrorInfo");
    EXPECT_TRUE(details.details(0).UnpackTo(&info));
  }
  EXPECT_EQ(info.domain(), "desfired.dev");

  // GetErrorInfo reads back what ToErrorInfo built.
  std::optional<google::rpc::ErrorInfo> read = GetErrorInfo(out);
  EXPECT_TRUE(read.has_value());
  if (read.has_value()) {
    EXPECT_TRUE(MessageDifferencer::Equals(*read, info)) << read->DebugString();
  }
  EXPECT_TRUE(MessageDifferencer::Equals(ToErrorInfo(status), info));
  return info;
}

bool IsErrorReason(absl::string_view name) {
  v1::ErrorReason value;
  return v1::ErrorReason_Parse(std::string(name), &value) && value != v1::ERROR_REASON_UNSPECIFIED;
}

TEST(StatusConvertTest, OkStaysOkWithoutDetails) {
  const grpc::Status out = ToGrpcStatus(absl::OkStatus());
  EXPECT_TRUE(out.ok());
  EXPECT_TRUE(out.error_details().empty());
  EXPECT_FALSE(GetErrorInfo(out).has_value());
  EXPECT_TRUE(ToErrorInfo(absl::OkStatus()).reason().empty());
}

TEST(StatusConvertTest, DesfireStatusByteGoesToMetadata) {
  const absl::Status status = desfire::DesfireStatusToStatus(0x9D);
  const google::rpc::ErrorInfo info = ConvertAndCheck(status);
  EXPECT_EQ(ToGrpcStatus(status).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(info.reason(), "PERMISSION_DENIED");
  EXPECT_THAT(info.metadata(), ElementsAre(Pair("desfire_status", "9D")));
  EXPECT_THAT(ToGrpcStatus(status).error_message(), ::testing::HasSubstr("9D"));
}

TEST(StatusConvertTest, EveryDesfireStatusOfTheTable) {
  for (const desfire::DesfireStatusInfo& entry : desfire::DesfireStatusTable()) {
    if (entry.code == absl::StatusCode::kOk) continue;
    SCOPED_TRACE(absl::StrFormat("status %02X %s", entry.status, entry.name));
    const absl::Status status = desfire::DesfireStatusToStatus(entry.status);
    const google::rpc::ErrorInfo info = ConvertAndCheck(status);
    EXPECT_EQ(static_cast<int>(ToGrpcStatus(status).error_code()), static_cast<int>(entry.code));
    EXPECT_EQ(info.reason(), entry.reason);
    EXPECT_TRUE(IsErrorReason(info.reason())) << info.reason();
    EXPECT_THAT(info.metadata(),
                ElementsAre(Pair("desfire_status", absl::StrFormat("%02X", entry.status))));
  }
}

TEST(StatusConvertTest, UnknownDesfireStatus) {
  const google::rpc::ErrorInfo info = ConvertAndCheck(desfire::DesfireStatusToStatus(0x42));
  EXPECT_EQ(ToGrpcStatus(desfire::DesfireStatusToStatus(0x42)).error_code(),
            grpc::StatusCode::UNKNOWN);
  EXPECT_EQ(info.reason(), "DESFIRE_STATUS");
  EXPECT_THAT(info.metadata(), ElementsAre(Pair("desfire_status", "42")));
}

TEST(StatusConvertTest, IsoStatusWordGoesToMetadata) {
  const absl::Status denied = apdu::StatusWordToStatus(apdu::kSwSecurityNotSatisfied);
  google::rpc::ErrorInfo info = ConvertAndCheck(denied);
  EXPECT_EQ(ToGrpcStatus(denied).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(info.reason(), "PERMISSION_DENIED");
  EXPECT_THAT(info.metadata(), ElementsAre(Pair("sw", "6982")));

  const absl::Status unknown = apdu::StatusWordToStatus(0x6A88);
  info = ConvertAndCheck(unknown);
  EXPECT_EQ(ToGrpcStatus(unknown).error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_EQ(info.reason(), "ISO_STATUS");
  EXPECT_THAT(info.metadata(), ElementsAre(Pair("sw", "6A88")));
}

TEST(StatusConvertTest, CoreReasonsWithoutStatusBytes) {
  struct Case {
    absl::Status status;
    grpc::StatusCode code;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {apdu::CardRemovedError("gone"), grpc::StatusCode::UNAVAILABLE, "CARD_REMOVED"},
      {apdu::ProtocolError("odd frame"), grpc::StatusCode::INTERNAL, "PROTOCOL_ERROR"},
      {desfire::IntegrityError("bad CMAC"), grpc::StatusCode::DATA_LOSS, "INTEGRITY_ERROR"},
      {desfire::AuthenticationFailedError("RndA'"), grpc::StatusCode::PERMISSION_DENIED,
       "AUTHENTICATION_FAILED"},
      {apdu::WithReason(absl::UnavailableError("pcscd"), pcsc::kReasonPcscUnavailable),
       grpc::StatusCode::UNAVAILABLE, "PCSC_UNAVAILABLE"},
      {apdu::WithReason(absl::NotFoundError("no reader"), pcsc::kReasonReaderNotFound),
       grpc::StatusCode::NOT_FOUND, "READER_NOT_FOUND"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.reason);
    const google::rpc::ErrorInfo info = ConvertAndCheck(c.status);
    EXPECT_EQ(ToGrpcStatus(c.status).error_code(), c.code);
    EXPECT_EQ(info.reason(), c.reason);
    EXPECT_TRUE(info.metadata().empty());
  }
}

TEST(StatusConvertTest, WithoutReasonTheCodeNameIsTheReason) {
  const std::vector<absl::Status> statuses = {
      absl::DeadlineExceededError("reader timed out"), absl::CancelledError("client left"),
      absl::InternalError("RNG failed"), absl::InvalidArgumentError("key of 15 bytes")};
  for (const absl::Status& status : statuses) {
    SCOPED_TRACE(status.ToString());
    const google::rpc::ErrorInfo info = ConvertAndCheck(status);
    EXPECT_EQ(info.reason(), absl::StatusCodeToString(status.code()));
    EXPECT_TRUE(IsErrorReason(info.reason()));
    EXPECT_TRUE(info.metadata().empty());
  }
}

TEST(StatusConvertTest, MalformedReasonFallsBackToTheCodeName) {
  EXPECT_EQ(ConvertAndCheck(apdu::WithReason(absl::UnavailableError("x"), "card removed")).reason(),
            "UNAVAILABLE");
  EXPECT_EQ(
      ConvertAndCheck(apdu::WithReason(absl::InternalError("x"), std::string(64, 'A'))).reason(),
      "INTERNAL");
  EXPECT_EQ(ConvertAndCheck(apdu::WithReason(absl::InternalError("x"), "")).reason(), "INTERNAL");
  // 63 characters is still a valid reason, and one not (yet) in the enum passes through.
  EXPECT_EQ(
      ConvertAndCheck(apdu::WithReason(absl::InternalError("x"), std::string(63, 'A'))).reason(),
      std::string(63, 'A'));
}

TEST(StatusConvertTest, InvalidFieldNamesTheField) {
  const absl::Status status = apdu::InvalidFieldError("target.reader", "a reader name is required");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  const google::rpc::ErrorInfo info = ConvertAndCheck(status);
  EXPECT_EQ(ToGrpcStatus(status).error_message(), "a reader name is required");
  EXPECT_EQ(info.reason(), "INVALID_ARGUMENT");
  EXPECT_TRUE(IsErrorReason(info.reason()));
  EXPECT_THAT(info.metadata(), ElementsAre(Pair("field", "target.reader")));
}

TEST(StatusConvertTest, CardMismatch) {
  const Bytes expected = {0x04, 0x06, 0x3F, 0x72, 0x63, 0x34, 0x80};
  const Bytes actual = {0x04, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6};
  const absl::Status status = apdu::CardMismatchError("ACS ACR122U 00 00", expected, actual);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  const google::rpc::ErrorInfo info = ConvertAndCheck(status);
  EXPECT_EQ(ToGrpcStatus(status).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(info.reason(), "CARD_MISMATCH");
  EXPECT_TRUE(IsErrorReason(info.reason()));
  EXPECT_THAT(info.metadata(), UnorderedElementsAre(Pair("reader", "ACS ACR122U 00 00"),
                                                    Pair("expected_uid", "04063f72633480"),
                                                    Pair("uid", "04a1b2c3d4e5f6")));
  EXPECT_THAT(status.message(), ::testing::HasSubstr("04a1b2c3d4e5f6"));
}

TEST(StatusConvertTest, KeyNotFoundNamesTheKeyNeverItsValue) {
  const absl::Status status = apdu::KeyNotFoundError("transit");
  const google::rpc::ErrorInfo info = ConvertAndCheck(status);
  EXPECT_EQ(ToGrpcStatus(status).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(info.reason(), "KEY_NOT_FOUND");
  EXPECT_TRUE(IsErrorReason(info.reason()));
  EXPECT_THAT(info.metadata(), ElementsAre(Pair("key_name", "transit")));
}

TEST(StatusConvertTest, CommitStateKeepsTheCause) {
  absl::Status status = apdu::CardRemovedError("no answer to CommitTransaction");
  status.SetPayload(apdu::kCommitStateTypeUrl, absl::Cord("UNKNOWN"));
  google::rpc::ErrorInfo info = ConvertAndCheck(status);
  EXPECT_EQ(ToGrpcStatus(status).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(info.reason(), "CARD_REMOVED");
  EXPECT_THAT(info.metadata(), ElementsAre(Pair("commit_state", "UNKNOWN")));

  absl::Status refused = desfire::DesfireStatusToStatus(0xBE);
  refused.SetPayload(apdu::kCommitStateTypeUrl, absl::Cord("NOT_COMMITTED"));
  info = ConvertAndCheck(refused);
  EXPECT_EQ(info.reason(), "BOUNDARY_ERROR");
  EXPECT_THAT(info.metadata(), UnorderedElementsAre(Pair("commit_state", "NOT_COMMITTED"),
                                                    Pair("desfire_status", "BE")));
}

TEST(StatusConvertTest, MetadataPayloads) {
  absl::Status status = desfire::DesfireStatusToStatus(0xF0);
  status = apdu::WithErrorMetadata(std::move(status), apdu::kMetadataReader, "reader 1");
  // Keys outside [a-zA-Z0-9_-]{1,64} are dropped; the card's own byte wins over a payload
  // that uses its key.
  status = apdu::WithErrorMetadata(std::move(status), "bad key", "x");
  status = apdu::WithErrorMetadata(std::move(status), std::string(65, 'k'), "x");
  status = apdu::WithErrorMetadata(std::move(status), "desfire_status", "00");
  const google::rpc::ErrorInfo info = ConvertAndCheck(status);
  EXPECT_EQ(info.reason(), "FILE_NOT_FOUND");
  EXPECT_THAT(info.metadata(),
              UnorderedElementsAre(Pair("reader", "reader 1"), Pair("desfire_status", "F0")));
  // A no-op on OK.
  EXPECT_TRUE(apdu::WithErrorMetadata(absl::OkStatus(), "field", "x").ok());
}

TEST(StatusConvertTest, GetErrorInfoRejectsOtherDetails) {
  EXPECT_FALSE(GetErrorInfo(grpc::Status(grpc::StatusCode::INTERNAL, "no details")).has_value());
  EXPECT_FALSE(
      GetErrorInfo(grpc::Status(grpc::StatusCode::INTERNAL, "junk", "\xff\xff")).has_value());

  google::rpc::ErrorInfo info;
  info.set_reason("A");
  google::rpc::Status two;
  two.set_code(13);
  two.add_details()->PackFrom(info);
  two.add_details()->PackFrom(info);
  EXPECT_FALSE(
      GetErrorInfo(grpc::Status(grpc::StatusCode::INTERNAL, "two", two.SerializeAsString()))
          .has_value());

  google::rpc::Status other;
  other.set_code(13);
  other.add_details()->PackFrom(google::rpc::DebugInfo());
  EXPECT_FALSE(
      GetErrorInfo(grpc::Status(grpc::StatusCode::INTERNAL, "other", other.SerializeAsString()))
          .has_value());
}

// The reasons core and the server produce are all documented in desfired.v1.ErrorReason, as
// are the code names used when a status has no reason.
TEST(StatusConvertTest, EveryProducedReasonIsAnErrorReason) {
  std::vector<std::string> reasons = {
      std::string(apdu::kReasonCardRemoved),
      std::string(apdu::kReasonProtocolError),
      std::string(apdu::kReasonIsoStatus),
      std::string(desfire::kReasonAuthenticationFailed),
      std::string(desfire::kReasonIntegrityError),
      std::string(desfire::kReasonNotAuthenticated),
      std::string(desfire::kReasonWrongFileType),
      std::string(desfire::kReasonInsufficientValue),
      std::string(pcsc::kReasonPcscUnavailable),
      std::string(pcsc::kReasonReaderNotFound),
      std::string(pcsc::kReasonReaderBusy),
      std::string(server::kReasonQueueFull),
      std::string(server::kReasonShuttingDown),
      std::string(server::kReasonSlowConsumer),
      std::string(server::kReasonHistoryExpired),
      std::string(apdu::kReasonInvalidArgument),
      std::string(apdu::kReasonCardMismatch),
      std::string(apdu::kReasonKeyNotFound),
      "DESFIRE_STATUS",
  };
  for (const desfire::DesfireStatusInfo& entry : desfire::DesfireStatusTable()) {
    if (entry.code != absl::StatusCode::kOk) reasons.emplace_back(entry.reason);
  }
  for (uint16_t sw :
       {apdu::kSwWrongLength, apdu::kSwSecurityNotSatisfied, apdu::kSwConditionsNotSatisfied,
        apdu::kSwWrongData, apdu::kSwFileNotFound, apdu::kSwWrongP1P2, apdu::kSwInsNotSupported,
        apdu::kSwClaNotSupported, apdu::kSwUnknown}) {
    const apdu::StatusWordInfo* info = apdu::FindStatusWord(sw);
    ASSERT_NE(info, nullptr) << sw;
    reasons.emplace_back(info->reason);
  }
  for (int code = 1; code <= 16; ++code) {
    reasons.push_back(absl::StatusCodeToString(static_cast<absl::StatusCode>(code)));
  }
  for (const std::string& reason : reasons) {
    EXPECT_TRUE(IsErrorReason(reason)) << reason << " is not a desfired.v1.ErrorReason";
  }
}

// What FromGrpcStatus must give back for `in`: every payload of `in` byte for byte, plus the
// metadata payloads of the card's bytes and the commit state (ErrorInfo metadata, as the
// client reads it with GetErrorMetadata), and ErrorInfo again the same.
void ExpectRoundTrip(const absl::Status& in, const absl::Status& out) {
  EXPECT_EQ(out.code(), in.code());
  EXPECT_EQ(out.message(), in.message());
  std::map<std::string, std::string> in_payloads, out_payloads;
  in.ForEachPayload([&in_payloads](absl::string_view url, const absl::Cord& value) {
    in_payloads[std::string(url)] = std::string(value);
  });
  out.ForEachPayload([&out_payloads](absl::string_view url, const absl::Cord& value) {
    out_payloads[std::string(url)] = std::string(value);
  });
  std::map<std::string, std::string> expected = in_payloads;
  const google::rpc::ErrorInfo info = ToErrorInfo(in);
  for (const auto& [key, value] : info.metadata()) {
    expected[absl::StrCat(apdu::kMetadataTypeUrlPrefix, key)] = value;
  }
  expected[std::string(apdu::kReasonTypeUrl)] = info.reason();
  EXPECT_EQ(out_payloads, expected);
  EXPECT_TRUE(MessageDifferencer::Equals(ToErrorInfo(out), info)) << ToErrorInfo(out).DebugString();
}

// Every value of desfired.v1.ErrorReason (from the enum's descriptor, so a new reason is
// covered without touching this test), with the DESFire status byte and the status word as
// core attaches them, each commit state, and a metadata payload: what FromGrpcStatus gives
// back reads exactly as what the server converted.
TEST(StatusConvertTest, EveryErrorReasonRoundTrips) {
  const google::protobuf::EnumDescriptor* reasons = v1::ErrorReason_descriptor();
  ASSERT_GT(reasons->value_count(), 50);
  for (int i = 0; i < reasons->value_count(); ++i) {
    const std::string reason = reasons->value(i)->name();
    for (apdu::CommitState state :
         {apdu::CommitState::kNotCommitted, apdu::CommitState::kUnknown}) {
      SCOPED_TRACE(absl::StrCat(reason, " ", apdu::CommitStateName(state)));
      // Every code but OK in turn.
      const auto code = static_cast<absl::StatusCode>(1 + i % 16);
      absl::Status in =
          apdu::WithReason(absl::Status(code, absl::StrCat("failed: ", reason)), reason);
      const char desfire_status = '\xBE';
      in.SetPayload(apdu::kDesfireStatusTypeUrl, absl::Cord(absl::string_view(&desfire_status, 1)));
      in.SetPayload(apdu::kStatusWordTypeUrl, absl::Cord(absl::string_view("\x91\xBE", 2)));
      in = apdu::WithCommitState(std::move(in), state);
      in = apdu::WithErrorMetadata(std::move(in), apdu::kMetadataReader, "ACS ACR122U 00 00");

      const absl::Status out = FromGrpcStatus(ToGrpcStatus(in));
      EXPECT_EQ(apdu::GetReason(out), reason);
      EXPECT_EQ(apdu::GetDesfireStatus(out), 0xBE);
      EXPECT_EQ(apdu::GetStatusWord(out), 0x91BE);
      EXPECT_EQ(apdu::GetCommitState(out), state);
      EXPECT_EQ(apdu::GetErrorMetadata(out, apdu::kMetadataReader), "ACS ACR122U 00 00");
      EXPECT_EQ(apdu::GetErrorMetadata(out, apdu::kMetadataDesfireStatus), "BE");
      EXPECT_EQ(apdu::GetErrorMetadata(out, apdu::kMetadataStatusWord), "91BE");
      EXPECT_EQ(apdu::GetErrorMetadata(out, apdu::kMetadataCommitState),
                apdu::CommitStateName(state));
      ExpectRoundTrip(in, out);
    }
  }
}

TEST(StatusConvertTest, OkRoundTrips) {
  EXPECT_TRUE(FromGrpcStatus(ToGrpcStatus(absl::OkStatus())).ok());
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
}

// A status without a reason travels with the name of its code as the reason (ToErrorInfo),
// and comes back with that reason and nothing else.
TEST(StatusConvertTest, StatusWithoutReasonRoundTrips) {
  const absl::Status in = absl::DeadlineExceededError("reader timed out");
  const absl::Status out = FromGrpcStatus(ToGrpcStatus(in));
  EXPECT_EQ(apdu::GetReason(out), "DEADLINE_EXCEEDED");
  EXPECT_FALSE(apdu::GetDesfireStatus(out).has_value());
  EXPECT_FALSE(apdu::GetStatusWord(out).has_value());
  EXPECT_FALSE(apdu::GetCommitState(out).has_value());
  ExpectRoundTrip(in, out);
}

// Without ErrorInfo (not desfired's answer) only the code and the message come back.
TEST(StatusConvertTest, WithoutErrorInfoOnlyCodeAndMessage) {
  for (const grpc::Status& in : {grpc::Status(grpc::StatusCode::UNAVAILABLE, "connect failed"),
                                 grpc::Status(grpc::StatusCode::INTERNAL, "junk", "\xff\xff")}) {
    const absl::Status out = FromGrpcStatus(in);
    EXPECT_EQ(static_cast<int>(out.code()), static_cast<int>(in.error_code()));
    EXPECT_EQ(out.message(), in.error_message());
    int payloads = 0;
    out.ForEachPayload([&payloads](absl::string_view, const absl::Cord&) { ++payloads; });
    EXPECT_EQ(payloads, 0);
  }
}

}  // namespace
}  // namespace desfired
