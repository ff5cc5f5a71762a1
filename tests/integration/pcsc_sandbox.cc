#include "tests/integration/pcsc_sandbox.h"

#include <PCSC/winscard.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

extern char** environ;

namespace desfired::testing {
namespace {

namespace fs = std::filesystem;

constexpr char kDriver[] = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so";
constexpr absl::Duration kPollStep = absl::Milliseconds(5);

absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv, const std::string& log) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return absl::InternalError(absl::StrCat("spawn ", argv[0], ": ", strerror(rc)));
  return pid;
}

bool Exited(pid_t pid) {
  int status;
  const pid_t r = waitpid(pid, &status, WNOHANG);
  return r == pid || (r < 0 && errno == ECHILD);
}

// `sig` (SIGTERM unless said otherwise), wait up to 2 s, then SIGKILL.
void Stop(pid_t pid, int sig = SIGTERM) {
  if (pid <= 0) return;
  kill(pid, sig);
  const absl::Time deadline = absl::Now() + absl::Seconds(2);
  while (absl::Now() < deadline) {
    if (Exited(pid)) return;
    absl::SleepFor(kPollStep);
  }
  kill(pid, SIGKILL);
  int status;
  waitpid(pid, &status, 0);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

absl::StatusOr<std::unique_ptr<PcscSandbox>> PcscSandbox::StartWithCards(
    SandboxOptions options, const std::vector<std::string>& images, absl::Duration wait) {
  absl::StatusOr<std::unique_ptr<PcscSandbox>> sandbox = Start(std::move(options));
  if (!sandbox.ok()) return sandbox.status();
  for (int i = 0; i < static_cast<int>(images.size()); ++i) {
    if (absl::Status s = (*sandbox)->StartCard(i, images[i]); !s.ok()) return s;
  }
  for (int i = 0; i < static_cast<int>(images.size()); ++i) {
    if (absl::Status s = (*sandbox)->WaitForCard(i, true, wait); !s.ok()) return s;
  }
  return sandbox;
}

absl::StatusOr<std::unique_ptr<PcscSandbox>> PcscSandbox::Start(SandboxOptions options) {
  if (geteuid() != 0) {
    return absl::PermissionDeniedError("the pcscd sandbox needs root (mount/net namespaces)");
  }
  if (options.entries < 1 || options.entries > 8) {
    return absl::InvalidArgumentError("entries must be 1..8");
  }
  std::unique_ptr<PcscSandbox> sb(new PcscSandbox(options));
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = absl::StrCat(tmp && *tmp ? tmp : "/tmp", "/pcsc-sandbox-XXXXXX");
  if (!mkdtemp(templ.data())) return absl::InternalError("mkdtemp failed");
  sb->dir_ = templ;
  const std::string run = sb->dir_ + "/run";
  fs::create_directory(run);
  std::ofstream conf(sb->dir_ + "/reader.conf");
  for (int i = 0; i < options.entries; ++i) {
    // Each entry gets its own copy of the driver: it keeps global state per slot.
    const std::string lib = absl::StrCat(sb->dir_, "/libifdvpcd-", i, ".so");
    std::error_code ec;
    fs::copy_file(kDriver, lib, ec);
    if (ec) return absl::InternalError(absl::StrCat("copy ", kDriver, ": ", ec.message()));
    conf << "FRIENDLYNAME \"" << options.friendly_name << "\"\n"
         << "DEVICENAME   /dev/null:" << options.base_port + 2 * i << "\n"
         << "LIBPATH      " << lib << "\n\n";
  }
  conf.close();
  // The namespaces belong to a holder process, so that pcscd can be killed and started again
  // in the same ones (same /run/pcscd bind mount, same loopback for the cards).
  const std::string ready = sb->dir_ + "/namespaces.ready";
  const std::string script = absl::StrCat(
      "ip link set lo up && "
      "{ [ -d /run/pcscd ] || { mount -t tmpfs tmpfs /run && mkdir /run/pcscd; }; } && "
      "mount --bind '",
      run, "' /run/pcscd && touch '", ready, "' && exec sleep infinity");
  auto holder =
      Spawn({"unshare", "--mount", "--propagation", "private", "--net", "sh", "-c", script},
            sb->dir_ + "/namespaces.log");
  if (!holder.ok()) return holder.status();
  sb->holder_pid_ = *holder;
  const absl::Time deadline = absl::Now() + options.start_timeout;
  while (!fs::exists(ready)) {
    if (Exited(sb->holder_pid_)) {
      sb->holder_pid_ = -1;
      return absl::InternalError(
          absl::StrCat("namespace set-up failed: ", ReadFile(sb->dir_ + "/namespaces.log")));
    }
    if (absl::Now() > deadline) return absl::DeadlineExceededError("namespaces not ready");
    absl::SleepFor(kPollStep);
  }
  // libpcsclite reads this once, at the first SCardEstablishContext of the process.
  setenv("PCSCLITE_CSOCK_NAME", (run + "/pcscd.comm").c_str(), 1);
  if (absl::Status s = sb->StartPcscd(); !s.ok()) return s;
  return sb;
}

absl::Status PcscSandbox::StartPcscd() {
  if (pcscd_pid_ > 0) return absl::AlreadyExistsError("pcscd runs");
  const std::string run = dir_ + "/run";
  // A killed pcscd leaves its socket and pid file; remove them rather than rely on pcscd's
  // stale-file check.
  std::error_code ec;
  fs::remove(run + "/pcscd.comm", ec);
  fs::remove(run + "/pcscd.pid", ec);
  // nsenter without -p execs pcscd itself: the pid we wait for is pcscd's.
  auto pid = Spawn({"nsenter", "-t", absl::StrCat(holder_pid_), "-m", "-n", "pcscd", "--foreground",
                    "-c", dir_ + "/reader.conf"},
                   dir_ + "/pcscd.log");
  if (!pid.ok()) return pid.status();
  pcscd_pid_ = *pid;
  const absl::Time deadline = absl::Now() + options_.start_timeout;
  while (true) {
    if (Exited(pcscd_pid_)) {
      pcscd_pid_ = -1;
      return absl::InternalError(
          absl::StrCat("pcscd exited at start: ", ReadFile(dir_ + "/pcscd.log")));
    }
    if (fs::exists(run + "/pcscd.comm")) {
      SCARDCONTEXT ctx;
      if (SCardEstablishContext(SCARD_SCOPE_SYSTEM, nullptr, nullptr, &ctx) == SCARD_S_SUCCESS) {
        SCardReleaseContext(ctx);
        return absl::OkStatus();
      }
    }
    if (absl::Now() > deadline) return absl::DeadlineExceededError("pcscd did not start");
    absl::SleepFor(kPollStep);
  }
}

absl::Status PcscSandbox::KillPcscd(int sig) {
  if (pcscd_pid_ <= 0) return absl::FailedPreconditionError("pcscd does not run");
  Stop(pcscd_pid_, sig);
  pcscd_pid_ = -1;
  return absl::OkStatus();
}

absl::Status PcscSandbox::RestartPcscd(int sig) {
  if (absl::Status s = KillPcscd(sig); !s.ok()) return s;
  return StartPcscd();
}

PcscSandbox::~PcscSandbox() {
  for (auto& [reader, pid] : cards_) Stop(pid);
  Stop(pcscd_pid_);
  Stop(holder_pid_);
  if (!dir_.empty() && std::getenv("PCSC_SANDBOX_KEEP") == nullptr) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

std::string PcscSandbox::ReaderName(int reader) const {
  return absl::StrFormat("%s %02d %02d", options_.friendly_name, reader / 2, reader % 2);
}

absl::Status PcscSandbox::StartCard(int reader, const std::string& image,
                                    std::vector<std::string> extra_args) {
  if (cards_.count(reader)) return absl::AlreadyExistsError("a card runs on that reader");
  const std::string copy = absl::StrCat(dir_, "/card-", reader, ".json");
  std::error_code ec;
  fs::copy_file(image, copy, fs::copy_options::overwrite_existing, ec);
  if (ec) return absl::NotFoundError(absl::StrCat("image ", image, ": ", ec.message()));
  const std::string control = ControlPath(reader);
  std::vector<std::string> argv = {"nsenter",
                                   "-t",
                                   absl::StrCat(holder_pid_),
                                   "-n",
                                   options_.sim_binary,
                                   "--image",
                                   copy,
                                   "--vpcd",
                                   absl::StrCat("127.0.0.1:", Port(reader)),
                                   "--control",
                                   control};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  auto pid = Spawn(argv, absl::StrCat(dir_, "/card-", reader, ".log"));
  if (!pid.ok()) return pid.status();
  cards_[reader] = *pid;
  const absl::Time deadline = absl::Now() + options_.start_timeout;
  while (!fs::exists(control)) {
    if (Exited(*pid)) {
      cards_.erase(reader);
      return absl::InternalError(absl::StrCat(
          "desfire-sim exited: ", ReadFile(absl::StrCat(dir_, "/card-", reader, ".log"))));
    }
    if (absl::Now() > deadline) return absl::DeadlineExceededError("desfire-sim did not start");
    absl::SleepFor(kPollStep);
  }
  return absl::OkStatus();
}

absl::Status PcscSandbox::StopCard(int reader) {
  auto it = cards_.find(reader);
  if (it == cards_.end()) return absl::NotFoundError("no card on that reader");
  Stop(it->second);
  cards_.erase(it);
  return absl::OkStatus();
}

std::string PcscSandbox::ControlPath(int reader) const {
  return absl::StrCat(dir_, "/card-", reader, ".ctl");
}

absl::StatusOr<std::string> PcscSandbox::Control(int reader, const std::string& command) {
  const std::string path = ControlPath(reader);
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("control socket ", path, ": ", strerror(errno)));
  }
  const std::string line = command + "\n";
  if (send(fd, line.data(), line.size(), MSG_NOSIGNAL) < 0) {
    close(fd);
    return absl::UnavailableError("control send failed");
  }
  std::string reply;
  char buf[256];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) reply.append(buf, static_cast<size_t>(n));
  close(fd);
  while (!reply.empty() && reply.back() == '\n') reply.pop_back();
  if (reply.empty()) return absl::UnavailableError("no reply on the control socket");
  return reply;
}

absl::Status PcscSandbox::WaitForReaders(int count, absl::Duration timeout) {
  SCARDCONTEXT ctx;
  if (SCardEstablishContext(SCARD_SCOPE_SYSTEM, nullptr, nullptr, &ctx) != SCARD_S_SUCCESS) {
    return absl::UnavailableError("SCardEstablishContext failed");
  }
  const absl::Time deadline = absl::Now() + timeout;
  int seen = 0;
  while (true) {
    DWORD len = 0;
    seen = 0;
    if (SCardListReaders(ctx, nullptr, nullptr, &len) == SCARD_S_SUCCESS && len > 0) {
      std::string buf(len, '\0');
      if (SCardListReaders(ctx, nullptr, buf.data(), &len) == SCARD_S_SUCCESS) {
        for (size_t p = 0; p < buf.size() && buf[p] != '\0'; p += std::strlen(&buf[p]) + 1) {
          ++seen;
        }
      }
    }
    if (seen >= count || absl::Now() > deadline) break;
    absl::SleepFor(kPollStep);
  }
  SCardReleaseContext(ctx);
  if (seen >= count) return absl::OkStatus();
  return absl::DeadlineExceededError(absl::StrCat("saw ", seen, " readers, wanted ", count));
}

absl::Status PcscSandbox::WaitForCard(int reader, bool present, absl::Duration timeout) {
  SCARDCONTEXT ctx;
  if (SCardEstablishContext(SCARD_SCOPE_SYSTEM, nullptr, nullptr, &ctx) != SCARD_S_SUCCESS) {
    return absl::UnavailableError("SCardEstablishContext failed");
  }
  const std::string name = ReaderName(reader);
  SCARD_READERSTATE st{};
  st.szReader = name.c_str();
  st.dwCurrentState = SCARD_STATE_UNAWARE;
  const DWORD want = present ? SCARD_STATE_PRESENT : SCARD_STATE_EMPTY;
  const absl::Time deadline = absl::Now() + timeout;
  absl::Status result = absl::DeadlineExceededError(
      absl::StrCat("reader ", name, " did not become ", present ? "PRESENT" : "EMPTY"));
  while (true) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    const LONG rc =
        SCardGetStatusChange(ctx, static_cast<DWORD>(absl::ToInt64Milliseconds(left) + 1), &st, 1);
    if (rc == SCARD_E_TIMEOUT) break;
    if (rc != SCARD_S_SUCCESS) {
      result = absl::UnavailableError(
          absl::StrFormat("SCardGetStatusChange: 0x%08lX", static_cast<unsigned long>(rc)));
      break;
    }
    if (st.dwEventState & want) {
      result = absl::OkStatus();
      break;
    }
    st.dwCurrentState = st.dwEventState & ~SCARD_STATE_CHANGED;
  }
  SCardReleaseContext(ctx);
  return result;
}

}  // namespace desfired::testing
