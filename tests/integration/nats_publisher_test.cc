// NatsPublisher (server/nats/nats_publisher.h) against a real nats-server with JetStream
// (tests/testing/nats_sandbox.h) and the real event hub: subjects, payloads and message ids;
// NATS paused (SIGSTOP) and killed and restarted while events come; the buffer full; a
// restart of the publisher. Skipped without nats-server.
#include "server/nats/nats_publisher.h"

#include <unistd.h>

#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/observability/metrics.h"
#include "server/readers/event_hub.h"
#include "tests/testing/nats_sandbox.h"

namespace desfired::server::nats {
namespace {

using testing::NatsSandbox;
using testing::StoredMessage;

constexpr char kStream[] = "DESFIRED";
constexpr char kReader[] = "Test PCD 00 00";

bool WaitFor(const std::function<bool()>& done, absl::Duration timeout = absl::Seconds(20)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return done();
}

CardEvent Inserted(uint8_t uid_byte) {
  return CardEvent{.kind = CardEventKind::kCardInserted,
                   .reader = kReader,
                   .uid = Bytes{0x04, 0x11, 0x22, 0x33, 0x44, 0x55, uid_byte},
                   .atr = Bytes{0x3B, 0x81, 0x80, 0x01, 0x80, 0x80},
                   .time = absl::Now()};
}

CardEvent Removed() {
  return CardEvent{.kind = CardEventKind::kCardRemoved, .reader = kReader, .time = absl::Now()};
}

class NatsPublisherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    nats_ = testing::StartNatsOrSkip();
    if (nats_ == nullptr) return;
    ASSERT_TRUE(nats_->AddStream(kStream, "desfired.>").ok());
    char templ[] = "/tmp/desfired-natspub-XXXXXX";
    ASSERT_NE(mkdtemp(templ), nullptr);
    dir_ = templ;
  }
  void TearDown() override {
    publisher_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  NatsPublisherOptions Options() const {
    return {.url = nats_->url(),
            .instance = "gate-1",
            .buffer_dir = dir_ + "/nats",
            .ack_timeout = absl::Seconds(1)};
  }

  void StartPublisher(EventHub& hub, NatsPublisherOptions options) {
    absl::StatusOr<std::unique_ptr<NatsPublisher>> p =
        NatsPublisher::Start(hub, std::move(options), metrics_.get(), nullptr);
    ASSERT_TRUE(p.ok()) << p.status();
    publisher_ = *std::move(p);
  }

  // Waits until `n` events are acknowledged and none waits; the stream's messages.
  std::vector<StoredMessage> SentAll(uint64_t n) {
    EXPECT_TRUE(WaitFor([&] {
      const NatsPublisherStats s = publisher_->stats();
      return s.published >= n && s.buffered_events == 0;
    })) << "published "
        << publisher_->stats().published << " of " << n;
    absl::StatusOr<std::vector<StoredMessage>> all = nats_->Messages(kStream);
    EXPECT_TRUE(all.ok()) << all.status();
    return all.ok() ? *all : std::vector<StoredMessage>{};
  }

  // Every id "gate-1.<boot>.<first..first+n-1>", once each, in that order.
  static void ExpectIdsInOrder(const std::vector<StoredMessage>& all, uint64_t boot, uint64_t first,
                               uint64_t n, size_t from = 0) {
    ASSERT_GE(all.size(), from + n);
    for (uint64_t i = 0; i < n; ++i) {
      EXPECT_EQ(all[from + i].msg_id, absl::StrCat("gate-1.", boot, ".", first + i))
          << "stream message " << all[from + i].stream_sequence;
    }
  }

  std::unique_ptr<NatsSandbox> nats_;
  std::string dir_;
  std::unique_ptr<Metrics> metrics_ = *Metrics::Create({});  // outlive publisher_
  std::unique_ptr<EventHub> hub_ = std::make_unique<EventHub>();
  std::unique_ptr<NatsPublisher> publisher_;
};

TEST_F(NatsPublisherTest, SubjectsPayloadsAndIds) {
  if (nats_ == nullptr) return;
  EventHub& hub = *hub_;
  ASSERT_NO_FATAL_FAILURE(StartPublisher(hub, Options()));
  hub.Publish({.kind = CardEventKind::kReaderAdded, .reader = kReader, .time = absl::Now()});
  hub.Publish(Inserted(0x66));
  hub.Publish({.kind = CardEventKind::kChange,
               .reader = kReader,
               .time = absl::Now(),
               .change = ChangeRecord{.outcome = ChangeOutcome::kCommitted,
                                      .method = "Debit",
                                      .request_id = "req-1",
                                      .ledger_seq = 12,
                                      .amount = 150}});
  hub.Publish({.kind = CardEventKind::kPcscUnavailable, .time = absl::Now()});
  const std::vector<StoredMessage> all = SentAll(4);
  ASSERT_EQ(all.size(), 4u);
  ExpectIdsInOrder(all, 1, 1, 4);
  EXPECT_EQ(all[0].subject, "desfired.gate-1.Test_PCD_00_00.reader");
  EXPECT_EQ(all[1].subject, "desfired.gate-1.Test_PCD_00_00.card");
  EXPECT_EQ(all[2].subject, "desfired.gate-1.Test_PCD_00_00.change");
  EXPECT_EQ(all[3].subject, "desfired.gate-1._.reader");
  EXPECT_TRUE(absl::StartsWith(all[0].data,
                               "{\"event\":{\"sequence\":\"1\",\"kind\":\"READER_ADDED\","
                               "\"reader\":\"Test PCD 00 00\""))
      << all[0].data;
  EXPECT_TRUE(absl::StrContains(all[1].data, "\"kind\":\"CARD_INSERTED\"")) << all[1].data;
  EXPECT_TRUE(absl::StrContains(all[1].data, "\"atr\":\"O4GAAYCA\"")) << all[1].data;
  EXPECT_FALSE(absl::StrContains(all[1].data, "uid")) << "UIDs only with include_uids";
  EXPECT_TRUE(absl::StartsWith(all[2].data,
                               "{\"change\":{\"sequence\":\"3\",\"outcome\":"
                               "\"COMMITTED\",\"method\":\"Debit\",\"reader\":"
                               "\"Test PCD 00 00\",\"requestId\":\"req-1\","
                               "\"ledgerSeq\":\"12\",\"time\":"))
      << all[2].data;
  EXPECT_TRUE(absl::StrContains(all[2].data, "\"amount\":\"150\"")) << all[2].data;
  EXPECT_TRUE(absl::StrContains(all[3].data, "\"kind\":\"PCSC_UNAVAILABLE\"")) << all[3].data;
  const std::string text = metrics_->Serialize();
  EXPECT_TRUE(absl::StrContains(text, "desfired_nats_published_total 4")) << text;
  EXPECT_TRUE(absl::StrContains(text, "desfired_nats_connected 1")) << text;
  EXPECT_TRUE(absl::StrContains(text, "desfired_nats_buffered_events 0")) << text;
  EXPECT_TRUE(absl::StrContains(text, "desfired_nats_dropped_total{reason=\"buffer_full\"} 0"))
      << text;
}

TEST_F(NatsPublisherTest, UidsOnlyWhenAsked) {
  if (nats_ == nullptr) return;
  EventHub& hub = *hub_;
  NatsPublisherOptions options = Options();
  options.include_uids = true;
  ASSERT_NO_FATAL_FAILURE(StartPublisher(hub, options));
  hub.Publish(Inserted(0x66));
  const std::vector<StoredMessage> all = SentAll(1);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_TRUE(absl::StrContains(all[0].data, "\"uid\":\"BBEiM0RVZg==\"")) << all[0].data;
}

TEST_F(NatsPublisherTest, PausedNatsLosesNothingAndDuplicatesNothing) {
  if (nats_ == nullptr) return;
  EventHub& hub = *hub_;
  ASSERT_NO_FATAL_FAILURE(StartPublisher(hub, Options()));
  constexpr int kEvents = 60;
  for (int i = 0; i < kEvents; ++i) {
    if (i == 10) nats_->Pause();  // SIGSTOP: the connection stays, nothing is answered
    hub.Publish(i % 2 == 0 ? Inserted(static_cast<uint8_t>(i)) : Removed());
    absl::SleepFor(absl::Milliseconds(40));  // 2.4 s of events, 2 s of them paused
  }
  EXPECT_GT(publisher_->stats().buffered_events, 0u);
  nats_->Resume();
  const std::vector<StoredMessage> all = SentAll(kEvents);
  ASSERT_EQ(all.size(), static_cast<size_t>(kEvents));  // once each
  ExpectIdsInOrder(all, 1, 1, kEvents);                 // in order
}

TEST_F(NatsPublisherTest, KilledAndRestartedNatsGetsTheBufferInOrder) {
  if (nats_ == nullptr) return;
  EventHub& hub = *hub_;
  ASSERT_NO_FATAL_FAILURE(StartPublisher(hub, Options()));
  hub.Publish(Inserted(1));
  ASSERT_TRUE(WaitFor([&] { return publisher_->stats().published == 1; }));
  nats_->Kill();
  for (int i = 0; i < 30; ++i) hub.Publish(i % 2 == 0 ? Removed() : Inserted(2));
  ASSERT_TRUE(WaitFor([&] { return publisher_->stats().buffered_events == 30; }));
  ASSERT_TRUE(WaitFor([&] {
    return absl::StrContains(metrics_->Serialize(), "desfired_nats_connected 0") &&
           absl::StrContains(metrics_->Serialize(), "desfired_nats_buffered_events 30");
  })) << metrics_->Serialize();
  ASSERT_TRUE(nats_->Restart().ok());  // the same store and port
  const std::vector<StoredMessage> all = SentAll(31);
  ASSERT_EQ(all.size(), 31u);
  ExpectIdsInOrder(all, 1, 1, 31);
}

TEST_F(NatsPublisherTest, AFullBufferDropsTheNewestAndCountsThem) {
  if (nats_ == nullptr) return;
  EventHub& hub = *hub_;
  NatsPublisherOptions options = Options();
  options.buffer_bytes = 4096;
  ASSERT_NO_FATAL_FAILURE(StartPublisher(hub, options));
  nats_->Kill();
  absl::SleepFor(absl::Milliseconds(100));
  constexpr int kEvents = 40;  // ~200 bytes each: about 20 fit
  for (int i = 0; i < kEvents; ++i) hub.Publish(i % 2 == 0 ? Inserted(3) : Removed());
  ASSERT_TRUE(WaitFor([&] {
    const NatsPublisherStats s = publisher_->stats();
    return s.buffered_events + s.dropped_buffer_full == kEvents;
  }));
  const NatsPublisherStats s = publisher_->stats();
  EXPECT_GT(s.dropped_buffer_full, 0u);
  EXPECT_GT(s.buffered_events, 5u);
  EXPECT_LE(s.buffered_bytes, 4096u);
  ASSERT_TRUE(nats_->Restart().ok());
  const std::vector<StoredMessage> all = SentAll(s.buffered_events);
  ASSERT_EQ(all.size(), s.buffered_events);
  ExpectIdsInOrder(all, 1, 1, s.buffered_events);  // the oldest kept, the newest dropped
}

TEST_F(NatsPublisherTest, ARestartNeverReusesAMessageId) {
  if (nats_ == nullptr) return;
  nats_->Kill();  // the first run's events stay in the buffer
  ASSERT_NO_FATAL_FAILURE(StartPublisher(*hub_, Options()));  // sequences from 1
  for (int i = 0; i < 5; ++i) hub_->Publish(Inserted(4));
  ASSERT_TRUE(WaitFor([&] { return publisher_->stats().buffered_events == 5; }));
  publisher_.reset();
  hub_ = std::make_unique<EventHub>();  // the same sequences again: only the boot differs
  EventHub& hub = *hub_;
  ASSERT_TRUE(nats_->Restart().ok());
  ASSERT_NO_FATAL_FAILURE(StartPublisher(hub, Options()));
  EXPECT_EQ(publisher_->stats().boot, 2u);
  for (int i = 0; i < 5; ++i) hub.Publish(Removed());
  const std::vector<StoredMessage> all = SentAll(10);
  ASSERT_EQ(all.size(), 10u);
  ExpectIdsInOrder(all, 1, 1, 5, 0);  // the first run's, sent by the second
  ExpectIdsInOrder(all, 2, 1, 5, 5);
  std::set<std::string> ids;
  for (const StoredMessage& m : all) ids.insert(m.msg_id);
  EXPECT_EQ(ids.size(), 10u);
}

TEST_F(NatsPublisherTest, RefusesBadSettings) {
  if (nats_ == nullptr) return;
  EventHub& hub = *hub_;
  NatsPublisherOptions options = Options();
  options.instance = "gate.1";
  EXPECT_EQ(NatsPublisher::Start(hub, options, nullptr, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = Options();
  options.url = "nats://user:secret@127.0.0.1:4222";
  absl::Status s = NatsPublisher::Start(hub, options, nullptr, nullptr).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(absl::StrContains(s.message(), "secret")) << s;
  options = Options();
  options.creds_file = dir_ + "/user.creds";
  FILE* f = fopen(options.creds_file.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fclose(f);
  chmod(options.creds_file.c_str(), 0644);
  EXPECT_EQ(NatsPublisher::Start(hub, options, nullptr, nullptr).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// Without a stream the events wait (publishing is retried); --nats_create_stream creates it.
TEST(NatsPublisherStreamTest, WaitsForTheStreamOrCreatesIt) {
  std::unique_ptr<NatsSandbox> nats = testing::StartNatsOrSkip();
  if (nats == nullptr) return;
  const std::string dir = nats->dir() + "/desfired-nats";
  NatsPublisherOptions options = {
      .url = nats->url(), .instance = "gate-1", .buffer_dir = dir, .ack_timeout = absl::Seconds(1)};
  EventHub hub;
  {
    absl::StatusOr<std::unique_ptr<NatsPublisher>> p =
        NatsPublisher::Start(hub, options, nullptr, nullptr);
    ASSERT_TRUE(p.ok()) << p.status();
    hub.Publish(Removed());
    hub.Publish(Inserted(5));
    absl::SleepFor(absl::Milliseconds(1500));
    EXPECT_EQ((*p)->stats().published, 0u);
    EXPECT_EQ((*p)->stats().buffered_events, 2u);
  }
  EXPECT_EQ(nats->Messages(kStream).status().code(), absl::StatusCode::kNotFound);
  options.create_stream = true;
  absl::StatusOr<std::unique_ptr<NatsPublisher>> p =
      NatsPublisher::Start(hub, options, nullptr, nullptr);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_TRUE(WaitFor([&] { return (*p)->stats().published == 2; }));
  absl::StatusOr<std::vector<StoredMessage>> all = nats->Messages(kStream);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].msg_id, "gate-1.1.1");
  EXPECT_EQ((*all)[1].msg_id, "gate-1.1.2");
}

}  // namespace
}  // namespace desfired::server::nats
