// Events on NATS JetStream: N instances × R events/s, publish-to-consume latency (docs/fleet.md).
//
//   nats_events_bench [--instances=10] [--rate=100] [--seconds=20]
//
// One throwaway nats-server with JetStream (tests/testing/nats_sandbox.h; the stream DESFIRED
// on desfired.>, file storage) and one consumer: an ordered push consumer of the stream
// (js_Subscribe), which receives a message once JetStream has stored it. Two phases, the
// same run, the same rate and payloads:
//   reference  N threads, each with a connection of its own, js_Publish of the JSON of a card
//              event (with its Nats-Msg-Id), one acknowledged message at a time, timed from
//              just before js_Publish;
//   desfired   N event hubs, each with the real NatsPublisher (its spool on disk, its own
//              connection); a thread per instance publishes card events into its hub, timed
//              from just before EventHub::Publish (the hub → spool → sender → JetStream path).
// Latency: to the consumer's callback, matched by message id. Prints p50 / p99 / max, the
// messages received and lost, and the load average. Not part of ctest.
#include <nats/nats.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "proto/convert/proto_json.h"
#include "server/nats/nats_publisher.h"
#include "server/nats/subjects.h"
#include "server/readers/event_hub.h"
#include "server/rpc/watch_items.h"
#include "tests/testing/nats_sandbox.h"

ABSL_FLAG(int, instances, 10, "simulated desfired instances");
ABSL_FLAG(int, rate, 100, "events per second per instance");
ABSL_FLAG(int, seconds, 20, "seconds per phase");

namespace desfired {
namespace {

using server::CardEvent;
using server::CardEventKind;

// When each message was sent, by message id, and when it arrived.
class Latencies {
 public:
  void Sent(const std::string& id, absl::Time at) {
    absl::MutexLock lock(&mu_);
    sent_[id] = at;
  }
  void Received(const std::string& id, absl::Time at) {
    absl::MutexLock lock(&mu_);
    auto it = sent_.find(id);
    if (it == sent_.end()) return;
    latencies_.push_back(at - it->second);
    sent_.erase(it);
  }
  // "p50 / p99 / max, received of sent"
  std::string Report() {
    absl::MutexLock lock(&mu_);
    std::vector<absl::Duration> v = latencies_;
    std::sort(v.begin(), v.end());
    auto at = [&](double q) {
      return v.empty() ? 0.0
                       : absl::ToDoubleMilliseconds(
                             v[static_cast<size_t>(q * static_cast<double>(v.size() - 1))]);
    };
    return absl::StrFormat("p50 %.2f ms, p99 %.2f ms, max %.2f ms; %d received, %d lost", at(0.5),
                           at(0.99), v.empty() ? 0.0 : absl::ToDoubleMilliseconds(v.back()),
                           v.size(), sent_.size());
  }

 private:
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, absl::Time> sent_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Duration> latencies_ ABSL_GUARDED_BY(mu_);
};

Latencies* g_current = nullptr;  // the phase running; set before it starts

void OnMessage(natsConnection*, natsSubscription*, natsMsg* msg, void*) {
  const absl::Time now = absl::Now();
  const char* id = nullptr;
  if (g_current != nullptr && natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) == NATS_OK) {
    g_current->Received(id, now);
  }
  natsMsg_Destroy(msg);
}

CardEvent EventOf(int instance, uint64_t n) {
  return CardEvent{.kind = n % 2 == 0 ? CardEventKind::kCardInserted : CardEventKind::kCardRemoved,
                   .reader = absl::StrCat("Bench PCD ", instance, " 00"),
                   .uid = Bytes{0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66},
                   .atr = Bytes{0x3B, 0x81, 0x80, 0x01, 0x80, 0x80},
                   .time = absl::Now()};
}

// Runs `send(instance, n)` at `rate` per second per instance for `seconds`, paced on an
// absolute schedule (a late send does not shift the later ones).
void Paced(int instances, int rate, int seconds, const std::function<void(int, uint64_t)>& send) {
  std::vector<std::thread> threads;
  const absl::Time start = absl::Now() + absl::Milliseconds(100);
  for (int i = 0; i < instances; ++i) {
    threads.emplace_back([&, i] {
      const absl::Duration period = absl::Seconds(1) / rate;
      const absl::Time offset = start + period * i / instances;
      for (uint64_t n = 0; n < static_cast<uint64_t>(rate) * seconds; ++n) {
        const absl::Time due = offset + period * static_cast<int64_t>(n);
        const absl::Time now = absl::Now();
        if (due > now) absl::SleepFor(due - now);
        send(i, n);
      }
    });
  }
  for (std::thread& t : threads) t.join();
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return absl::StrCat(a, " ", b, " ", c);
}

int Run() {
  const int instances = absl::GetFlag(FLAGS_instances), rate = absl::GetFlag(FLAGS_rate),
            seconds = absl::GetFlag(FLAGS_seconds);
  if (!testing::NatsSandbox::Available()) {
    std::fprintf(stderr, "nats-server is not installed (scripts/setup installs it)\n");
    return 77;
  }
  absl::StatusOr<std::unique_ptr<testing::NatsSandbox>> nats = testing::NatsSandbox::Start();
  if (!nats.ok() || !(*nats)->AddStream("DESFIRED", "desfired.>").ok()) {
    std::fprintf(stderr, "nats-server did not start\n");
    return 1;
  }
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  natsSubscription* sub = nullptr;
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Ordered = true;
  so.Config.DeliverPolicy = js_DeliverNew;
  if (natsConnection_ConnectTo(&nc, (*nats)->url().c_str()) != NATS_OK ||
      natsConnection_JetStream(&js, nc, nullptr) != NATS_OK ||
      js_Subscribe(&sub, js, "desfired.>", OnMessage, nullptr, nullptr, &so, nullptr) != NATS_OK) {
    std::fprintf(stderr, "the consumer did not start: %s\n", nats_GetLastError(nullptr));
    return 1;
  }
  std::printf("nats-server %s, %d instances x %d events/s, %d s per phase; load before: %s\n",
              (*nats)->url().c_str(), instances, rate, seconds, LoadAverage().c_str());

  // Reference: raw libnats, the same payloads.
  Latencies reference;
  {
    std::vector<natsConnection*> conns(instances);
    std::vector<jsCtx*> ctxs(instances);
    for (int i = 0; i < instances; ++i) {
      natsConnection_ConnectTo(&conns[i], (*nats)->url().c_str());
      natsConnection_JetStream(&ctxs[i], conns[i], nullptr);
    }
    g_current = &reference;
    Paced(instances, rate, seconds, [&](int i, uint64_t n) {
      CardEvent e = EventOf(i, n);
      e.sequence = n + 1;
      v1::WatchCardsResponse item;
      server::EventToProto(e, &item);
      item.mutable_event()->clear_uid();
      const std::string payload = ProtoJson(item);
      const std::string instance = absl::StrCat("ref-", i);
      const std::string id = server::nats::MessageIdOf(instance, 1, n + 1);
      const std::string subject = server::nats::SubjectOf(instance, e.reader, e.kind);
      jsPubOptions po;
      jsPubOptions_Init(&po);
      po.MsgId = id.c_str();
      reference.Sent(id, absl::Now());
      js_Publish(nullptr, ctxs[i], subject.c_str(), payload.data(),
                 static_cast<int>(payload.size()), &po, nullptr);
    });
    absl::SleepFor(absl::Seconds(2));  // the last ones arrive
    for (int i = 0; i < instances; ++i) {
      jsCtx_Destroy(ctxs[i]);
      natsConnection_Destroy(conns[i]);
    }
  }
  const std::string load_reference = LoadAverage();

  // desfired: hub → NatsPublisher (spool on disk) → JetStream.
  Latencies project;
  {
    const std::string dir = (*nats)->dir() + "/publishers";
    std::filesystem::create_directories(dir);
    std::vector<std::unique_ptr<server::EventHub>> hubs;
    std::vector<std::unique_ptr<server::nats::NatsPublisher>> publishers;
    for (int i = 0; i < instances; ++i) {
      hubs.push_back(std::make_unique<server::EventHub>());
      absl::StatusOr<std::unique_ptr<server::nats::NatsPublisher>> p =
          server::nats::NatsPublisher::Start(*hubs.back(),
                                             {.url = (*nats)->url(),
                                              .instance = absl::StrCat("station-", i),
                                              .buffer_dir = absl::StrCat(dir, "/", i)},
                                             nullptr, nullptr);
      if (!p.ok()) {
        std::fprintf(stderr, "publisher: %s\n", std::string(p.status().message()).c_str());
        return 1;
      }
      publishers.push_back(*std::move(p));
    }
    absl::SleepFor(absl::Milliseconds(500));  // connected
    g_current = &project;
    Paced(instances, rate, seconds, [&](int i, uint64_t n) {
      // The hub numbers from 1: event n is sequence n + 1 of boot 1.
      project.Sent(server::nats::MessageIdOf(absl::StrCat("station-", i), 1, n + 1), absl::Now());
      hubs[i]->Publish(EventOf(i, n));
    });
    absl::SleepFor(absl::Seconds(2));
    for (auto& p : publishers) p->Stop();
  }
  g_current = nullptr;
  std::printf("reference (raw js_Publish):         %s (load after it: %s)\n",
              reference.Report().c_str(), load_reference.c_str());
  std::printf("desfired (hub, spool, NatsPublisher): %s (load after it: %s)\n",
              project.Report().c_str(), LoadAverage().c_str());
  natsSubscription_Destroy(sub);
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  return 0;
}

}  // namespace
}  // namespace desfired

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return desfired::Run();
}
