// PostgresSandbox: a throwaway PostgreSQL server of its own for tests and benchmarks. It runs
// Debian's postgresql-15 binaries (kPostgresBinDir): initdb into a new temporary directory,
// then `postgres` on a free loopback port with its unix socket in that directory, fsync off
// (a test database need not survive a crash of the machine). PostgreSQL refuses to run as
// root: when the process is root, initdb and postgres run as `nobody` (the directory is
// chowned to it); otherwise as the process's own user. The server is stopped by its pid (a
// fast shutdown) and the directory removed by the destructor.
//
//   PostgresSandbox* pg = testing::SharedPostgresOrSkip();   // skips without postgresql-15
//   if (pg == nullptr) return;
//   std::string conninfo = pg->ConnInfo();                    // the superuser kSandboxOwner
//   ASSERT_TRUE(pg->Exec("CREATE ROLE shipper LOGIN").ok());
//
// The superuser is kSandboxOwner, authenticated by `trust` (loopback and the socket only).
// Thread-compatible; one sandbox per test binary (SharedPostgres) keeps the tests quick.
#ifndef DESFIRED_TESTS_TESTING_POSTGRES_SANDBOX_H_
#define DESFIRED_TESTS_TESTING_POSTGRES_SANDBOX_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace desfired::testing {

// Debian 12's PostgreSQL; the sandbox's superuser and database.
inline constexpr char kPostgresBinDir[] = "/usr/lib/postgresql/15/bin",
                      kSandboxOwner[] = "desfired_owner", kSandboxDatabase[] = "desfired";

class PostgresSandbox {
 public:
  // False when initdb or postgres is not installed (scripts/setup installs postgresql-15).
  static bool Available();
  // initdb, start, wait until it accepts connections (up to 30 s), create kSandboxDatabase.
  static absl::StatusOr<std::unique_ptr<PostgresSandbox>> Start();
  ~PostgresSandbox();
  PostgresSandbox(const PostgresSandbox&) = delete;
  PostgresSandbox& operator=(const PostgresSandbox&) = delete;

  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  pid_t pid() const { return pid_; }
  // "host=127.0.0.1 port=N dbname=<database> user=<user>" (libpq key=value form).
  std::string ConnInfo(absl::string_view user = kSandboxOwner,
                       absl::string_view database = kSandboxDatabase) const;
  // Runs `sql` (one or more statements) as `user` in `database`; the server's message when it
  // fails.
  absl::Status Exec(absl::string_view sql, absl::string_view user = kSandboxOwner,
                    absl::string_view database = kSandboxDatabase) const;
  // The first column of every row `sql` returns (as text), one per line.
  absl::StatusOr<std::string> Query(absl::string_view sql) const;
  // Stops the server (SIGINT: fast shutdown) and waits for it.
  void Stop();
  // Kills the server (SIGKILL to its postmaster, by pid: a crash) and waits for it.
  void Kill();
  // Starts the server again on the same directory and port after Kill or Stop (crash
  // recovery runs first); waits until it accepts connections.
  absl::Status Restart();

 private:
  PostgresSandbox() = default;
  // Starts `postgres` on port_ and waits until it answers; false when it exits or times out.
  bool Launch();
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// The sandbox shared by the tests of one binary, started at the first call and stopped at
// exit; null with the test skipped (postgresql-15 missing) or failed (it would not start).
PostgresSandbox* SharedPostgresOrSkip();

}  // namespace desfired::testing

#endif  // DESFIRED_TESTS_TESTING_POSTGRES_SANDBOX_H_
