#include "tests/testing/postgres_sandbox.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/ledger/postgres_db.h"
#include "gtest/gtest.h"
#include "tests/testing/free_port.h"

namespace desfired::testing {
namespace {

// The user the server runs as: `nobody` when we are root (PostgreSQL refuses root), else us.
struct RunAs {
  bool change = false;
  uid_t uid = 0;
  gid_t gid = 0;
};

absl::StatusOr<RunAs> PickUser() {
  RunAs r;
  if (geteuid() != 0) return r;
  const passwd* pw = getpwnam("nobody");
  if (pw == nullptr) return absl::InternalError("no user 'nobody' to run PostgreSQL as");
  r.change = true;
  r.uid = pw->pw_uid;
  r.gid = pw->pw_gid;
  return r;
}

// Forks and execs `argv` as `as`, stdout and stderr appended to `log`. The child dies with us.
pid_t Spawn(const RunAs& as, const std::vector<std::string>& argv, const std::string& log) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid != 0) return pid;
  const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (fd >= 0) {
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
  }
  if (as.change && (setgroups(0, nullptr) != 0 || setgid(as.gid) != 0 || setuid(as.uid) != 0)) {
    _exit(126);
  }
  prctl(PR_SET_PDEATHSIG, SIGINT);  // after setuid, which clears it
  execv(args[0], args.data());
  _exit(127);
}

// Waits for `pid` to exit; its exit code, or -1 when it was killed.
int WaitExit(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Runs `sql` on a new connection to `conninfo`; the server's message when it fails.
absl::Status ExecSql(const std::string& conninfo, absl::string_view sql) {
  absl::StatusOr<ledger::postgres::Conn> c = ledger::postgres::Connect(conninfo);
  if (!c.ok()) return c.status();
  // One or more statements: the simple protocol.
  ledger::postgres::Result r(PQexec(c->get(), std::string(sql).c_str()));
  return ledger::postgres::Checked(c->get(), std::move(r)).status();
}

}  // namespace

bool PostgresSandbox::Available() {
  return access(absl::StrCat(kPostgresBinDir, "/initdb").c_str(), X_OK) == 0 &&
         access(absl::StrCat(kPostgresBinDir, "/postgres").c_str(), X_OK) == 0;
}

absl::StatusOr<std::unique_ptr<PostgresSandbox>> PostgresSandbox::Start() {
  absl::StatusOr<RunAs> as = PickUser();
  if (!as.ok()) return as.status();
  char templ[] = "/tmp/desfired-pg-XXXXXX";
  if (mkdtemp(templ) == nullptr) return absl::InternalError("mkdtemp failed");
  auto pg = std::unique_ptr<PostgresSandbox>(new PostgresSandbox());
  pg->dir_ = templ;
  if (as->change && chown(templ, as->uid, as->gid) != 0) {
    return absl::InternalError(absl::StrCat("cannot chown ", templ, " to nobody"));
  }
  const std::string data = pg->dir_ + "/data", log = pg->dir_ + "/server.log";
  const std::string bin = kPostgresBinDir;
  const int initdb =
      WaitExit(Spawn(*as,
                     {bin + "/initdb", "-D", data, "-U", kSandboxOwner, "--auth=trust", "-E",
                      "UTF8", "--locale=C", "--no-sync", "--no-instructions"},
                     log));
  if (initdb != 0) {
    return absl::InternalError(absl::StrCat("initdb failed (exit ", initdb, "); see ", log));
  }
  // A free port can be taken between our probe and the server's bind: try a few.
  for (int attempt = 0; attempt < 5; ++attempt) {
    pg->port_ = FreeLoopbackPort();
    if (pg->Launch()) {
      // CREATE DATABASE runs from another database: `postgres`.
      absl::Status created = ExecSql(pg->ConnInfo(kSandboxOwner, "postgres"),
                                     absl::StrCat("CREATE DATABASE ", kSandboxDatabase));
      if (!created.ok()) return created;
      return pg;
    }
  }
  return absl::InternalError(absl::StrCat("postgres did not start; see ", log));
}

bool PostgresSandbox::Launch() {
  absl::StatusOr<RunAs> as = PickUser();
  if (!as.ok()) return false;
  const std::string bin = kPostgresBinDir;
  pid_ = Spawn(*as,
               {bin + "/postgres", "-D", dir_ + "/data", "-p", std::to_string(port_), "-k", dir_,
                "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off",
                "-c", "max_connections=60", "-c", "shared_buffers=32MB"},
               dir_ + "/server.log");
  const std::string ping = ConnInfo(kSandboxOwner, "postgres");
  for (int i = 0; i < 3000; ++i) {  // up to 30 s
    if (PQping(ping.c_str()) == PQPING_OK) return true;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {  // it exited: the port, or shared memory
      pid_ = -1;                                    // still held by a killed server's children
      return false;
    }
    usleep(10000);
  }
  Stop();
  return false;
}

void PostgresSandbox::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  WaitExit(pid_);
  pid_ = -1;
}

absl::Status PostgresSandbox::Restart() {
  // The killed server's processes notice it is gone and exit; until then a new one refuses
  // to start on the same data directory.
  for (int attempt = 0; attempt < 100; ++attempt) {
    if (Launch()) return absl::OkStatus();
    usleep(100000);
  }
  return absl::InternalError(
      absl::StrCat("postgres did not start again; see ", dir_, "/server.log"));
}

PostgresSandbox::~PostgresSandbox() {
  Stop();
  if (!dir_.empty()) std::filesystem::remove_all(dir_);
}

void PostgresSandbox::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGINT);  // fast shutdown: open sessions are ended
  WaitExit(pid_);
  pid_ = -1;
}

std::string PostgresSandbox::ConnInfo(absl::string_view user, absl::string_view database) const {
  return absl::StrCat("host=127.0.0.1 port=", port_, " dbname=", database, " user=", user);
}

absl::Status PostgresSandbox::Exec(absl::string_view sql, absl::string_view user,
                                   absl::string_view database) const {
  return ExecSql(ConnInfo(user, database), sql);
}

absl::StatusOr<std::string> PostgresSandbox::Query(absl::string_view sql) const {
  absl::StatusOr<ledger::postgres::Conn> c = ledger::postgres::Connect(ConnInfo());
  if (!c.ok()) return c.status();
  absl::StatusOr<ledger::postgres::Result> r =
      ledger::postgres::Run(c->get(), sql, nullptr, /*binary=*/false);
  if (!r.ok()) return r.status();
  std::string out;
  for (int i = 0; i < PQntuples(r->get()); ++i) {
    absl::StrAppend(&out, PQgetvalue(r->get(), i, 0), "\n");
  }
  return out;
}

PostgresSandbox* SharedPostgresOrSkip() {
  static std::unique_ptr<PostgresSandbox> shared;
  static bool tried = false;
  if (!PostgresSandbox::Available()) {
    [] {
      GTEST_SKIP() << "PostgreSQL is not installed (" << kPostgresBinDir
                   << "/initdb missing; scripts/setup installs postgresql-15)";
    }();
    return nullptr;
  }
  if (!tried) {
    tried = true;
    absl::StatusOr<std::unique_ptr<PostgresSandbox>> started = PostgresSandbox::Start();
    if (!started.ok()) {
      ADD_FAILURE() << started.status();
      return nullptr;
    }
    shared = *std::move(started);
  }
  if (shared == nullptr) ADD_FAILURE() << "the PostgreSQL sandbox did not start (see above)";
  return shared.get();
}

}  // namespace desfired::testing
