// desfired-testbed: runs a program against a real desfired and a simulated card, then checks
// what it did. The set-up of the CLI and e2e tests, for programs outside them (the Python
// client's tests, the examples):
//
//   1. a sandboxed pcscd with desfire-sim on reader 0 (--image, default the transit card;
//      tests/integration/pcsc_sandbox.h; needs root, else exit code 77 = skipped);
//   2. an in-process desfired on 127.0.0.1:<free port> with the transit key store
//      (tests/testing/transit_keys.h);
//   3. --set-value N: value file 1 of F51001 brought to N (a debit or credit);
//   4. the command, with DESFIRED_SERVER=127.0.0.1:<port>, DESFIRED_READER=<reader 0>,
//      DESFIRED_SIM_CONTROL=<the card's control socket> and DESFIRED_TESTBED_DIR=<a scratch
//      directory> in its environment (DESFIRED_TOKEN and DESFIRED_TLS_* removed); its stdout
//      is passed through and kept, its stderr passed through;
//   5. the card removed and put back while the command runs: --bounce-after DURATION (from
//      the start) or --bounce-on-output TEXT (the first time TEXT appears on its stdout), for
//      --bounce-for DURATION (default 1s); a bounce that never happened fails the run;
//   6. checks after it exits 0: --expect TEXT (its stdout contains TEXT; repeatable),
//      --expect-value N (value file 1 of F51001), --expect-file PATH:HEX (the file holds
//      these bytes; removed before the command runs; repeatable).
//
//   desfired-testbed --set-value 10 --bounce-on-output 'debit #3' --expect-value 0
//       -- python3 examples/python/debit_until_empty.py --interval 0.2     (one line)
//
// Exit code: the command's when it fails; 1 when a check or the set-up fails (the reason on
// stderr); 2 for bad usage; 77 when not root (ctest: SKIP_RETURN_CODE 77). The command is
// killed after --timeout (default 60s).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/desfired_client.h"
#include "core/util/bytes.h"
#include "server/server.h"
#include "tests/integration/pcsc_sandbox.h"
#include "tests/testing/transit_keys.h"

namespace desfired {
namespace {

constexpr int kExitCheckFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitSkipped = 77;

constexpr char kUsage[] =
    "usage: desfired-testbed [options] -- COMMAND [ARGS...]\n"
    "  --image FILE              card image on reader 0 (default: the transit card)\n"
    "  --set-value N             bring value file 1 of F51001 to N first\n"
    "  --bounce-after DURATION   remove the card this long after the command starts\n"
    "  --bounce-on-output TEXT   remove the card when TEXT first appears on stdout\n"
    "  --bounce-for DURATION     keep it out this long (default 1s)\n"
    "  --expect TEXT             stdout must contain TEXT (repeatable)\n"
    "  --expect-value N          value file 1 of F51001 must be N afterwards\n"
    "  --expect-file PATH:HEX    PATH must hold these bytes afterwards (repeatable)\n"
    "  --timeout DURATION        kill the command after this (default 60s)\n";

struct Options {
  std::string image = std::string(SOURCE_DIR) + "/sim/images/transit.json";
  std::optional<int32_t> set_value;
  std::optional<absl::Duration> bounce_after;
  std::string bounce_on_output;
  absl::Duration bounce_for = absl::Seconds(1);
  std::vector<std::string> expect;
  std::optional<int32_t> expect_value;
  std::vector<std::pair<std::string, std::string>> expect_files;  // path, hex
  absl::Duration timeout = absl::Seconds(60);
  std::vector<std::string> command;
};

void Log(const std::string& message) { std::cerr << "testbed: " << message << std::endl; }

absl::StatusOr<Options> ParseOptions(int argc, char** argv) {
  Options o;
  int i = 1;
  auto value = [&](const std::string& name) -> absl::StatusOr<std::string> {
    if (i + 1 >= argc) return absl::InvalidArgumentError(absl::StrCat(name, " needs a value"));
    return std::string(argv[++i]);
  };
  auto duration = [&](const std::string& name) -> absl::StatusOr<absl::Duration> {
    absl::StatusOr<std::string> v = value(name);
    if (!v.ok()) return v.status();
    absl::Duration d;
    if (!absl::ParseDuration(*v, &d) || d < absl::ZeroDuration()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " takes a duration such as 2s or 500ms, got '", *v, "'"));
    }
    return d;
  };
  auto number = [&](const std::string& name) -> absl::StatusOr<int32_t> {
    absl::StatusOr<std::string> v = value(name);
    if (!v.ok()) return v.status();
    int32_t n = 0;
    if (!absl::SimpleAtoi(*v, &n) || n < 0) {
      return absl::InvalidArgumentError(absl::StrCat(name, " takes a number >= 0, got '", *v, "'"));
    }
    return n;
  };
  for (; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") {
      o.command.assign(argv + i + 1, argv + argc);
      break;
    }
#define DESFIRED_TAKE(expr, target)   \
  do {                                \
    auto v_ = (expr);                 \
    if (!v_.ok()) return v_.status(); \
    target = *std::move(v_);          \
  } while (0)
    if (arg == "--image") {
      DESFIRED_TAKE(value(arg), o.image);
    } else if (arg == "--set-value") {
      DESFIRED_TAKE(number(arg), o.set_value);
    } else if (arg == "--bounce-after") {
      DESFIRED_TAKE(duration(arg), o.bounce_after);
    } else if (arg == "--bounce-on-output") {
      DESFIRED_TAKE(value(arg), o.bounce_on_output);
    } else if (arg == "--bounce-for") {
      DESFIRED_TAKE(duration(arg), o.bounce_for);
    } else if (arg == "--expect") {
      std::string text;
      DESFIRED_TAKE(value(arg), text);
      o.expect.push_back(text);
    } else if (arg == "--expect-value") {
      DESFIRED_TAKE(number(arg), o.expect_value);
    } else if (arg == "--expect-file") {
      std::string spec;
      DESFIRED_TAKE(value(arg), spec);
      const size_t colon = spec.rfind(':');
      if (colon == std::string::npos || colon == 0) {
        return absl::InvalidArgumentError("--expect-file takes PATH:HEX");
      }
      o.expect_files.emplace_back(spec.substr(0, colon), spec.substr(colon + 1));
    } else if (arg == "--timeout") {
      DESFIRED_TAKE(duration(arg), o.timeout);
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown option '", arg, "'"));
    }
#undef DESFIRED_TAKE
  }
  if (o.command.empty()) return absl::InvalidArgumentError("no command after --");
  if (o.bounce_after && !o.bounce_on_output.empty()) {
    return absl::InvalidArgumentError("choose one of --bounce-after and --bounce-on-output");
  }
  return o;
}

// A request on value file 1 of the transit application on `reader`, with key `key_name` /
// `key_no`.
template <typename Request>
Request OnTransitValueFile(const std::string& reader, const std::string& key_name,
                           uint32_t key_no) {
  Request req;
  req.mutable_target()->set_reader(reader);
  req.set_aid(testing::kTransitAid);
  req.set_file_no(testing::kTransitValueFile);
  req.mutable_auth()->set_key_name(key_name);
  req.mutable_auth()->set_key_number(key_no);
  return req;
}

// Value file 1 of the transit application.
absl::StatusOr<int32_t> TransitValue(client::Client& c, const std::string& reader) {
  absl::StatusOr<v1::GetValueResponse> r = c.GetValue(
      OnTransitValueFile<v1::GetValueRequest>(reader, "transit-read", testing::kTransitReadKeyNo));
  if (!r.ok()) return r.status();
  return r->value();
}

absl::Status SetTransitValue(client::Client& c, const std::string& reader, int32_t target) {
  absl::StatusOr<int32_t> now = TransitValue(c, reader);
  if (!now.ok()) return now.status();
  if (*now > target) {
    auto req =
        OnTransitValueFile<v1::DebitRequest>(reader, "transit-debit", testing::kTransitDebitKeyNo);
    req.set_amount(*now - target);
    if (absl::StatusOr<v1::DebitResponse> r = c.Debit(req); !r.ok()) return r.status();
  } else if (*now < target) {
    auto req = OnTransitValueFile<v1::CreditRequest>(reader, "transit-credit",
                                                     testing::kTransitCreditKeyNo);
    req.set_amount(target - *now);
    if (absl::StatusOr<v1::CreditResponse> r = c.Credit(req); !r.ok()) return r.status();
  }
  absl::StatusOr<int32_t> after = TransitValue(c, reader);
  if (!after.ok()) return after.status();
  if (*after != target) {
    return absl::InternalError(absl::StrCat("value is ", *after, " after setting ", target));
  }
  return absl::OkStatus();
}

// Removes the card on reader 0, waits `out`, inserts it again.
void Bounce(testing::PcscSandbox* sandbox, absl::Duration out) {
  absl::StatusOr<std::string> removed = sandbox->Control(0, "remove");
  Log(removed.ok() ? "card removed" : absl::StrCat("remove failed: ", removed.status().message()));
  absl::SleepFor(out);
  absl::StatusOr<std::string> inserted = sandbox->Control(0, "insert");
  Log(inserted.ok() ? "card inserted again"
                    : absl::StrCat("insert failed: ", inserted.status().message()));
}

struct RunResult {
  int exit_code = -1;  // -1: killed or did not start
  std::string out;
  bool bounced = false;
};

RunResult RunCommand(const Options& o, testing::PcscSandbox* sandbox) {
  RunResult result;
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    Log("pipe failed");
    return result;
  }
  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    dup2(pipe_fds[1], STDOUT_FILENO);
    std::vector<char*> argv;
    for (const std::string& a : o.command) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    std::fprintf(stderr, "testbed: cannot run %s\n", argv[0]);
    _exit(127);
  }
  close(pipe_fds[1]);
  if (pid < 0) {
    close(pipe_fds[0]);
    Log("fork failed");
    return result;
  }
  const absl::Time start = absl::Now();
  std::thread bouncer;
  auto start_bounce = [&] {
    result.bounced = true;
    bouncer = std::thread(Bounce, sandbox, o.bounce_for);
  };
  bool killed = false;
  char buf[4096];
  while (true) {
    const absl::Time now = absl::Now();
    if (o.bounce_after && !result.bounced && now - start >= *o.bounce_after) start_bounce();
    if (now - start > o.timeout && !killed) {
      Log(absl::StrCat("the command ran longer than ", absl::FormatDuration(o.timeout),
                       ": killed"));
      kill(-pid, SIGTERM);
      absl::SleepFor(absl::Milliseconds(500));
      kill(-pid, SIGKILL);
      killed = true;
    }
    pollfd p{pipe_fds[0], POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    const ssize_t n = read(pipe_fds[0], buf, sizeof(buf));
    if (n <= 0) break;
    std::cout.write(buf, n);
    std::cout.flush();
    result.out.append(buf, static_cast<size_t>(n));
    if (!o.bounce_on_output.empty() && !result.bounced &&
        absl::StrContains(result.out, o.bounce_on_output)) {
      start_bounce();
    }
  }
  close(pipe_fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (bouncer.joinable()) bouncer.join();
  if (!killed && WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  Log(absl::StrCat("the command ended ",
                   result.exit_code >= 0 ? absl::StrCat("with exit code ", result.exit_code)
                                         : std::string("abnormally"),
                   " after ",
                   absl::FormatDuration(absl::Trunc(absl::Now() - start, absl::Milliseconds(10)))));
  return result;
}

int Main(int argc, char** argv) {
  if (argc >= 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::cout << kUsage;
    return 0;
  }
  absl::StatusOr<Options> options = ParseOptions(argc, argv);
  if (!options.ok()) {
    std::cerr << "desfired-testbed: " << options.status().message() << "\n" << kUsage;
    return kExitUsage;
  }
  const Options& o = *options;

  testing::SandboxOptions sandbox_options;
  sandbox_options.sim_binary = DESFIRE_SIM;
  auto sandbox = testing::PcscSandbox::StartWithCards(sandbox_options, {o.image});
  if (sandbox.status().code() == absl::StatusCode::kPermissionDenied) {
    Log(absl::StrCat("skipped: ", sandbox.status().message()));
    return kExitSkipped;
  }
  if (!sandbox.ok()) {
    Log(absl::StrCat("the sandbox did not start: ", sandbox.status().ToString()));
    return kExitCheckFailed;
  }
  const std::string reader = (*sandbox)->ReaderName(0);
  const std::string key_path = absl::StrCat((*sandbox)->dir(), "/keys.conf");
  {
    std::ofstream keys(key_path);
    keys << testing::kTransitKeyFile;
  }
  ::chmod(key_path.c_str(), 0600);

  server::ServerConfig config;
  config.listen = "127.0.0.1:0";
  config.keys_file = key_path;
  auto server = server::DesfiredServer::Start(config);
  if (!server.ok()) {
    Log(absl::StrCat("desfired did not start: ", server.status().ToString()));
    return kExitCheckFailed;
  }
  const std::string address = absl::StrCat("127.0.0.1:", (*server)->port());
  client::ClientOptions client_options;
  client_options.server = address;
  client_options.deadline = absl::Seconds(10);
  auto checker = client::Client::Create(client_options);
  if (!checker.ok()) {
    Log(checker.status().ToString());
    return kExitCheckFailed;
  }

  int exit_code = 0;
  auto fail = [&](const std::string& why) {
    Log(absl::StrCat("FAILED: ", why));
    exit_code = kExitCheckFailed;
  };
  if (o.set_value) {
    if (absl::Status s = SetTransitValue(**checker, reader, *o.set_value); !s.ok()) {
      fail(absl::StrCat("setting the value: ", s.ToString()));
    } else {
      Log(absl::StrCat("value file 1 of F51001 set to ", *o.set_value));
    }
  }
  for (const auto& [path, hex] : o.expect_files) std::remove(path.c_str());

  if (exit_code == 0) {
    setenv("DESFIRED_SERVER", address.c_str(), 1);
    setenv("DESFIRED_READER", reader.c_str(), 1);
    setenv("DESFIRED_SIM_CONTROL", (*sandbox)->ControlPath(0).c_str(), 1);
    setenv("DESFIRED_TESTBED_DIR", (*sandbox)->dir().c_str(), 1);
    for (const char* name :
         {"DESFIRED_TOKEN", "DESFIRED_TLS_CA", "DESFIRED_TLS_CERT", "DESFIRED_TLS_KEY",
          "DESFIRED_TLS_SERVER_NAME", "DESFIRED_LB_POLICY"}) {
      unsetenv(name);
    }
    Log(absl::StrCat("desfired on ", address, ", card on '", reader, "'"));
    RunResult run = RunCommand(o, sandbox->get());
    if (run.exit_code != 0) {
      fail("the command did not exit with 0");
      exit_code = run.exit_code > 0 ? run.exit_code : kExitCheckFailed;
    } else {
      if ((o.bounce_after || !o.bounce_on_output.empty()) && !run.bounced) {
        fail(absl::StrCat("the card was never bounced (no '", o.bounce_on_output,
                          "' in the output)"));
      }
      for (const std::string& text : o.expect) {
        if (!absl::StrContains(run.out, text)) fail(absl::StrCat("no '", text, "' in the output"));
      }
    }
  }
  if (exit_code == 0 && o.expect_value) {
    // The card may have just come back from a bounce: give the reader a moment.
    (void)(*sandbox)->WaitForCard(0, true, absl::Seconds(3));
    absl::StatusOr<int32_t> value = TransitValue(**checker, reader);
    if (!value.ok()) {
      fail(absl::StrCat("reading the value: ", value.status().ToString()));
    } else if (*value != *o.expect_value) {
      fail(absl::StrCat("value file 1 of F51001 holds ", *value, ", expected ", *o.expect_value));
    } else {
      Log(absl::StrCat("value file 1 of F51001 holds ", *value, " as expected"));
    }
  }
  for (const auto& [path, hex] : o.expect_files) {
    if (exit_code != 0) break;
    std::ifstream in(path, std::ios::binary);
    std::stringstream got;
    got << in.rdbuf();
    if (!in) {
      fail(absl::StrCat(path, " was not written"));
      continue;
    }
    const std::string got_hex = HexEncode(AsBytes(got.str()));
    absl::StatusOr<Bytes> want = HexDecode(hex);
    if (!want.ok() || got_hex != HexEncode(*want)) {
      fail(absl::StrCat(path, " holds ", got_hex, ", expected ", hex));
    } else {
      Log(absl::StrCat(path, " holds the expected ", want->size(), " bytes"));
    }
  }
  (*server)->Shutdown(absl::Seconds(1));
  return exit_code;
}

}  // namespace
}  // namespace desfired

int main(int argc, char** argv) { return desfired::Main(argc, argv); }
