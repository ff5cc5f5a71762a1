// watch_load: WatchCards with many concurrent watchers. A sandboxed pcscd with desfire-sim on
// a vpcd reader, desfired as a child process, --watchers WatchCards streams (gRPC callback
// client API); then the card is taken off and put back on the reader through desfire-sim's
// control socket (`remove` / `insert`) --cycles times, and every event's delivery to every
// watcher is timed. Target (DESIGN.md): 1,000 watchers, each event to all of them within 50 ms
// of pcscd reporting it; server RSS under 200 MB meanwhile.
//
//   watch_load                          # needs root (the pcscd sandbox)
//   watch_load --watchers 1000 --channels 1000 --cycles 10
//
// When "pcscd reported it": an observer thread of this process waits in SCardGetStatusChange
// on the same reader of the same pcscd, as desfired's reader monitor does, and notes when the
// call returns with the change. Delays are measured two ways, both on this machine's
// CLOCK_REALTIME (the server is a separate process on the same machine):
//   from pcscd   the earlier of the observer's wake-up and the event's `time` → the watcher's
//                OnReadDone (the response parsed). The two processes wake from the same report
//                a few ms apart either way; the earlier one is the closer bound. For an
//                insertion desfired reads the card's UID (FF CA 00 00 00) before it publishes,
//                so the observer's wake-up is the earlier one there.
//   from `time`  the event's own `time` (set by desfired's monitor when it publishes) → the
//                watcher's OnReadDone: fan-out and delivery alone.
// The k-th change the observer saw is matched with the k-th event of the reader on the stream
// (both must be CARD_REMOVED, CARD_INSERTED, ... in turn; the tool says so when they are not).
//
// Memory: the server's VmRSS (during the watching, after the last event) and VmHWM (peak, at
// the end) from /proc/<pid>/status of the desfired child; this process (the 1,000 clients) is
// reported apart.
//
// Bounded: --cycles changes, each waited for at most --event_timeout; everything is cancelled
// and the child stopped at the end (the sandbox's destructor stops pcscd and the card).
#include <PCSC/winscard.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/load_util.h"
#include "desfired/v1/card.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "tests/integration/pcsc_sandbox.h"

ABSL_FLAG(std::string, desfired, DESFIRED_BINARY, "the desfired binary to run as the server");
ABSL_FLAG(int, watchers, 1000, "concurrent WatchCards streams");
ABSL_FLAG(int, channels, 1000, "client connections the streams are spread over");
ABSL_FLAG(int, cycles, 10, "remove + insert cycles (two events each)");
ABSL_FLAG(bool, bdp_probe, true,
          "clients probe the bandwidth-delay product (gRPC's default; each probe is a PING the "
          "server answers)");
ABSL_FLAG(absl::Duration, gap, absl::Milliseconds(300), "pause between two changes");
ABSL_FLAG(absl::Duration, event_timeout, absl::Seconds(5),
          "how long every watcher may take to get one event before the run fails");

namespace desfired {
namespace {

using bench::Percentile;

// A change of the reader as the observer saw it.
struct Change {
  bool present = false;
  absl::Time seen;
};

// Waits in SCardGetStatusChange on one reader, as desfired's monitor does, and notes when
// pcscd reports each change. Thread-safe.
class Observer {
 public:
  explicit Observer(std::string reader) : reader_(std::move(reader)) {}
  ~Observer() { Stop(); }

  absl::Status Start() {
    if (LONG rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, nullptr, nullptr, &context_);
        rv != SCARD_S_SUCCESS) {
      return absl::UnavailableError(absl::StrCat("SCardEstablishContext: ", rv));
    }
    thread_ = std::thread([this] { Run(); });
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&primed_));
    return absl::OkStatus();
  }

  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    if (thread_.joinable()) {
      SCardCancel(context_);
      thread_.join();
    }
    if (context_ != 0) SCardReleaseContext(context_);
    context_ = 0;
  }

  std::vector<Change> changes() const {
    absl::MutexLock lock(&mu_);
    return changes_;
  }

 private:
  bool Stopping() const {
    absl::MutexLock lock(&mu_);
    return stopping_;
  }

  void Run() {
    SCARD_READERSTATE state{};
    state.szReader = reader_.c_str();
    state.dwCurrentState = SCARD_STATE_UNAWARE;
    bool known = false;
    bool present = false;
    while (!Stopping()) {
      const LONG rv = SCardGetStatusChange(context_, 200, &state, 1);
      const absl::Time now = absl::Now();
      if (rv != SCARD_S_SUCCESS || (state.dwEventState & SCARD_STATE_CHANGED) == 0) {
        {
          absl::MutexLock lock(&mu_);
          primed_ = true;
        }
        if (rv != SCARD_S_SUCCESS && rv != SCARD_E_TIMEOUT) absl::SleepFor(absl::Milliseconds(10));
        continue;
      }
      const bool now_present = (state.dwEventState & SCARD_STATE_PRESENT) != 0;
      state.dwCurrentState = state.dwEventState & ~static_cast<DWORD>(SCARD_STATE_CHANGED);
      absl::MutexLock lock(&mu_);
      if (known && now_present != present) changes_.push_back({now_present, now});
      present = now_present;
      known = true;
      primed_ = true;
    }
    absl::MutexLock lock(&mu_);
    primed_ = true;
  }

  const std::string reader_;
  SCARDCONTEXT context_ = 0;
  std::thread thread_;
  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool primed_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<Change> changes_ ABSL_GUARDED_BY(mu_);
};

// One event as a watcher received it.
struct Received {
  uint64_t sequence;
  v1::CardEvent::Kind kind;
  absl::Time event_time;  // the event's `time`
  absl::Time received;    // OnReadDone
};

struct Totals {
  std::atomic<int> snapshots{0};
  std::atomic<int64_t> events{0};
  std::atomic<int> done{0};
};

// One WatchCards stream (callback API). gRPC calls OnReadDone for one stream at a time.
class Watcher final : public grpc::ClientReadReactor<v1::WatchCardsResponse> {
 public:
  Watcher(v1::CardService::Stub& stub, const std::string& reader, Totals& totals, size_t events)
      : totals_(totals) {
    request_.add_readers(reader);
    received_.reserve(events);
    stub.async()->WatchCards(&context_, &request_, this);
    StartRead(&response_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows
    const absl::Time now = absl::Now();
    if (response_.has_snapshot()) {
      totals_.snapshots.fetch_add(1);
    } else {
      const v1::CardEvent& e = response_.event();
      received_.push_back(
          {e.sequence(), e.kind(),
           absl::FromUnixSeconds(e.time().seconds()) + absl::Nanoseconds(e.time().nanos()), now});
      totals_.events.fetch_add(1);
    }
    StartRead(&response_);
  }

  void OnDone(const grpc::Status& status) override {
    status_ = status;
    totals_.done.fetch_add(1);
    done_.Notify();
  }

  void Cancel() { context_.TryCancel(); }
  bool WaitDone(absl::Duration timeout) { return done_.WaitForNotificationWithTimeout(timeout); }
  // Read after WaitDone.
  const std::vector<Received>& received() const { return received_; }
  const grpc::Status& status() const { return status_; }

 private:
  Totals& totals_;
  grpc::ClientContext context_;
  v1::WatchCardsRequest request_;
  v1::WatchCardsResponse response_;
  std::vector<Received> received_;
  grpc::Status status_;
  absl::Notification done_;
};

// Waits until `ready` holds, polling every ms; false after `timeout`.
template <typename F>
bool WaitFor(F ready, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!ready()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

int Run() {
  const int watchers = absl::GetFlag(FLAGS_watchers);
  const int channels = std::clamp(absl::GetFlag(FLAGS_channels), 1, std::max(1, watchers));
  const int cycles = absl::GetFlag(FLAGS_cycles);
  if (watchers < 1 || cycles < 1) {
    std::fprintf(stderr, "--watchers and --cycles must be positive\n");
    return 2;
  }
  {
    std::ifstream in("/proc/loadavg");
    std::string l1, l5;
    in >> l1 >> l5;
    std::printf("machine: %ld cores online; load average at start: %s (1 min), %s (5 min)\n",
                sysconf(_SC_NPROCESSORS_ONLN), l1.c_str(), l5.c_str());
  }

  testing::SandboxOptions options;
  options.sim_binary = DESFIRE_SIM;
  auto sb = testing::PcscSandbox::Start(options);
  if (!sb.ok()) {
    std::fprintf(stderr, "pcscd sandbox: %s\n", sb.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<testing::PcscSandbox> sandbox = *std::move(sb);
  if (absl::Status s = sandbox->StartCard(0, std::string(SOURCE_DIR) + "/sim/images/transit.json");
      !s.ok()) {
    std::fprintf(stderr, "desfire-sim: %s\n", s.ToString().c_str());
    return 1;
  }
  if (absl::Status s = sandbox->WaitForCard(0, true, absl::Seconds(3)); !s.ok()) {
    std::fprintf(stderr, "card: %s\n", s.ToString().c_str());
    return 1;
  }
  const std::string reader = sandbox->ReaderName(0);

  auto child = bench::ChildServer::Start(absl::GetFlag(FLAGS_desfired),
                                         {"--pcsc_socket", sandbox->dir() + "/run/pcscd.comm"},
                                         sandbox->dir(), absl::Seconds(10));
  if (!child.ok()) {
    std::fprintf(stderr, "desfired: %s\n", child.status().ToString().c_str());
    return 1;
  }
  const pid_t server_pid = (*child)->pid();
  const std::string target = absl::StrCat("127.0.0.1:", (*child)->port());
  const int64_t rss_idle = bench::ProcessStatusKb(server_pid, "VmRSS");

  Observer observer(reader);
  if (absl::Status s = observer.Start(); !s.ok()) {
    std::fprintf(stderr, "observer: %s\n", s.ToString().c_str());
    return 1;
  }

  // The streams, spread over `channels` connections.
  std::vector<std::unique_ptr<v1::CardService::Stub>> stubs;
  for (int c = 0; c < channels; ++c) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // its own TCP connection
    args.SetInt("desfired.bench.channel", c);
    if (!absl::GetFlag(FLAGS_bdp_probe)) args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    stubs.push_back(v1::CardService::NewStub(
        grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args)));
  }
  Totals totals;
  std::vector<std::unique_ptr<Watcher>> streams;
  const absl::Time open_start = absl::Now();
  const size_t events = static_cast<size_t>(2 * cycles + 4);
  for (int w = 0; w < watchers; ++w) {
    streams.push_back(std::make_unique<Watcher>(*stubs[w % channels], reader, totals, events));
  }
  int exit_code = 0;
  const bool opened = WaitFor(
      [&] { return totals.snapshots.load() + totals.done.load() >= watchers; }, absl::Seconds(30));
  const double open_s = absl::ToDoubleSeconds(absl::Now() - open_start);
  std::printf("%d WatchCards streams over %d connections: %d snapshots in %.2f s (%d ended)\n",
              watchers, channels, totals.snapshots.load(), open_s, totals.done.load());
  if (!opened || totals.done.load() > 0) exit_code = 1;
  const int64_t rss_watching = bench::ProcessStatusKb(server_pid, "VmRSS");

  // The changes.
  const double server_cpu0 = bench::ProcessCpuSeconds(server_pid);
  const absl::Time run_start = absl::Now();
  int expected = 0;
  for (int c = 0; c < cycles && exit_code == 0; ++c) {
    for (const char* command : {"remove", "insert"}) {
      absl::SleepFor(absl::GetFlag(FLAGS_gap));
      auto reply = sandbox->Control(0, command);
      if (!reply.ok()) {
        std::fprintf(stderr, "control %s: %s\n", command, reply.status().ToString().c_str());
        exit_code = 1;
        break;
      }
      ++expected;
      const int64_t want = static_cast<int64_t>(expected) * watchers;
      if (!WaitFor([&] { return totals.events.load() >= want; },
                   absl::GetFlag(FLAGS_event_timeout))) {
        std::fprintf(stderr, "event %d (%s): %lld of %lld deliveries in time\n", expected, command,
                     static_cast<long long>(totals.events.load()), static_cast<long long>(want));
        exit_code = 1;
        break;
      }
    }
  }
  absl::SleepFor(absl::Milliseconds(100));  // a stray late event would show up here
  const double run_s = absl::ToDoubleSeconds(absl::Now() - run_start);
  const double server_cpu = bench::ProcessCpuSeconds(server_pid) - server_cpu0;
  const int64_t rss_after = bench::ProcessStatusKb(server_pid, "VmRSS");
  const int64_t client_rss = bench::ProcessStatusKb(0, "VmRSS");

  // Cancel every stream, wait for all of them, then stop the server.
  for (auto& s : streams) s->Cancel();
  int not_done = 0;
  for (auto& s : streams) not_done += s->WaitDone(absl::Seconds(10)) ? 0 : 1;
  const int64_t hwm = bench::ProcessStatusKb(server_pid, "VmHWM");
  observer.Stop();
  (*child)->Stop();

  // The events, in stream order (every watcher must have the same ones).
  const std::vector<Change> changes = observer.changes();
  const std::vector<Received>& first = streams[0]->received();
  bool consistent = first.size() == changes.size();
  for (size_t i = 0; consistent && i < first.size(); ++i) {
    consistent = (first[i].kind == v1::CardEvent::CARD_INSERTED) == changes[i].present;
  }
  // pcscd's report: the earlier of the observer's wake-up and the event's `time` (desfired's
  // monitor wakes from the same report, and the two processes' wake-ups differ by a few ms
  // either way).
  std::vector<double> from_pcscd, from_time, last_per_event, lag_removed, lag_inserted;
  int mismatched = 0;
  for (size_t i = 0; i < first.size(); ++i) {
    const absl::Time reported =
        consistent ? std::min(changes[i].seen, first[i].event_time) : absl::InfiniteFuture();
    double last = 0;
    for (const auto& s : streams) {
      const std::vector<Received>& r = s->received();
      if (r.size() != first.size() || r[i].sequence != first[i].sequence) {
        ++mismatched;
        continue;
      }
      const double t = absl::ToDoubleMilliseconds(r[i].received - r[i].event_time);
      from_time.push_back(t);
      if (consistent) {
        const double p = absl::ToDoubleMilliseconds(r[i].received - reported);
        from_pcscd.push_back(p);
        last = std::max(last, p);
      }
    }
    if (consistent) {
      last_per_event.push_back(last);
      (changes[i].present ? lag_inserted : lag_removed)
          .push_back(absl::ToDoubleMilliseconds(first[i].event_time - changes[i].seen));
    }
  }

  std::printf(
      "== WatchCards: %d watchers over %d connections, %zu events (%d cycles of "
      "remove + insert), server: child desfired%s\n",
      watchers, channels, first.size(), cycles,
      absl::GetFlag(FLAGS_bdp_probe) ? "" : "; clients without BDP probes");
  std::printf(
      "  observer saw %zu changes; events matched with them: %s; watchers whose events "
      "differ from watcher 0's: %d; streams not ended: %d\n",
      changes.size(), consistent ? "yes" : "NO", mismatched, not_done);
  if (consistent) {
    const double p50 = Percentile(from_pcscd, 50), p99 = Percentile(from_pcscd, 99);
    std::printf(
        "  delay from pcscd's report (%zu deliveries): p50 %.2f ms  p99 %.2f ms  "
        "max %.2f ms\n",
        from_pcscd.size(), p50, p99, from_pcscd.empty() ? 0 : from_pcscd.back());
    const size_t late = static_cast<size_t>(
        std::count_if(from_pcscd.begin(), from_pcscd.end(), [](double d) { return d > 50; }));
    std::printf("  deliveries later than 50 ms after pcscd's report: %zu of %zu\n", late,
                from_pcscd.size());
    const double l50 = Percentile(last_per_event, 50);
    std::printf("  last watcher per event, from pcscd: median %.2f ms  worst %.2f ms\n", l50,
                last_per_event.empty() ? 0 : last_per_event.back());
    for (auto* lag : {&lag_removed, &lag_inserted}) {
      const double l_50 = Percentile(*lag, 50);
      std::printf(
          "  event `time` minus the observer's wake-up, %s: min %.2f  median %.2f  max %.2f ms\n",
          lag == &lag_removed ? "removals " : "insertions (UID read first)",
          lag->empty() ? 0 : lag->front(), l_50, lag->empty() ? 0 : lag->back());
    }
  }
  {
    const double p50 = Percentile(from_time, 50), p99 = Percentile(from_time, 99);
    std::printf(
        "  delay from the event's time (%zu deliveries): p50 %.2f ms  p99 %.2f ms  "
        "max %.2f ms\n",
        from_time.size(), p50, p99, from_time.empty() ? 0 : from_time.back());
  }
  std::printf(
      "  server RSS: %.1f MB idle, %.1f MB with the streams open, %.1f MB after the "
      "events; peak (VmHWM) %.1f MB\n",
      static_cast<double>(rss_idle) / 1024, static_cast<double>(rss_watching) / 1024,
      static_cast<double>(rss_after) / 1024, static_cast<double>(hwm) / 1024);
  std::printf(
      "  server CPU during the changes: %.3f s in %.2f s; this process (clients) RSS "
      "%.1f MB\n",
      server_cpu, run_s, static_cast<double>(client_rss) / 1024);
  if (!consistent || mismatched > 0 || not_done > 0) exit_code = 1;
  if (not_done > 0) {
    // gRPC may still call them: leave them alive (the process ends now).
    for (auto& s : streams) (void)s.release();
  }
  streams.clear();
  return exit_code;
}

}  // namespace
}  // namespace desfired

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("WatchCards load: many watchers, card events through pcscd");
  absl::ParseCommandLine(argc, argv);
  return desfired::Run();
}
