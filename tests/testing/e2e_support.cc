#include "tests/testing/e2e_support.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "google/rpc/status.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/testing/cli_run.h"
#include "tests/testing/test_certs.h"

namespace desfired::testing {
namespace {

// "--name=..." is among `args`.
bool HasFlag(const std::vector<std::string>& args, absl::string_view name) {
  const std::string prefix = absl::StrCat(name, "=");
  return std::any_of(args.begin(), args.end(),
                     [&](const std::string& a) { return absl::StartsWith(a, prefix); });
}

std::vector<std::string> WithLoopbackListen(std::vector<std::string> args) {
  args.insert(args.begin(), "--listen=127.0.0.1:0");
  return args;
}

// The exit code of a waitpid status: -1 when a signal ended the process.
int ExitCode(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }

// Takes a started sandbox into `*sandbox`, or skips (not root) / fails the current test.
bool TakeSandbox(absl::StatusOr<std::unique_ptr<PcscSandbox>> started,
                 std::unique_ptr<PcscSandbox>* sandbox) {
  if (started.ok()) {
    *sandbox = *std::move(started);
    return true;
  }
  // GTEST_SKIP and FAIL return from the function they are in: a lambda of their own.
  if (started.status().code() == absl::StatusCode::kPermissionDenied) {
    [&] { GTEST_SKIP() << "needs root: " << started.status(); }();
  } else {
    [&] { FAIL() << started.status(); }();
  }
  return false;
}

SandboxOptions SimOptions() {
  SandboxOptions options;
  options.sim_binary = DESFIRED_TEST_SIM_BINARY;
  return options;
}

}  // namespace

bool StartTransitSandbox(std::unique_ptr<PcscSandbox>* sandbox, bool blank_card) {
  const std::string image_dir = std::string(DESFIRED_TEST_SOURCE_DIR) + "/sim/images/";
  std::vector<std::string> images = {image_dir + "transit.json"};
  if (blank_card) images.push_back(image_dir + "blank.json");
  return TakeSandbox(PcscSandbox::StartWithCards(SimOptions(), images, absl::Seconds(3)), sandbox);
}

bool StartEmptySandbox(std::unique_ptr<PcscSandbox>* sandbox) {
  return TakeSandbox(PcscSandbox::Start(SimOptions()), sandbox);
}

std::string ImagePath(absl::string_view name) {
  return absl::StrCat(DESFIRED_TEST_SOURCE_DIR, "/sim/images/", name);
}

absl::StatusOr<std::string> WriteKeyFile(const std::string& dir, absl::string_view text) {
  const std::string path = dir + "/keys.conf";
  if (absl::Status s = WriteFileWithMode(path, std::string(text)); !s.ok()) return s;
  return path;
}

std::shared_ptr<grpc::Channel> LoopbackChannel(int port) {
  return grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
}

std::unique_ptr<grpc::ClientContext> Ctx(absl::Duration timeout) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return ctx;
}

google::rpc::ErrorInfo InfoOf(const grpc::Status& status) {
  google::rpc::Status details;
  google::rpc::ErrorInfo info;
  if (details.ParseFromString(status.error_details()) && details.details_size() == 1) {
    details.details(0).UnpackTo(&info);
  }
  return info;
}

DesfiredProcess::DesfiredProcess(const std::string& dir, std::vector<std::string> args) {
  static std::atomic<int> runs{0};
  const std::string base = absl::StrCat(dir, "/desfired-", ++runs);
  err_path_ = base + ".err";
  const std::string port_path = base + ".port";
  ::unlink(port_path.c_str());
  args.insert(args.begin(), DESFIRED_TEST_BINARY);
  if (!HasFlag(args, "--port_file")) args.push_back("--port_file=" + port_path);
  if (!HasFlag(args, "--data_dir")) args.push_back("--data_dir=" + dir);
  pid_ = ::fork();
  if (pid_ == 0) {
    FILE* err = std::freopen(err_path_.c_str(), "w", stderr);
    (void)err;
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  for (int i = 0; i < 500 && port_ == 0; ++i) {
    std::ifstream port(port_path);
    if (!(port >> port_)) port_ = 0;
    if (port_ == 0 && Wait(absl::ZeroDuration()) != kRunning) break;
    if (port_ == 0) absl::SleepFor(absl::Milliseconds(10));
  }
}

DesfiredProcess::~DesfiredProcess() {
  if (pid_ > 0 && exit_code_ == kRunning) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

std::string DesfiredProcess::err() const { return ReadFile(err_path_); }

int DesfiredProcess::Wait(absl::Duration timeout) {
  const absl::Time until = absl::Now() + timeout;
  while (exit_code_ == kRunning && pid_ > 0) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_code_ = ExitCode(status);
      break;
    }
    if (absl::Now() >= until) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return exit_code_;
}

int DesfiredProcess::Stop(absl::Duration timeout) {
  if (exit_code_ == kRunning && pid_ > 0) ::kill(pid_, SIGTERM);
  return Wait(timeout);
}

std::vector<std::string> LinesWith(absl::string_view log, const std::vector<std::string>& parts) {
  std::vector<std::string> found;
  for (absl::string_view line : absl::StrSplit(log, '\n', absl::SkipEmpty())) {
    bool all = true;
    for (const std::string& p : parts) all = all && absl::StrContains(line, p);
    if (all) found.emplace_back(line);
  }
  return found;
}

LoopbackDesfired::LoopbackDesfired(const std::string& dir, std::vector<std::string> args)
    : DesfiredProcess(dir, WithLoopbackListen(std::move(args))),
      cards_(v1::CardService::NewStub(Channel())) {}

std::unique_ptr<LoopbackDesfired> StartTransitDesfired(PcscSandbox& sandbox,
                                                       std::vector<std::string> flags) {
  absl::StatusOr<std::string> keys = WriteKeyFile(sandbox.dir());
  if (!keys.ok()) {
    ADD_FAILURE() << keys.status();
    return nullptr;
  }
  flags.push_back(absl::StrCat("--pcsc_socket=", sandbox.dir(), "/run/pcscd.comm"));
  flags.push_back("--keys=" + *keys);
  auto server = std::make_unique<LoopbackDesfired>(sandbox.dir(), std::move(flags));
  if (server->port() <= 0) {
    ADD_FAILURE() << "desfired did not listen: " << server->err();
    return nullptr;
  }
  return server;
}

DesfiredRun RunDesfired(std::vector<std::string> args, const std::string& dir,
                        bool stop_when_listening) {
  DesfiredProcess process(dir, std::move(args));
  DesfiredRun run;
  run.exit_code =
      stop_when_listening ? process.Stop(absl::Seconds(30)) : process.Wait(absl::Seconds(30));
  if (run.exit_code == DesfiredProcess::kRunning) run.exit_code = -1;  // the destructor kills it
  run.err = process.err();
  return run;
}

void ExpectServing(const std::shared_ptr<grpc::Channel>& channel) {
  auto health = grpc::health::v1::Health::NewStub(channel);
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  grpc::Status s = health->Check(Ctx().get(), req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  req.set_service("desfired.v1.CardService");
  s = health->Check(Ctx().get(), req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

v1::DebitRequest TransitDebit(const std::string& reader, int32_t amount,
                              const std::string& request_id) {
  v1::DebitRequest req;
  req.mutable_target()->set_reader(reader);
  req.set_aid(kTransitAid);
  req.set_file_no(1);
  req.mutable_auth()->set_key_name("transit-debit");
  req.mutable_auth()->set_key_number(2);
  req.set_amount(amount);
  req.set_request_id(request_id);
  return req;
}

v1::GetValueRequest TransitGetValue(const std::string& reader) {
  v1::GetValueRequest req;
  req.mutable_target()->set_reader(reader);
  req.set_aid(kTransitAid);
  req.set_file_no(1);
  req.mutable_auth()->set_key_name("transit-read");
  req.mutable_auth()->set_key_number(1);
  return req;
}

int32_t TransitValue(v1::CardService::Stub& cards, const std::string& reader) {
  v1::GetValueResponse resp;
  grpc::Status s = cards.GetValue(Ctx().get(), TransitGetValue(reader), &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return s.ok() ? resp.value() : -1;
}

int64_t CardApdus(PcscSandbox& sandbox, int reader) {
  absl::StatusOr<std::string> status = sandbox.Control(reader, "status");
  EXPECT_TRUE(status.ok()) << status.status();
  if (!status.ok()) return -1;
  const size_t at = status->find("apdus=");
  EXPECT_NE(at, std::string::npos) << *status;
  if (at == std::string::npos) return -1;
  const std::string rest = status->substr(at + 6);
  int64_t n = -1;
  EXPECT_TRUE(absl::SimpleAtoi(rest.substr(0, rest.find(' ')), &n)) << *status;
  return n;
}

}  // namespace desfired::testing
