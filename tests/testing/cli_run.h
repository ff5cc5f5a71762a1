// Running programs from tests the way a user's shell would, and reading what they wrote: the
// CLI tests run the real desfirectl binary and check its exit code, stdout and stderr.
//
//   CliRun r = RunDesfirectl(DESFIRECTL, "value --server 127.0.0.1:4 --reader 'R' ...");
//   EXPECT_EQ(r.exit_code, 0) << r.err;
//   CliRun e = RunDesfirectl(DESFIRECTL, "readers", {{"DESFIRED_SERVER", address}});
//   CliRun py = RunShell("/usr/bin/python3 -c 'print(1)'");
//
// The captured output goes through files under ::testing::TempDir(), removed after the run.
// Thread-safe (each run has files of its own).
#ifndef DESFIRED_TESTS_TESTING_CLI_RUN_H_
#define DESFIRED_TESTS_TESTING_CLI_RUN_H_

#include <map>
#include <string>

namespace desfired::testing {

// How a program ended and what it wrote.
struct CliRun {
  int exit_code = -1;  // -1: killed by a signal
  std::string out;
  std::string err;
};

// Runs `command` with /bin/sh (shell words: quote what needs it), `stdin_text` on its standard
// input.
CliRun RunShell(const std::string& command, const std::string& stdin_text = "");

// Runs the desfirectl binary at `desfirectl` with `args` (shell words). desfirectl's connection
// variables (DESFIRED_SERVER, DESFIRED_TOKEN, DESFIRED_TLS_CA, DESFIRED_TLS_CERT,
// DESFIRED_TLS_KEY, DESFIRED_TLS_SERVER_NAME, DESFIRED_TIMEOUT) are removed from its environment,
// so the test's own never leak in; `env` sets variables (those or others) for the run.
CliRun RunDesfirectl(const std::string& desfirectl, const std::string& args,
                     const std::map<std::string, std::string>& env = {},
                     const std::string& stdin_text = "");

// The whole content of a file ("" when it cannot be read).
std::string ReadFile(const std::string& path);

// A path under ::testing::TempDir() unique to this process: the same `name` gives the same path.
std::string TempPath(const std::string& name);

}  // namespace desfired::testing

#endif  // DESFIRED_TESTS_TESTING_CLI_RUN_H_
