// Helpers shared by the gRPC load tools (bench/parse_taps_load.cc, bench/watch_load.cc): a
// desfired child process, CPU and memory figures from /proc, percentiles. Bench code only:
// nothing here is part of desfired.
//
//   auto server = ChildServer::Start(DESFIRED, {"--pcsc-socket", sock, "--keys", keys}, dir);
//   if (!server.ok()) ...;
//   const double cpu0 = ProcessCpuSeconds((*server)->pid());
//   ... load 127.0.0.1:(*server)->port() ...
//   std::printf("server VmHWM %lld kB\n", ProcessStatusKb((*server)->pid(), "VmHWM"));
//   // ~ChildServer: SIGTERM, then SIGKILL after 5 s.
//
// Thread-compatible.
#ifndef DESFIRED_BENCH_LOAD_UTIL_H_
#define DESFIRED_BENCH_LOAD_UTIL_H_

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

extern char** environ;

namespace desfired::bench {

// User + system CPU seconds of process `pid` (0: this process), from /proc/<pid>/stat; -1 when
// it cannot be read.
inline double ProcessCpuSeconds(pid_t pid) {
  std::ifstream in(pid == 0 ? std::string("/proc/self/stat")
                            : absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  if (!std::getline(in, line)) return -1;
  // Fields after the command name (which may hold spaces) start after the last ')'.
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {  // field 3 is the state
    if (i == 14) utime = std::strtod(field.c_str(), nullptr);
    if (i == 15) stime = std::strtod(field.c_str(), nullptr);
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// CPU seconds of the calling thread.
inline double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// A "Vm..." field of /proc/<pid>/status (0: this process) in kB, e.g. "VmRSS" or "VmHWM";
// -1 when absent.
inline int64_t ProcessStatusKb(pid_t pid, const std::string& field) {
  std::ifstream in(pid == 0 ? std::string("/proc/self/status")
                            : absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  const std::string prefix = field + ":";
  while (std::getline(in, line)) {
    if (line.compare(0, prefix.size(), prefix) != 0) continue;
    std::istringstream rest(line.substr(prefix.size()));
    int64_t kb = -1;
    rest >> kb;
    return kb;
  }
  return -1;
}

// The whole machine's CPU time from /proc/stat: busy (everything but idle and iowait) and
// total, in CPU seconds summed over all cores.
struct MachineCpu {
  double busy = 0;
  double total = 0;
};
inline MachineCpu ReadMachineCpu() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  in >> cpu;  // "cpu"
  MachineCpu m;
  double v = 0;
  for (int i = 0; i < 8 && in >> v; ++i) {  // user nice system idle iowait irq softirq steal
    m.total += v;
    if (i != 3 && i != 4) m.busy += v;
  }
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  m.busy /= tick;
  m.total /= tick;
  return m;
}

// The p-th percentile (0..100) by nearest rank; 0 for no values. Sorts `v`.
inline double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  rank = std::clamp<size_t>(rank, 1, v.size());
  return v[rank - 1];
}

// A desfired (or any server) child process that writes its port to a file.
class ChildServer {
 public:
  // Runs `binary` with `args` plus "--listen 127.0.0.1:0 --port_file <dir>/desfired.port
  // --data_dir <dir>" (`dir` must then be mode 700: the ledger lives there),
  // its output appended to <dir>/desfired.log, and waits (up to `timeout`) for the port.
  static absl::StatusOr<std::unique_ptr<ChildServer>> Start(const std::string& binary,
                                                            std::vector<std::string> args,
                                                            const std::string& dir,
                                                            absl::Duration timeout) {
    const std::string port_file = dir + "/desfired.port";
    const std::string log = dir + "/desfired.log";
    ::unlink(port_file.c_str());
    std::vector<std::string> argv = {
        binary, "--listen", "127.0.0.1:0", "--port_file", port_file, "--data_dir", dir};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargv;
    for (std::string& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                     0644);
    posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, binary.c_str(), &fa, nullptr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return absl::InternalError(absl::StrCat("spawn ", binary, ": ", strerror(rc)));
    std::unique_ptr<ChildServer> child(new ChildServer(pid));
    const absl::Time deadline = absl::Now() + timeout;
    while (true) {
      std::ifstream in(port_file);
      std::string text;
      if (std::getline(in, text) && absl::SimpleAtoi(text, &child->port_) && child->port_ > 0) {
        return child;
      }
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        child->pid_ = -1;
        return absl::InternalError(
            absl::StrCat(binary, " exited (status ", status, "); see ", log));
      }
      if (absl::Now() > deadline) {
        return absl::DeadlineExceededError(absl::StrCat(binary, " wrote no port; see ", log));
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
  }

  ~ChildServer() { Stop(); }
  ChildServer(const ChildServer&) = delete;
  ChildServer& operator=(const ChildServer&) = delete;

  pid_t pid() const { return pid_; }
  int port() const { return port_; }

  // SIGTERM (graceful shutdown), SIGKILL after 5 s; reaps the child. Idempotent.
  void Stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (absl::Now() > deadline) {
        ::kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    pid_ = -1;
  }

 private:
  explicit ChildServer(pid_t pid) : pid_(pid) {}
  pid_t pid_;
  int port_ = 0;
};

}  // namespace desfired::bench

#endif  // DESFIRED_BENCH_LOAD_UTIL_H_
