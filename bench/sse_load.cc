// sse_load: card events to 1,000 Server-Sent Events clients of desfired's HTTP API
// (GET /v1/events) against 1,000 gRPC WatchCards watchers of the same server in the same run
// (the reference), and desfired's memory with both connected (issue 17's targets: each card
// event within 100 ms p99 on 1,000 SSE clients; RSS under 250 MB with 1,000 SSE + 1,000 gRPC
// watchers). Needs root (the pcscd sandbox with desfire-sim's transit card).
//
//   build/bench/sse_load --sse 1000 --grpc 1000 --cycles 10
//
// A delivery's delay runs from the event's `time` (desfired's reader monitor stamps it when
// pcscd reports the change) to the client reading the event, on one clock, for both kinds of
// client alike (pcscd's own detection, 100-250 ms here with vpcd, is left out). The SSE
// clients are raw sockets on one epoll thread; the gRPC watchers callback streams spread over
// --channels connections.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>
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
ABSL_FLAG(int, sse, 1000, "Server-Sent Events clients (GET /v1/events)");
ABSL_FLAG(int, grpc, 1000, "gRPC WatchCards watchers (the reference)");
ABSL_FLAG(int, channels, 50, "connections the gRPC watchers are spread over");
ABSL_FLAG(int, cycles, 10, "remove + insert cycles (two events each)");
ABSL_FLAG(absl::Duration, gap, absl::Milliseconds(400), "pause between two changes");
ABSL_FLAG(double, target_ms, 100, "the SSE p99 delay to meet");
ABSL_FLAG(double, target_rss_mb, 250, "the VmHWM to stay under");

namespace desfired {
namespace {

// The delays of each client's events, in order (arrival - the event's time).
struct Arrivals {
  absl::Mutex mu;
  std::vector<std::vector<absl::Duration>> times;  // guarded by mu
  std::atomic<int> snapshots{0};
};

class GrpcWatcher final : public grpc::ClientReadReactor<v1::WatchCardsResponse> {
 public:
  GrpcWatcher(v1::CardService::Stub& stub, const std::string& reader, Arrivals& arrivals, int index)
      : arrivals_(arrivals), index_(index) {
    request_.add_readers(reader);
    stub.async()->WatchCards(&context_, &request_, this);
    StartRead(&response_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    const absl::Time now = absl::Now();
    if (response_.has_snapshot()) {
      ++arrivals_.snapshots;
    } else {
      const google::protobuf::Timestamp& t = response_.event().time();
      absl::MutexLock lock(&arrivals_.mu);
      arrivals_.times[index_].push_back(
          now - (absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos())));
    }
    StartRead(&response_);
  }
  void OnDone(const grpc::Status&) override { done_.Notify(); }
  void Cancel() { context_.TryCancel(); }
  void Wait() { done_.WaitForNotificationWithTimeout(absl::Seconds(10)); }

 private:
  Arrivals& arrivals_;
  const int index_;
  grpc::ClientContext context_;
  v1::WatchCardsRequest request_;
  v1::WatchCardsResponse response_;
  absl::Notification done_;
};

// N event-stream clients on raw sockets, read by one epoll thread.
class SseClients {
 public:
  SseClients(int port, const std::string& reader_query, int n, Arrivals& arrivals)
      : arrivals_(arrivals), buffers_(n), snapshot_seen_(n, false) {
    epoll_ = epoll_create1(0);
    const std::string request =
        absl::StrCat("GET /v1/events?reader=", reader_query, " HTTP/1.1\r\nHost: x\r\n\r\n");
    for (int i = 0; i < n; ++i) {
      const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(static_cast<uint16_t>(port));
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
          ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) < 0) {
        std::fprintf(stderr, "sse client %d: connect/send failed\n", i);
        ::close(fd);
        fds_.push_back(-1);
        continue;
      }
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
      epoll_event ev{.events = EPOLLIN, .data = {.u64 = static_cast<uint64_t>(i)}};
      epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev);
      fds_.push_back(fd);
    }
    thread_ = std::thread([this] { Loop(); });
  }
  ~SseClients() {
    stop_ = true;
    thread_.join();
    for (int fd : fds_) {
      if (fd >= 0) ::close(fd);
    }
    ::close(epoll_);
  }

 private:
  void Loop() {
    epoll_event events[64];
    char buf[16384];
    while (!stop_) {
      const int n = epoll_wait(epoll_, events, 64, 50);
      const absl::Time now = absl::Now();
      for (int k = 0; k < n; ++k) {
        const int i = static_cast<int>(events[k].data.u64);
        while (true) {
          const ssize_t got = ::recv(fds_[i], buf, sizeof buf, 0);
          if (got <= 0) break;
          buffers_[i].append(buf, static_cast<size_t>(got));
        }
        std::string& b = buffers_[i];
        size_t end;
        while ((end = b.find("\n\n")) != std::string::npos) {
          const std::string event = b.substr(0, end);
          b.erase(0, end + 2);
          if (event.find("data: {\"snapshot\"") != std::string::npos && !snapshot_seen_[i]) {
            snapshot_seen_[i] = true;
            ++arrivals_.snapshots;
          } else if (event.find("data: {\"event\"") != std::string::npos) {
            const size_t at = event.find("\"time\":\"");
            absl::Time time;
            std::string error;
            if (at == std::string::npos ||
                !absl::ParseTime(absl::RFC3339_full,
                                 event.substr(at + 8, event.find('"', at + 8) - at - 8), &time,
                                 &error)) {
              continue;
            }
            absl::MutexLock lock(&arrivals_.mu);
            arrivals_.times[i].push_back(now - time);
          }
        }
      }
    }
  }

  Arrivals& arrivals_;
  int epoll_ = -1;
  std::vector<int> fds_;
  std::vector<std::string> buffers_;
  std::vector<bool> snapshot_seen_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

struct Stats {
  double p50 = 0, p99 = 0, max = 0;
  size_t count = 0, missing = 0;
};

Stats Delays(Arrivals& a, const std::vector<absl::Time>& sent) {
  std::vector<double> ms;
  Stats s;
  absl::MutexLock lock(&a.mu);
  for (const std::vector<absl::Duration>& t : a.times) {
    for (size_t k = 0; k < sent.size(); ++k) {
      if (k < t.size()) {
        ms.push_back(absl::ToDoubleMilliseconds(t[k]));
      } else {
        ++s.missing;
      }
    }
  }
  if (ms.empty()) return s;
  std::sort(ms.begin(), ms.end());
  s.count = ms.size();
  s.p50 = ms[ms.size() / 2];
  s.p99 = ms[std::min(ms.size() - 1, ms.size() * 99 / 100)];
  s.max = ms.back();
  return s;
}

int Run(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "card events to Server-Sent Events clients against gRPC watchers (bench/results/http.md)");
  absl::ParseCommandLine(argc, argv);
  const int n_sse = absl::GetFlag(FLAGS_sse);
  const int n_grpc = absl::GetFlag(FLAGS_grpc);
  const int channels = std::max(1, absl::GetFlag(FLAGS_channels));
  const int cycles = absl::GetFlag(FLAGS_cycles);
  rlimit nofile;
  getrlimit(RLIMIT_NOFILE, &nofile);
  nofile.rlim_cur = nofile.rlim_max;
  setrlimit(RLIMIT_NOFILE, &nofile);
  std::ifstream loadavg("/proc/loadavg");
  std::string l1, l5;
  loadavg >> l1 >> l5;
  std::printf("machine: %ld cores; load average at start: %s %s (1 and 5 min)\n",
              sysconf(_SC_NPROCESSORS_ONLN), l1.c_str(), l5.c_str());

  testing::SandboxOptions options;
  options.sim_binary = DESFIRE_SIM;
  absl::StatusOr<std::unique_ptr<testing::PcscSandbox>> started =
      testing::PcscSandbox::StartWithCards(options,
                                           {std::string(SOURCE_DIR) + "/sim/images/transit.json"});
  if (!started.ok()) {
    std::fprintf(stderr, "pcscd sandbox with the transit card: %s\n",
                 started.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<testing::PcscSandbox> sandbox = *std::move(started);
  const std::string reader = sandbox->ReaderName(0);
  std::string reader_query;
  for (char c : reader) reader_query += c == ' ' ? std::string("%20") : std::string(1, c);
  auto child = bench::ChildServer::Start(
      absl::GetFlag(FLAGS_desfired),
      {"--pcsc_socket", sandbox->dir() + "/run/pcscd.comm", "--http_listen=127.0.0.1:0",
       absl::StrCat("--http_threads=", n_sse + 32), "--http_max_connections_per_address=0",
       "--max_streams_per_caller=0", absl::StrCat("--max_connections=", channels + 16)},
      sandbox->dir(), absl::Seconds(10));
  if (!child.ok()) {
    std::fprintf(stderr, "desfired: %s\n", child.status().ToString().c_str());
    return 1;
  }
  const pid_t pid = (*child)->pid();
  std::stringstream log;
  log << std::ifstream(sandbox->dir() + "/desfired.log").rdbuf();
  std::smatch m;
  const std::string log_text = log.str();
  if (!std::regex_search(log_text, m, std::regex("\"http_port\":([0-9]+)"))) {
    std::fprintf(stderr, "desfired did not say its http_port\n");
    return 1;
  }
  const int http_port = std::stoi(m[1]);
  const int64_t rss_idle = bench::ProcessStatusKb(pid, "VmRSS");

  Arrivals grpc_arrivals, sse_arrivals;
  grpc_arrivals.times.resize(n_grpc);
  sse_arrivals.times.resize(n_sse);
  std::vector<std::unique_ptr<v1::CardService::Stub>> stubs;
  for (int c = 0; c < channels; ++c) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("desfired.bench.connection", c);
    stubs.push_back(v1::CardService::NewStub(grpc::CreateCustomChannel(
        absl::StrCat("127.0.0.1:", (*child)->port()), grpc::InsecureChannelCredentials(), args)));
  }
  std::vector<std::unique_ptr<GrpcWatcher>> watchers;
  for (int i = 0; i < n_grpc; ++i) {
    watchers.push_back(
        std::make_unique<GrpcWatcher>(*stubs[i % channels], reader, grpc_arrivals, i));
  }
  auto sse = std::make_unique<SseClients>(http_port, reader_query, n_sse, sse_arrivals);
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while ((grpc_arrivals.snapshots.load() < n_grpc || sse_arrivals.snapshots.load() < n_sse) &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  std::printf("connected: %d of %d gRPC watchers, %d of %d SSE clients have their snapshot\n",
              grpc_arrivals.snapshots.load(), n_grpc, sse_arrivals.snapshots.load(), n_sse);
  const int64_t rss_connected = bench::ProcessStatusKb(pid, "VmRSS");

  std::vector<absl::Time> sent;
  for (int c = 0; c < cycles; ++c) {
    for (const char* command : {"remove", "insert"}) {
      sent.push_back(absl::Now());
      if (!sandbox->Control(0, command).ok()) {
        std::fprintf(stderr, "desfire-sim control failed\n");
        return 1;
      }
      absl::SleepFor(absl::GetFlag(FLAGS_gap));
    }
  }
  absl::SleepFor(absl::Seconds(1));
  const Stats g = Delays(grpc_arrivals, sent);
  const Stats s = Delays(sse_arrivals, sent);
  const int64_t hwm = bench::ProcessStatusKb(pid, "VmHWM");
  const double target_ms = absl::GetFlag(FLAGS_target_ms);
  const double target_rss = absl::GetFlag(FLAGS_target_rss_mb);
  std::printf("events: %zu (%d cycles)\n", sent.size(), cycles);
  std::printf(
      "gRPC WatchCards (reference): %zu deliveries, %zu missing; p50 %.1f ms, p99 %.1f ms, "
      "max %.1f ms\n",
      g.count, g.missing, g.p50, g.p99, g.max);
  std::printf(
      "SSE /v1/events:              %zu deliveries, %zu missing; p50 %.1f ms, p99 %.1f ms, "
      "max %.1f ms\n",
      s.count, s.missing, s.p50, s.p99, s.max);
  std::printf("ratio SSE / gRPC: p50 %.2f, p99 %.2f\n", g.p50 > 0 ? s.p50 / g.p50 : 0,
              g.p99 > 0 ? s.p99 / g.p99 : 0);
  if (n_sse > 0) {
    std::printf("SSE p99 target %.0f ms: %s\n", target_ms,
                s.missing == 0 && s.p99 <= target_ms ? "met" : "NOT met");
  }
  std::printf("desfired VmRSS idle %.1f MB, connected %.1f MB, VmHWM %.1f MB; target %.0f MB: %s\n",
              static_cast<double>(rss_idle) / 1024.0, static_cast<double>(rss_connected) / 1024.0,
              static_cast<double>(hwm) / 1024.0, target_rss,
              static_cast<double>(hwm) / 1024.0 < target_rss ? "met" : "NOT met");
  sse.reset();
  for (auto& w : watchers) w->Cancel();
  for (auto& w : watchers) w->Wait();
  return 0;
}

}  // namespace
}  // namespace desfired

int main(int argc, char** argv) { return desfired::Run(argc, argv); }
