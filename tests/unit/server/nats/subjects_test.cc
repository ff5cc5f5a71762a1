// The NATS subjects and message ids of desfired's events (server/nats/subjects.h).
#include "server/nats/subjects.h"

#include "gtest/gtest.h"

namespace desfired::server::nats {
namespace {

TEST(SubjectsTest, ReaderNamesBecomeOneToken) {
  EXPECT_EQ(ReaderToken("ACS ACR122U PICC Interface 00 00"), "ACS_ACR122U_PICC_Interface_00_00");
  EXPECT_EQ(ReaderToken("a.b*c>d\te"), "a_b_c_d_e");
  EXPECT_EQ(ReaderToken("Lecteur \xC3\xA9"), "Lecteur___");  // each UTF-8 byte
  EXPECT_EQ(ReaderToken("gate-7_in"), "gate-7_in");
  EXPECT_EQ(ReaderToken(""), "_");
}

TEST(SubjectsTest, KindsAndSubjects) {
  EXPECT_EQ(SubjectOf("station-1", "Test PCD 00 00", CardEventKind::kCardInserted),
            "desfired.station-1.Test_PCD_00_00.card");
  EXPECT_EQ(SubjectOf("station-1", "Test PCD 00 00", CardEventKind::kCardRemoved),
            "desfired.station-1.Test_PCD_00_00.card");
  EXPECT_EQ(SubjectOf("station-1", "Test PCD 00 00", CardEventKind::kCardUpdated),
            "desfired.station-1.Test_PCD_00_00.card");
  EXPECT_EQ(SubjectOf("s", "r", CardEventKind::kReaderAdded), "desfired.s.r.reader");
  EXPECT_EQ(SubjectOf("s", "r", CardEventKind::kReaderRemoved), "desfired.s.r.reader");
  EXPECT_EQ(SubjectOf("s", "", CardEventKind::kPcscUnavailable), "desfired.s._.reader");
  EXPECT_EQ(SubjectOf("s", "", CardEventKind::kPcscAvailable), "desfired.s._.reader");
  EXPECT_EQ(SubjectOf("s", "r", CardEventKind::kChange), "desfired.s.r.change");
}

TEST(SubjectsTest, InstanceIsOneToken) {
  EXPECT_TRUE(CheckInstance("station-1").ok());
  EXPECT_TRUE(CheckInstance("GATE_07").ok());
  EXPECT_TRUE(CheckInstance(std::string(kMaxInstanceBytes, 'a')).ok());
  for (const char* bad : {"", "a.b", "a b", "a*", "a>", "gare-\xC3\xA9"}) {
    const absl::Status s = CheckInstance(bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("--instance"), absl::string_view::npos) << s;
  }
  EXPECT_FALSE(CheckInstance(std::string(kMaxInstanceBytes + 1, 'a')).ok());
}

TEST(SubjectsTest, MessageIds) {
  EXPECT_EQ(MessageIdOf("station-1", 3, 1765100000000001), "station-1.3.1765100000000001");
  EXPECT_NE(MessageIdOf("s", 1, 12), MessageIdOf("s", 11, 2));
}

}  // namespace
}  // namespace desfired::server::nats
