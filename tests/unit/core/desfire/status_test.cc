#include "core/desfire/status.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "core/apdu/status_payload.h"
#include "core/desfire/ins.h"

namespace desfired::desfire {
namespace {

TEST(DesfireStatusTableTest, IsSortedUniqueAndComplete) {
  int previous = -1;
  for (const DesfireStatusInfo& info : DesfireStatusTable()) {
    EXPECT_GT(info.status, previous) << "table must be sorted and unique";
    previous = info.status;
    EXPECT_FALSE(info.reason.empty());
    EXPECT_FALSE(info.name.empty());
    EXPECT_FALSE(info.text.empty());
  }
  // Every status byte seen in the real-card traces (vectors §8) is in the table.
  for (int b : {0x00, 0x0C, 0x1C, 0x1E, 0x7E, 0x9D, 0xAE, 0xA0, 0xBE, 0xCA, 0xDE, 0xF0, 0xAF}) {
    EXPECT_NE(FindDesfireStatus(static_cast<uint8_t>(b)), nullptr) << b;
  }
}

TEST(DesfireStatusTest, SuccessStatusesAreOk) {
  EXPECT_TRUE(DesfireStatusToStatus(ToByte(DesfireStatus::kOperationOk)).ok());
  EXPECT_TRUE(DesfireStatusToStatus(ToByte(DesfireStatus::kNoChanges)).ok());
  EXPECT_TRUE(DesfireStatusToStatus(ToByte(DesfireStatus::kAdditionalFrame)).ok());
}

struct Expected {
  uint8_t status;
  absl::StatusCode code;
  const char* reason;
};

TEST(DesfireStatusTest, CodesAndReasonsFollowWhatTheCallerDoesNext) {
  const Expected cases[] = {
      {0xAE, absl::StatusCode::kPermissionDenied, "AUTHENTICATION_FAILED"},
      {0x1E, absl::StatusCode::kDataLoss, "INTEGRITY_ERROR"},
      {0x9D, absl::StatusCode::kPermissionDenied, "PERMISSION_DENIED"},
      {0xBE, absl::StatusCode::kOutOfRange, "BOUNDARY_ERROR"},
      {0xF0, absl::StatusCode::kNotFound, "FILE_NOT_FOUND"},
      {0xA0, absl::StatusCode::kNotFound, "APPLICATION_NOT_FOUND"},
      {0xDE, absl::StatusCode::kAlreadyExists, "DUPLICATE"},
      {0x40, absl::StatusCode::kNotFound, "NO_SUCH_KEY"},
      {0x7E, absl::StatusCode::kInvalidArgument, "LENGTH_ERROR"},
      {0xCA, absl::StatusCode::kAborted, "COMMAND_ABORTED"},
      {0x0E, absl::StatusCode::kResourceExhausted, "OUT_OF_EEPROM"},
      {0x1C, absl::StatusCode::kUnimplemented, "ILLEGAL_COMMAND"},
  };
  for (const Expected& e : cases) {
    absl::Status s = DesfireStatusToStatus(e.status);
    EXPECT_EQ(s.code(), e.code) << static_cast<int>(e.status);
    EXPECT_EQ(apdu::GetReason(s), e.reason);
    EXPECT_EQ(apdu::GetDesfireStatus(s), e.status);
  }
}

TEST(DesfireStatusTest, UnknownByteKeepsTheByte) {
  absl::Status s = DesfireStatusToStatus(0x42);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(apdu::GetDesfireStatus(s), 0x42);
  EXPECT_EQ(apdu::GetReason(s), "DESFIRE_STATUS");
}

TEST(DesfireStatusTest, HostSideErrorsCarryReasonsButNoStatusByte) {
  absl::Status s = IntegrityError("bad MAC");
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(apdu::GetReason(s), "INTEGRITY_ERROR");
  EXPECT_FALSE(apdu::GetDesfireStatus(s).has_value());
  s = AuthenticationFailedError("RndA'");
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(apdu::GetReason(s), "AUTHENTICATION_FAILED");
}

TEST(InsTest, CommandCodesMatchTheDataSheet) {
  EXPECT_EQ(ToByte(Ins::kGetVersion), 0x60);
  EXPECT_EQ(ToByte(Ins::kAuthenticateAes), 0xAA);
  EXPECT_EQ(ToByte(Ins::kAuthenticateIso), 0x1A);
  EXPECT_EQ(ToByte(Ins::kAuthenticateLegacy), 0x0A);
  EXPECT_EQ(ToByte(Ins::kAuthenticateEv2First), 0x71);
  EXPECT_EQ(ToByte(Ins::kAdditionalFrame), 0xAF);
  EXPECT_EQ(ToByte(Ins::kReadData), 0xBD);
  EXPECT_EQ(ToByte(Ins::kWriteData), 0x3D);
  EXPECT_EQ(ToByte(Ins::kChangeKey), 0xC4);
  EXPECT_EQ(ToByte(Ins::kCommitTransaction), 0xC7);
}

}  // namespace
}  // namespace desfired::desfire
