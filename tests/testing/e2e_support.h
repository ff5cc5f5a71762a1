// What the end-to-end and CLI tests share around a real desfired: the sandbox with the transit
// card (and a blank card), the key file, the desfired binary as a child process, and two gRPC
// helpers (a context with a deadline, the ErrorInfo of a failed call).
//
//   void SetUp() override {
//     if (!testing::StartTransitSandbox(&sandbox_, /*blank_card=*/true)) return;  // skipped
//     absl::StatusOr<std::string> keys = testing::WriteKeyFile(sandbox_->dir());
//     ASSERT_TRUE(keys.ok()) << keys.status();
//   }
//   testing::DesfiredProcess server(sandbox_->dir(), {"--listen=127.0.0.1:0", "--keys=" + ...});
//   ASSERT_GT(server.port(), 0) << server.err();
//   auto cards = v1::CardService::NewStub(server.Channel());
//   grpc::Status s = cards->GetValue(testing::Ctx().get(), req, &resp);
//   EXPECT_EQ(testing::InfoOf(s).reason(), "KEY_NOT_FOUND");
//   EXPECT_EQ(server.Stop(), 0) << server.err();   // SIGTERM, then the exit code
//
// The paths of desfired, desfire-sim and the card images are built in (CMake).
// Thread-compatible.
#ifndef DESFIRED_TESTS_TESTING_E2E_SUPPORT_H_
#define DESFIRED_TESTS_TESTING_E2E_SUPPORT_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "desfired/v1/card.grpc.pb.h"
#include "google/rpc/error_details.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/status.h"
#include "tests/integration/pcsc_sandbox.h"
#include "tests/testing/transit_keys.h"

namespace desfired::testing {

// Starts the sandbox of these tests into `*sandbox`: pcscd with desfire-sim's transit card
// (sim/images/transit.json) on reader 0 and, with `blank_card`, a blank card
// (sim/images/blank.json) on reader 1. When it does not start, returns false with the current
// test skipped (not root: the sandbox needs namespaces) or failed (fatally); the caller returns.
[[nodiscard]] bool StartTransitSandbox(std::unique_ptr<PcscSandbox>* sandbox, bool blank_card);

// StartTransitSandbox without cards: pcscd with two empty readers; tests start their own
// (PcscSandbox::StartCard with ImagePath(...) and desfire-sim options).
[[nodiscard]] bool StartEmptySandbox(std::unique_ptr<PcscSandbox>* sandbox);
// The path of sim/images/`name` in the source tree.
std::string ImagePath(absl::string_view name);

// Writes `text` to <dir>/keys.conf with mode 0600 (desfired refuses a key file others may
// read); its path.
absl::StatusOr<std::string> WriteKeyFile(const std::string& dir,
                                         absl::string_view text = kTransitKeyFile);

// A plaintext channel to 127.0.0.1:`port`.
std::shared_ptr<grpc::Channel> LoopbackChannel(int port);

// A client context whose deadline is `timeout` from now (tests never wait without one).
std::unique_ptr<grpc::ClientContext> Ctx(absl::Duration timeout = absl::Seconds(10));

// The ErrorInfo (reason, metadata) of a failed call; empty when the call carried none.
google::rpc::ErrorInfo InfoOf(const grpc::Status& status);

// The lines of `log` (a desfired's stderr) that hold every one of `parts`.
std::vector<std::string> LinesWith(absl::string_view log, const std::vector<std::string>& parts);

// Expects the health service on `channel` to answer SERVING, for the server as a whole and for
// desfired.v1.CardService; a failed call is a fatal failure (ASSERT_NO_FATAL_FAILURE).
void ExpectServing(const std::shared_ptr<grpc::Channel>& channel);

// The desfired binary as a child process. Its stderr goes to a file of its own in `dir`
// (err()); it is killed (SIGKILL) and reaped by the destructor if it still runs.
class DesfiredProcess {
 public:
  static constexpr int kRunning = -1000;  // Wait's answer while the process runs

  // Starts desfired with `args`, adding --port_file=<dir>/desfired-<n>.port and
  // --data_dir=<dir> unless `args` give them. Returns once the port file names the port
  // (port() > 0), the process has exited, or 5 s have passed.
  DesfiredProcess(const std::string& dir, std::vector<std::string> args);
  ~DesfiredProcess();
  DesfiredProcess(const DesfiredProcess&) = delete;
  DesfiredProcess& operator=(const DesfiredProcess&) = delete;

  // The gRPC port from the port file; 0 when it did not listen.
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  // What it wrote to stderr so far.
  std::string err() const;
  // LoopbackChannel(port()).
  std::shared_ptr<grpc::Channel> Channel() const { return LoopbackChannel(port_); }

  // Waits up to `timeout` for the process to exit: its exit code, -1 when a signal killed it,
  // kRunning when it still runs.
  int Wait(absl::Duration timeout = absl::Seconds(10));
  // SIGTERM, then Wait(timeout).
  int Stop(absl::Duration timeout = absl::Seconds(10));

 private:
  std::string err_path_;
  pid_t pid_ = -1;
  int port_ = 0;
  int exit_code_ = kRunning;
};

// A DesfiredProcess listening on 127.0.0.1 (a port of its own) with a CardService stub on it.
class LoopbackDesfired : public DesfiredProcess {
 public:
  // `args` as DesfiredProcess takes them, without --listen.
  LoopbackDesfired(const std::string& dir, std::vector<std::string> args);
  v1::CardService::Stub& cards() { return *cards_; }

 private:
  std::unique_ptr<v1::CardService::Stub> cards_;
};

// A LoopbackDesfired over `sandbox`'s pcscd with the transit key file (WriteKeyFile) and
// `flags` added; a test failure (and nullptr) when the key file cannot be written or desfired
// does not listen.
std::unique_ptr<LoopbackDesfired> StartTransitDesfired(PcscSandbox& sandbox,
                                                       std::vector<std::string> flags);

// How a desfired run ended.
struct DesfiredRun {
  int exit_code = -1;  // -1: killed by a signal, or still running after 30 s (then killed)
  std::string err;     // all it wrote to stderr
};

// Runs desfired (a DesfiredProcess in `dir`) to its end; with `stop_when_listening`, sends
// SIGTERM once it listens (or after 5 s).
DesfiredRun RunDesfired(std::vector<std::string> args, const std::string& dir,
                        bool stop_when_listening);

// The transit image's value file (kTransitAid, file 1) on `reader`: a Debit of `amount` with the
// debit key (transit-debit, key 2) under `request_id`, the GetValue request with the read key
// (transit-read, key 1), and the value it reads (-1 after a failed call, which is also a test
// failure).
v1::DebitRequest TransitDebit(const std::string& reader, int32_t amount,
                              const std::string& request_id);
v1::GetValueRequest TransitGetValue(const std::string& reader);
int32_t TransitValue(v1::CardService::Stub& cards, const std::string& reader);

// The APDUs the card on `reader` has answered so far (desfire-sim's control `status`); -1
// (and a test failure) when it cannot be read.
int64_t CardApdus(PcscSandbox& sandbox, int reader);

}  // namespace desfired::testing

#endif  // DESFIRED_TESTS_TESTING_E2E_SUPPORT_H_
