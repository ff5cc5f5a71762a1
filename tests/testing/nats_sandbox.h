// NatsSandbox: a throwaway nats-server with JetStream for tests and benchmarks (Debian's
// nats-server, kNatsServer): its store in a new temporary directory, on a free loopback port,
// stopped by its pid; the directory is removed by the destructor. Pause/Resume (SIGSTOP,
// SIGCONT) and Kill/Restart (SIGKILL, then a new server on the same store and port) are the
// outages of the fault tests.
//
//   std::unique_ptr<NatsSandbox> nats = testing::StartNatsOrSkip();   // skips without it
//   if (nats == nullptr) return;
//   ASSERT_TRUE(nats->AddStream("DESFIRED", "desfired.>").ok());
//   ... desfired --nats=nats->url() ...
//   absl::StatusOr<std::vector<StoredMessage>> all = nats->Messages("DESFIRED");
//
// Thread-compatible.
#ifndef DESFIRED_TESTS_TESTING_NATS_SANDBOX_H_
#define DESFIRED_TESTS_TESTING_NATS_SANDBOX_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace desfired::testing {

inline constexpr char kNatsServer[] = "/usr/sbin/nats-server";

// One message of a stream, as JetStream stored it.
struct StoredMessage {
  uint64_t stream_sequence = 0;
  std::string subject;
  std::string msg_id;  // the Nats-Msg-Id header
  std::string data;
};

class NatsSandbox {
 public:
  // False when nats-server is not installed (scripts/setup installs it).
  static bool Available();
  // Starts nats-server -js on a free loopback port and waits until it is ready (up to 10 s).
  static absl::StatusOr<std::unique_ptr<NatsSandbox>> Start();
  ~NatsSandbox();
  NatsSandbox(const NatsSandbox&) = delete;
  NatsSandbox& operator=(const NatsSandbox&) = delete;

  std::string url() const;  // nats://127.0.0.1:<port>
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  const std::string& dir() const { return dir_; }

  // SIGSTOP / SIGCONT: the server holds its connections but answers nothing.
  void Pause();
  void Resume();
  // SIGKILL, waited for (a crash; the store stays).
  void Kill();
  // A new server on the same store and port after Kill; waits until ready.
  absl::Status Restart();

  // A stream taking `subjects` (file storage, the duplicate window `duplicates`), or OK when
  // one of that name exists already. Through libnats, as an operator would with `nats`.
  absl::Status AddStream(absl::string_view name, absl::string_view subjects,
                         absl::Duration duplicates = absl::Minutes(2));
  // Every message of stream `name`, oldest first (NOT_FOUND: no such stream).
  absl::StatusOr<std::vector<StoredMessage>> Messages(absl::string_view name);

 private:
  NatsSandbox() = default;
  bool Launch();
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// A started sandbox; null with the test skipped (nats-server missing) or failed (it would not
// start).
std::unique_ptr<NatsSandbox> StartNatsOrSkip();

}  // namespace desfired::testing

#endif  // DESFIRED_TESTS_TESTING_NATS_SANDBOX_H_
