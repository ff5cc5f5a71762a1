// PcscSandbox: a private pcscd with vpcd virtual readers, and desfire-sim cards on them, for
// integration tests (the same steps as scripts/pcsc-sandbox; facts in
// shared/PCSC_TESTING.md).
//
//   pcscd runs in its own mount + network namespace:
//     unshare --mount --propagation private --net sh -c '
//       ip link set lo up; [tmpfs on /run if /run/pcscd is missing];
//       mount --bind <dir>/run /run/pcscd && exec pcscd --foreground -c <dir>/reader.conf'
//   with one copy of libifdvpcd.so per reader.conf entry (entry i: ports base+2i, base+2i+1,
//   readers "<name> <i> 00" / "<name> <i> 01"); cards join its network namespace with
//   `nsenter -t <pcscd pid> -n desfire-sim ...`, so ports never collide with anything.
//
//   auto sandbox = PcscSandbox::Start({.entries = 1});          // sets PCSCLITE_CSOCK_NAME
//   ASSERT_TRUE(sandbox.ok()) << sandbox.status();
//   ASSERT_TRUE((*sandbox)->StartCard(0, image_path).ok());     // reader index 0
//   ASSERT_TRUE((*sandbox)->WaitForCard(0, true, absl::Seconds(2)).ok());
//
// The process may hold one sandbox at a time: libpcsclite reads PCSCLITE_CSOCK_NAME once.
// Everything is torn down by pid in the destructor (SIGTERM, then SIGKILL after 2 s).
// Needs root (CAP_SYS_ADMIN for the namespaces); Start returns PERMISSION_DENIED otherwise.
//
// Thread-compatible.
#ifndef DESFIRED_TESTS_INTEGRATION_PCSC_SANDBOX_H_
#define DESFIRED_TESTS_INTEGRATION_PCSC_SANDBOX_H_

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
  // Sends one control command to the card on `reader`; returns its reply line.
  absl::StatusOr<std::string> Control(int reader, const std::string& command);
  // Process id of the card on `reader`, or -1 when none runs (for CPU accounting).
  pid_t CardPid(int reader) const {
    auto it = cards_.find(reader);
    return it == cards_.end() ? -1 : it->second;
  }
  // Stops the card process on `reader` (SIGTERM; it saves if asked to).
  absl::Status StopCard(int reader);

  // Waits until pcscd lists at least `count` readers.
  absl::Status WaitForReaders(int count, absl::Duration timeout);
  // Waits until the reader reports a card present (`present`) or empty.
  absl::Status WaitForCard(int reader, bool present, absl::Duration timeout);

 private:
  explicit PcscSandbox(SandboxOptions options) : options_(std::move(options)) {}
  SandboxOptions options_;
  std::string dir_;
  pid_t pcscd_pid_ = -1;
  std::map<int, pid_t> cards_;
};

}  // namespace desfired::testing

#endif  // DESFIRED_TESTS_INTEGRATION_PCSC_SANDBOX_H_
