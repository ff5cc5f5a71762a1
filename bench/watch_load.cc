// watch_load: WatchCards with many concurrent watchers. A sandboxed pcscd with desfire-sim on
// a vpcd reader, desfired as a child process, --watchers WatchCards streams (gRPC callback
// client API); then the card is taken off and put back on the reader through desfire-sim's
// control socket (`remove` / `insert`) --cycles times per run, --runs runs, and every event's
// delivery to every watcher is timed. Targets (issue 21): 1,000 watchers on 1,000 connections,
// each event to all of them within 50 ms (p99) of pcscd reporting it in 10 of 10 runs; server
// RSS under 200 MB; a watcher that stops reading is cut off and the others' p99 is unchanged.
//
//   watch_load                          # needs root (the pcscd sandbox)
//   watch_load --watchers 1000 --channels 1000 --cycles 10 --runs 10 --stopped_runs 2
//   watch_load --server_args=--watch_threads=1      # flags added to desfired's
//
// Each run prints its p99 and the tool counts the runs that meet --target_ms. Then, with
// --stopped_runs, a watcher that stops reading joins: a raw HTTP/2 client on its own connection
// whose stream window holds exactly its snapshot and is never opened again. It must be cut off
// (its stream reset, SLOW_CONSUMER in the server's log) after --watch_write_timeout, and the
// runs with it are printed beside the median p99 of the runs without it (the reference of the
// same invocation).
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
#include "absl/strings/str_split.h"
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
#include "tests/testing/raw_http2.h"

ABSL_FLAG(std::string, desfired, DESFIRED_BINARY, "the desfired binary to run as the server");
ABSL_FLAG(int, watchers, 1000, "concurrent WatchCards streams");
ABSL_FLAG(int, channels, 1000, "client connections the streams are spread over");
ABSL_FLAG(int, cycles, 10, "remove + insert cycles (two events each) per run");
ABSL_FLAG(int, runs, 10, "runs of --cycles cycles; each run's p99 is held against --target_ms");
ABSL_FLAG(int, stopped_runs, 2,
          "runs with a watcher that stops reading after its snapshot (0: none)");
ABSL_FLAG(double, target_ms, 50, "the p99 delay a run must meet, from pcscd's report");
ABSL_FLAG(absl::Duration, watch_write_timeout, absl::Seconds(5),
          "desfired's --watch_write_timeout (the stopped watcher is cut off after it)");
ABSL_FLAG(bool, per_event, false,
          "print the delay of each event's last watcher for every run (always for the runs with "
          "the stopped watcher)");
ABSL_FLAG(std::string, server_args, "", "more desfired flags, separated by spaces");
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

// "1.23 0.98": the load average over 1 and 5 minutes.
std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string l1, l5;
  in >> l1 >> l5;
  return absl::StrCat(l1, " ", l5);
}

// One run: the events [begin, end) of every stream.
struct RunSpan {
  size_t begin = 0;
  size_t end = 0;
  std::string started;  // wall-clock time
  std::string load;     // LoadAverage() at its start
  double server_cpu = 0;
  bool stopped_watcher = false;  // a watcher that stopped reading was open
};

// The delays of the events [begin, end) over all watchers, in ms.
struct Delays {
  std::vector<double> from_pcscd;      // from the earlier of the observer and the event's time
  std::vector<double> from_time;       // from the event's `time`
  std::vector<double> last_per_event;  // the last watcher of each event, from pcscd
  int mismatched = 0;                  // watchers whose events differ from watcher 0's
};

Delays Collect(const std::vector<std::unique_ptr<Watcher>>& streams,
               const std::vector<Change>& changes, bool consistent, size_t begin, size_t end) {
  Delays d;
  const std::vector<Received>& first = streams[0]->received();
  for (size_t i = begin; i < end && i < first.size(); ++i) {
    // pcscd's report: the earlier of the observer's wake-up and the event's `time` (desfired's
    // monitor wakes from the same report; the two wake-ups differ by a few ms either way).
    const absl::Time reported =
        consistent ? std::min(changes[i].seen, first[i].event_time) : absl::InfiniteFuture();
    double last = 0;
    for (const auto& s : streams) {
      const std::vector<Received>& r = s->received();
      if (r.size() != first.size() || r[i].sequence != first[i].sequence) {
        ++d.mismatched;
        continue;
      }
      d.from_time.push_back(absl::ToDoubleMilliseconds(r[i].received - r[i].event_time));
      if (consistent) {
        const double p = absl::ToDoubleMilliseconds(r[i].received - reported);
        d.from_pcscd.push_back(p);
        last = std::max(last, p);
      }
    }
    if (consistent) d.last_per_event.push_back(last);
  }
  return d;
}

// A watcher that reads its snapshot and then stops: a raw HTTP/2 client whose stream window
// holds exactly the snapshot, never opened again. The server must cut it off (RST_STREAM) after
// --watch_write_timeout. Watches for the reset on a thread of its own.
class StoppedWatcher {
 public:
  ~StoppedWatcher() {
    if (thread_.joinable()) thread_.join();
  }

  // `snapshot_bytes`: the size of the snapshot it will get (a watcher without a reader filter).
  absl::Status Start(int port, size_t snapshot_bytes, absl::Duration wait) {
    absl::StatusOr<std::unique_ptr<testing::RawHttp2>> c = testing::RawHttp2::Connect(port);
    if (!c.ok()) return c.status();
    raw_ = *std::move(c);
    if (absl::Status s = raw_->Handshake(static_cast<uint32_t>(snapshot_bytes + 5)); !s.ok()) {
      return s;
    }
    if (absl::Status s = raw_->StartCall(1, "/desfired.v1.CardService/WatchCards", ""); !s.ok()) {
      return s;
    }
    absl::StatusOr<testing::RawHttp2::Frame> data = raw_->WaitFor(
        [](const testing::RawHttp2::Frame& f) {
          return f.type == testing::RawHttp2::kData && f.stream == 1;
        },
        absl::Seconds(10));
    if (!data.ok()) return data.status();
    thread_ = std::thread([this, wait] {
      absl::StatusOr<testing::RawHttp2::Frame> reset = raw_->WaitFor(
          [](const testing::RawHttp2::Frame& f) {
            return f.type == testing::RawHttp2::kRstStream && f.stream == 1;
          },
          wait);
      if (reset.ok()) reset_at_ = absl::Now();
      done_.Notify();
    });
    return absl::OkStatus();
  }

  // When the server reset its stream (InfiniteFuture: not within `wait`). Waits for the thread.
  absl::Time WaitReset() {
    done_.WaitForNotification();
    return reset_at_;
  }

 private:
  std::unique_ptr<testing::RawHttp2> raw_;
  std::thread thread_;
  absl::Notification done_;
  absl::Time reset_at_ = absl::InfiniteFuture();  // written before done_
};

// Lines of the server's log holding `text`.
int CountLogLines(const std::string& path, const std::string& text) {
  std::ifstream in(path);
  int n = 0;
  for (std::string line; std::getline(in, line);) n += line.find(text) != std::string::npos;
  return n;
}

int Run() {
  const int watchers = absl::GetFlag(FLAGS_watchers);
  const int channels = std::clamp(absl::GetFlag(FLAGS_channels), 1, std::max(1, watchers));
  const int cycles = absl::GetFlag(FLAGS_cycles);
  const int runs = absl::GetFlag(FLAGS_runs);
  const int stopped_runs = absl::GetFlag(FLAGS_stopped_runs);
  const double target_ms = absl::GetFlag(FLAGS_target_ms);
  const absl::Duration write_timeout = absl::GetFlag(FLAGS_watch_write_timeout);
  if (watchers < 1 || cycles < 1 || runs < 1 || stopped_runs < 0) {
    std::fprintf(stderr, "--watchers, --cycles and --runs must be positive\n");
    return 2;
  }
  std::printf("machine: %ld cores online; load average at start: %s (1 and 5 min)\n",
              sysconf(_SC_NPROCESSORS_ONLN), LoadAverage().c_str());

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

  std::vector<std::string> server_args = {
      "--pcsc_socket", sandbox->dir() + "/run/pcscd.comm",
      absl::StrCat("--watch_write_timeout=", absl::FormatDuration(write_timeout)),
      // The watchers' connections, the stopped watcher's and the probe's fit.
      absl::StrCat("--max_connections=", channels + 16)};
  for (absl::string_view a :
       absl::StrSplit(absl::GetFlag(FLAGS_server_args), ' ', absl::SkipEmpty())) {
    server_args.emplace_back(a);
  }
  auto child = bench::ChildServer::Start(absl::GetFlag(FLAGS_desfired), server_args, sandbox->dir(),
                                         absl::Seconds(10));
  if (!child.ok()) {
    std::fprintf(stderr, "desfired: %s\n", child.status().ToString().c_str());
    return 1;
  }
  const pid_t server_pid = (*child)->pid();
  const int port = (*child)->port();
  const std::string target = absl::StrCat("127.0.0.1:", port);
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
  const size_t events = static_cast<size_t>(2 * cycles * (runs + stopped_runs) + 4);
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

  // The runs: `cycles` removals and insertions each; the delivery of each event to every
  // watcher is waited for before the next change.
  int expected = 0;
  auto cycle_run = [&](bool stopped_watcher) {
    RunSpan span;
    span.begin = static_cast<size_t>(expected);
    span.started = absl::FormatTime("%H:%M:%S", absl::Now(), absl::LocalTimeZone());
    span.load = LoadAverage();
    span.stopped_watcher = stopped_watcher;
    const double cpu0 = bench::ProcessCpuSeconds(server_pid);
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
          std::fprintf(stderr, "event %d (%s): %lld of %lld deliveries in time\n", expected,
                       command, static_cast<long long>(totals.events.load()),
                       static_cast<long long>(want));
          exit_code = 1;
          break;
        }
      }
    }
    span.server_cpu = bench::ProcessCpuSeconds(server_pid) - cpu0;
    span.end = static_cast<size_t>(expected);
    return span;
  };
  std::vector<RunSpan> spans;
  for (int r = 0; r < runs && exit_code == 0; ++r) spans.push_back(cycle_run(false));

  // Then a watcher that stops reading after its snapshot, and more runs with it open.
  StoppedWatcher stopped;
  bool stopped_started = false;
  if (stopped_runs > 0 && exit_code == 0) {
    // The size of its snapshot: the one a watcher without a reader filter gets now.
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    auto probe = stubs[0]->WatchCards(&ctx, v1::WatchCardsRequest());
    v1::WatchCardsResponse snapshot;
    const bool read = probe->Read(&snapshot);
    ctx.TryCancel();
    (void)probe->Finish();
    absl::Status s = read ? stopped.Start(port, snapshot.ByteSizeLong(),
                                          write_timeout + absl::Seconds(5) +
                                              stopped_runs * cycles * 2 * absl::GetFlag(FLAGS_gap) +
                                              absl::Seconds(30))
                          : absl::UnavailableError("no snapshot for the probe watcher");
    if (!s.ok()) {
      std::fprintf(stderr, "stopped watcher: %s\n", s.ToString().c_str());
      exit_code = 1;
    } else {
      stopped_started = true;
    }
  }
  for (int r = 0; r < stopped_runs && exit_code == 0; ++r) spans.push_back(cycle_run(true));
  const absl::Time stopped_reset = stopped_started ? stopped.WaitReset() : absl::InfiniteFuture();

  absl::SleepFor(absl::Milliseconds(100));  // a stray late event would show up here
  const int64_t rss_after = bench::ProcessStatusKb(server_pid, "VmRSS");
  const int64_t client_rss = bench::ProcessStatusKb(0, "VmRSS");

  // Cancel every stream, wait for all of them, then stop the server.
  for (auto& s : streams) s->Cancel();
  int not_done = 0;
  for (auto& s : streams) not_done += s->WaitDone(absl::Seconds(10)) ? 0 : 1;
  const int64_t hwm = bench::ProcessStatusKb(server_pid, "VmHWM");
  observer.Stop();
  (*child)->Stop();
  const int slow_consumer_lines =
      CountLogLines(sandbox->dir() + "/desfired.log", "\"reason\":\"SLOW_CONSUMER\"");

  // The events, in stream order (every watcher must have the same ones).
  const std::vector<Change> changes = observer.changes();
  const std::vector<Received>& first = streams[0]->received();
  bool consistent = first.size() == changes.size();
  for (size_t i = 0; consistent && i < first.size(); ++i) {
    consistent = (first[i].kind == v1::CardEvent::CARD_INSERTED) == changes[i].present;
  }

  std::printf("== WatchCards: %d watchers over %d connections, %zu events, server: child desfired",
              watchers, channels, first.size());
  for (size_t i = 2; i < server_args.size(); ++i) std::printf(" %s", server_args[i].c_str());
  std::printf("%s\n", absl::GetFlag(FLAGS_bdp_probe) ? "" : "; clients without BDP probes");
  std::printf("  observer saw %zu changes; events matched with them: %s\n", changes.size(),
              consistent ? "yes" : "NO");
  std::printf(
      "  runs of %d cycles (remove + insert, %s apart); delays from pcscd's report, every "
      "delivery:\n",
      cycles, absl::FormatDuration(absl::GetFlag(FLAGS_gap)).c_str());
  int met = 0, mismatched = 0;
  std::vector<double> normal_p99, stopped_p99, all_normal;
  for (size_t r = 0; r < spans.size(); ++r) {
    const RunSpan& span = spans[r];
    Delays d = Collect(streams, changes, consistent, span.begin, span.end);
    mismatched += d.mismatched;
    const size_t n = d.from_pcscd.size();
    const size_t late = static_cast<size_t>(std::count_if(d.from_pcscd.begin(), d.from_pcscd.end(),
                                                          [&](double v) { return v > target_ms; }));
    if (!span.stopped_watcher)
      all_normal.insert(all_normal.end(), d.from_pcscd.begin(), d.from_pcscd.end());
    const double p50 = bench::Percentile(d.from_pcscd, 50);
    const double p99 = bench::Percentile(d.from_pcscd, 99);
    const double max = d.from_pcscd.empty() ? 0 : d.from_pcscd.back();
    const double t99 = bench::Percentile(d.from_time, 99);
    const size_t n_events = span.end - span.begin;
    std::printf(
        "  %s %2zu  %s  load %s  %zu deliveries: p50 %6.2f  p99 %6.2f  max %6.2f ms  late "
        "(>%.0f ms) %5zu  | from `time` p99 %6.2f ms | server CPU/event %5.1f ms\n",
        span.stopped_watcher ? "stopped-reader run" : "run", r + 1, span.started.c_str(),
        span.load.c_str(), n, p50, p99, max, target_ms, late, t99,
        n_events > 0 ? 1000 * span.server_cpu / static_cast<double>(n_events) : 0.0);
    if (span.stopped_watcher || absl::GetFlag(FLAGS_per_event)) {
      std::printf("      the last watcher of each event, from pcscd (ms):");
      for (double v : d.last_per_event) std::printf(" %.0f", v);
      std::printf("\n");
    }
    if (span.stopped_watcher) {
      stopped_p99.push_back(p99);
    } else {
      normal_p99.push_back(p99);
      met += (n > 0 && p99 <= target_ms) ? 1 : 0;
    }
  }
  const int normal_runs = static_cast<int>(normal_p99.size());
  std::printf(
      "  runs with p99 <= %.0f ms: %d of %d; p99 over these runs' %zu deliveries: %.2f ms\n",
      target_ms, met, normal_runs, all_normal.size(), bench::Percentile(all_normal, 99));
  if (stopped_started) {
    const double median_normal = bench::Percentile(normal_p99, 50);
    const absl::Time stop_event =
        spans.size() > static_cast<size_t>(normal_runs) && spans[normal_runs].begin < first.size()
            ? first[spans[normal_runs].begin].event_time
            : absl::InfiniteFuture();
    std::printf(
        "  stopped reader: cut off (stream reset): %s, %.2f s after the first event it did not "
        "take (--watch_write_timeout %s); SLOW_CONSUMER lines in the server log: %d\n",
        stopped_reset != absl::InfiniteFuture() ? "yes" : "NO",
        absl::ToDoubleSeconds(stopped_reset - stop_event),
        absl::FormatDuration(write_timeout).c_str(), slow_consumer_lines);
    for (size_t i = 0; i < stopped_p99.size(); ++i) {
      std::printf(
          "  the others' p99 with it (run %zu): %.2f ms = %.2fx the median p99 of the runs "
          "without it (%.2f ms)\n",
          static_cast<size_t>(normal_runs) + i + 1, stopped_p99[i],
          median_normal > 0 ? stopped_p99[i] / median_normal : 0.0, median_normal);
    }
    if (stopped_reset == absl::InfiniteFuture()) exit_code = 1;
  }
  std::printf(
      "  watchers whose events differ from watcher 0's (deliveries): %d; streams not "
      "ended: %d\n",
      mismatched, not_done);
  if (consistent) {
    std::vector<double> lag_removed, lag_inserted;
    for (size_t i = 0; i < first.size(); ++i) {
      (changes[i].present ? lag_inserted : lag_removed)
          .push_back(absl::ToDoubleMilliseconds(first[i].event_time - changes[i].seen));
    }
    for (auto* lag : {&lag_removed, &lag_inserted}) {
      const double l_50 = bench::Percentile(*lag, 50);
      std::printf(
          "  event `time` minus the observer's wake-up, %s: min %.2f  median %.2f  max %.2f ms\n",
          lag == &lag_removed ? "removals " : "insertions (UID read first)",
          lag->empty() ? 0 : lag->front(), l_50, lag->empty() ? 0 : lag->back());
    }
  }
  std::printf(
      "  server RSS: %.1f MB idle, %.1f MB with the streams open, %.1f MB after the "
      "events; peak (VmHWM) %.1f MB; this process (clients) RSS %.1f MB\n",
      static_cast<double>(rss_idle) / 1024, static_cast<double>(rss_watching) / 1024,
      static_cast<double>(rss_after) / 1024, static_cast<double>(hwm) / 1024,
      static_cast<double>(client_rss) / 1024);
  std::printf("load average at the end: %s\n", LoadAverage().c_str());
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
