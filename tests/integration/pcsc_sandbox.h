// PcscSandbox: a private pcscd with vpcd virtual readers, and desfire-sim cards on them, for
// integration tests (the steps of scripts/pcsc-sandbox, plus a holder process so that pcscd
// can be restarted; facts in shared/PCSC_TESTING.md).
//
//   A holder process owns a private mount + network namespace:
//     unshare --mount --propagation private --net sh -c '
//       ip link set lo up; [tmpfs on /run if /run/pcscd is missing];
//       mount --bind <dir>/run /run/pcscd && touch <dir>/namespaces.ready && exec sleep infinity'
//   pcscd runs in those namespaces:
//     nsenter -t <holder pid> -m -n pcscd --foreground -c <dir>/reader.conf
//   with one copy of libifdvpcd.so per reader.conf entry (entry i: ports base+2i, base+2i+1,
//   readers "<name> <i> 00" / "<name> <i> 01"); cards join the network namespace with
//   `nsenter -t <holder pid> -n desfire-sim ...`, so ports never collide with anything.
//   Because the namespaces outlive pcscd, pcscd can be killed and started again
//   (RestartPcscd): the new one binds the same <dir>/run/pcscd.comm (PCSCLITE_CSOCK_NAME does
//   not change) and the same vpcd ports, and desfire-sim reconnects by itself (every 50 ms
//   while inserted).
//
//   auto sandbox = PcscSandbox::Start({.entries = 1});          // sets PCSCLITE_CSOCK_NAME
//   ASSERT_TRUE(sandbox.ok()) << sandbox.status();
//   ASSERT_TRUE((*sandbox)->StartCard(0, image_path).ok());     // reader index 0
//   ASSERT_TRUE((*sandbox)->WaitForCard(0, true, absl::Seconds(2)).ok());
//   ASSERT_TRUE((*sandbox)->RestartPcscd().ok());               // SIGKILL, start again
//   ASSERT_TRUE((*sandbox)->WaitForCard(0, true, absl::Seconds(2)).ok());
//
// The process may hold one sandbox at a time: libpcsclite reads PCSCLITE_CSOCK_NAME once.
// Everything is torn down by pid in the destructor (SIGTERM, then SIGKILL after 2 s): the
// cards, pcscd, then the holder.
// Needs root (CAP_SYS_ADMIN for the namespaces); Start returns PERMISSION_DENIED otherwise.
//
// Thread-compatible.
#ifndef DESFIRED_TESTS_INTEGRATION_PCSC_SANDBOX_H_
#define DESFIRED_TESTS_INTEGRATION_PCSC_SANDBOX_H_

#include <signal.h>
#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace desfired::testing {

struct SandboxOptions {
  int entries = 1;  // reader.conf entries; each gives two readers
  int base_port = 40100;
  std::string friendly_name = "Test PCD";
  std::string sim_binary;  // path of desfire-sim
  absl::Duration start_timeout = absl::Seconds(5);
};

class PcscSandbox {
 public:
  static absl::StatusOr<std::unique_ptr<PcscSandbox>> Start(SandboxOptions options);
  // Start, then desfire-sim with `images[i]` on reader i, waiting up to `wait` for each card.
  // PERMISSION_DENIED (not root) as Start.
  static absl::StatusOr<std::unique_ptr<PcscSandbox>> StartWithCards(
      SandboxOptions options, const std::vector<std::string>& images,
      absl::Duration wait = absl::Seconds(3));
  ~PcscSandbox();
  PcscSandbox(const PcscSandbox&) = delete;
  PcscSandbox& operator=(const PcscSandbox&) = delete;

  // Reader names in port order ("Test PCD 00 00", "Test PCD 00 01", ...).
  std::string ReaderName(int reader) const;
  int Port(int reader) const { return options_.base_port + reader; }
  const std::string& dir() const { return dir_; }

  // Starts desfire-sim on reader `reader` with a copy of `image` (so tests never modify the
  // shipped images) and a control socket; `extra_args` go to desfire-sim.
  absl::Status StartCard(int reader, const std::string& image,
                         std::vector<std::string> extra_args = {});
  // The unix socket of the card's control commands (docs/simulator.md), for other processes.
  std::string ControlPath(int reader) const;
  // Sends one control command to the card on `reader`; returns its reply line.
  absl::StatusOr<std::string> Control(int reader, const std::string& command);
  // Process id of the card on `reader`, or -1 when none runs (for CPU accounting).
  pid_t CardPid(int reader) const {
    auto it = cards_.find(reader);
    return it == cards_.end() ? -1 : it->second;
  }
  // Stops the card process on `reader` (SIGTERM; it saves if asked to).
  absl::Status StopCard(int reader);

  // pcscd's process id, or -1 while it is stopped.
  pid_t PcscdPid() const { return pcscd_pid_; }
  // Sends `sig` to pcscd and reaps it (SIGKILL after 2 s if it is still there). SIGKILL
  // leaves its socket and pid file behind, as a crash would; StartPcscd removes them.
  // FAILED_PRECONDITION when pcscd does not run.
  absl::Status KillPcscd(int sig = SIGKILL);
  // Starts pcscd in the sandbox's namespaces and waits until it accepts a context (readers
  // may follow a few ms later: use WaitForReaders). ALREADY_EXISTS when pcscd runs; INTERNAL
  // when it exits; DEADLINE_EXCEEDED after `start_timeout`.
  absl::Status StartPcscd();
  // KillPcscd(sig), then StartPcscd().
  absl::Status RestartPcscd(int sig = SIGKILL);

  // Waits until pcscd lists at least `count` readers.
  absl::Status WaitForReaders(int count, absl::Duration timeout);
  // Waits until the reader reports a card present (`present`) or empty.
  absl::Status WaitForCard(int reader, bool present, absl::Duration timeout);

 private:
  explicit PcscSandbox(SandboxOptions options) : options_(std::move(options)) {}
  SandboxOptions options_;
  std::string dir_;
  pid_t holder_pid_ = -1;  // owns the mount and network namespaces
  pid_t pcscd_pid_ = -1;
  std::map<int, pid_t> cards_;
};

}  // namespace desfired::testing

#endif  // DESFIRED_TESTS_INTEGRATION_PCSC_SANDBOX_H_
