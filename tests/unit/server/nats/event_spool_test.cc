// EventSpool (server/nats/event_spool.h): the on-disk FIFO of the NATS publisher — order,
// the bound, a restart in the middle, segments, a torn record, the boot counter.
#include "server/nats/event_spool.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace desfired::server::nats {
namespace {

class EventSpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/desfired-spool-XXXXXX";
    ASSERT_NE(mkdtemp(templ), nullptr);
    root_ = templ;
    dir_ = root_ + "/nats";
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  std::unique_ptr<EventSpool> Open(uint64_t max_bytes = 1 << 20, uint64_t segment = 1 << 20) {
    auto spool = EventSpool::Open({.dir = dir_, .max_bytes = max_bytes, .segment_bytes = segment});
    EXPECT_TRUE(spool.ok()) << spool.status();
    return spool.ok() ? *std::move(spool) : nullptr;
  }

  static SpooledEvent Event(int i) {
    return {.msg_id = absl::StrCat("gate-1.1.", i),
            .subject = "desfired.gate-1.Reader_0.card",
            .payload = absl::StrCat("{\"event\":{\"sequence\":\"", i, "\"}}")};
  }

  // Pops everything; the message ids in order.
  static std::vector<std::string> Drain(EventSpool& spool) {
    std::vector<std::string> ids;
    for (;;) {
      absl::StatusOr<std::optional<SpooledEvent>> front = spool.Front(absl::ZeroDuration());
      EXPECT_TRUE(front.ok()) << front.status();
      if (!front.ok() || !front->has_value()) return ids;
      ids.push_back((*front)->msg_id);
      EXPECT_TRUE(spool.PopFront().ok());
    }
  }

  std::string root_, dir_;
};

TEST_F(EventSpoolTest, KeepsOrderAndContent) {
  auto spool = Open();
  ASSERT_NE(spool, nullptr);
  struct stat st {};
  ASSERT_EQ(stat(dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  for (int i = 1; i <= 5; ++i) ASSERT_TRUE(spool->Append(Event(i)).ok());
  EXPECT_EQ(spool->events(), 5u);
  absl::StatusOr<std::optional<SpooledEvent>> front = spool->Front(absl::ZeroDuration());
  ASSERT_TRUE(front.ok() && front->has_value());
  EXPECT_EQ((*front)->subject, Event(1).subject);
  EXPECT_EQ((*front)->payload, Event(1).payload);
  // Front again without a pop: the same record.
  EXPECT_EQ((*spool->Front(absl::ZeroDuration()))->msg_id, "gate-1.1.1");
  EXPECT_EQ(Drain(*spool), (std::vector<std::string>{"gate-1.1.1", "gate-1.1.2", "gate-1.1.3",
                                                     "gate-1.1.4", "gate-1.1.5"}));
  EXPECT_EQ(spool->events(), 0u);
  EXPECT_EQ(spool->bytes(), 0u);
}

TEST_F(EventSpoolTest, FrontWaitsForAnAppend) {
  auto spool = Open();
  ASSERT_NE(spool, nullptr);
  const absl::Time start = absl::Now();
  absl::StatusOr<std::optional<SpooledEvent>> none = spool->Front(absl::Milliseconds(50));
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(45));
  std::thread writer([&] {
    absl::SleepFor(absl::Milliseconds(20));
    ASSERT_TRUE(spool->Append(Event(1)).ok());
  });
  absl::StatusOr<std::optional<SpooledEvent>> one = spool->Front(absl::Seconds(5));
  writer.join();
  ASSERT_TRUE(one.ok() && one->has_value());
  EXPECT_EQ((*one)->msg_id, "gate-1.1.1");
}

TEST_F(EventSpoolTest, RefusesTheNewestWhenFull) {
  const uint64_t record =
      8 + 2 + Event(1).msg_id.size() + 2 + Event(1).subject.size() + Event(1).payload.size();
  auto spool = Open(/*max_bytes=*/3 * record + record / 2);
  ASSERT_NE(spool, nullptr);
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(spool->Append(Event(i)).ok());
  const absl::Status full = spool->Append(Event(4));
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted) << full;
  EXPECT_EQ(spool->events(), 3u);
  EXPECT_EQ(spool->bytes(), 3 * record);
  // A pop makes room for one more.
  ASSERT_TRUE(spool->Front(absl::ZeroDuration()).ok());
  ASSERT_TRUE(spool->PopFront().ok());
  ASSERT_TRUE(spool->Append(Event(5)).ok());
  EXPECT_EQ(Drain(*spool), (std::vector<std::string>{"gate-1.1.2", "gate-1.1.3", "gate-1.1.5"}));
}

TEST_F(EventSpoolTest, ResumesAfterARestartAcrossSegments) {
  {
    auto spool = Open(1 << 20, /*segment=*/200);  // a few records per segment
    ASSERT_NE(spool, nullptr);
    for (int i = 1; i <= 20; ++i) ASSERT_TRUE(spool->Append(Event(i)).ok());
    for (int i = 1; i <= 7; ++i) {
      ASSERT_TRUE(spool->Front(absl::ZeroDuration()).ok());
      ASSERT_TRUE(spool->PopFront().ok());
    }
  }
  size_t segments = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) {
    segments += e.path().extension() == ".seg";
  }
  EXPECT_GT(segments, 2u);
  EXPECT_LT(segments, 10u);  // the popped segments are gone
  auto spool = Open(1 << 20, 200);
  ASSERT_NE(spool, nullptr);
  EXPECT_EQ(spool->events(), 13u);
  ASSERT_TRUE(spool->Append(Event(21)).ok());
  std::vector<std::string> ids = Drain(*spool);
  ASSERT_EQ(ids.size(), 14u);
  for (int i = 0; i < 14; ++i) EXPECT_EQ(ids[i], absl::StrCat("gate-1.1.", i + 8));
}

TEST_F(EventSpoolTest, CutsATornRecordOff) {
  {
    auto spool = Open();
    ASSERT_NE(spool, nullptr);
    for (int i = 1; i <= 3; ++i) ASSERT_TRUE(spool->Append(Event(i)).ok());
  }
  std::string segment;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) {
    if (e.path().extension() == ".seg") segment = e.path();
  }
  ASSERT_FALSE(segment.empty());
  const auto size = std::filesystem::file_size(segment);
  std::filesystem::resize_file(segment, size - 5);  // the last record half written
  auto spool = Open();
  ASSERT_NE(spool, nullptr);
  EXPECT_EQ(spool->events(), 2u);
  ASSERT_TRUE(spool->Append(Event(4)).ok());
  EXPECT_EQ(Drain(*spool), (std::vector<std::string>{"gate-1.1.1", "gate-1.1.2", "gate-1.1.4"}));
}

TEST_F(EventSpoolTest, CorruptBytesAreNotSent) {
  {
    auto spool = Open();
    ASSERT_NE(spool, nullptr);
    for (int i = 1; i <= 2; ++i) ASSERT_TRUE(spool->Append(Event(i)).ok());
  }
  std::string segment;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) {
    if (e.path().extension() == ".seg") segment = e.path();
  }
  {
    std::fstream f(segment, std::ios::in | std::ios::out | std::ios::binary);
    const auto size = std::filesystem::file_size(segment);
    f.seekp(static_cast<std::streamoff>(size - 3));
    f.put('X');  // in the second record's payload: its CRC no longer matches
  }
  auto spool = Open();
  ASSERT_NE(spool, nullptr);
  EXPECT_EQ(Drain(*spool), (std::vector<std::string>{"gate-1.1.1"}));
}

TEST_F(EventSpoolTest, BootCountsUpAcrossOpens) {
  {
    auto spool = Open();
    ASSERT_NE(spool, nullptr);
    EXPECT_EQ(*spool->NextBoot(), 1u);
    EXPECT_EQ(*spool->NextBoot(), 2u);
  }
  auto spool = Open();
  ASSERT_NE(spool, nullptr);
  EXPECT_EQ(*spool->NextBoot(), 3u);
  std::ofstream(dir_ + "/boot") << "not a number\n";
  EXPECT_EQ(spool->NextBoot().status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace desfired::server::nats
