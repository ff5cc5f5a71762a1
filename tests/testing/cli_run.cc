#include "tests/testing/cli_run.h"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"

namespace desfired::testing {
namespace {

constexpr const char* kConnectionVariables[] = {
    "DESFIRED_SERVER",  "DESFIRED_TOKEN",           "DESFIRED_TLS_CA",  "DESFIRED_TLS_CERT",
    "DESFIRED_TLS_KEY", "DESFIRED_TLS_SERVER_NAME", "DESFIRED_TIMEOUT", "DESFIRED_LB_POLICY"};

// `s` as one shell word.
std::string Quote(const std::string& s) {
  return absl::StrCat("'", absl::StrReplaceAll(s, {{"'", "'\\''"}}), "'");
}

}  // namespace

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string TempPath(const std::string& name) {
  std::string dir = ::testing::TempDir();
  if (!absl::EndsWith(dir, "/")) dir += "/";
  return absl::StrCat(dir, "desfired_test_", ::getpid(), "_", name);
}

CliRun RunShell(const std::string& command, const std::string& stdin_text) {
  static std::atomic<int> runs{0};
  const std::string base = TempPath(absl::StrCat("run", ++runs, "_"));
  const std::string in_path = base + "stdin", out_path = base + "stdout",
                    err_path = base + "stderr";
  std::ofstream(in_path, std::ios::binary) << stdin_text;
  const int status =
      std::system(absl::StrCat(command, " <", in_path, " >", out_path, " 2>", err_path).c_str());
  CliRun r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = ReadFile(out_path);
  r.err = ReadFile(err_path);
  for (const std::string& path : {in_path, out_path, err_path}) std::remove(path.c_str());
  return r;
}

CliRun RunDesfirectl(const std::string& desfirectl, const std::string& args,
                     const std::map<std::string, std::string>& env, const std::string& stdin_text) {
  std::string cmd = "env";
  for (const char* name : kConnectionVariables) absl::StrAppend(&cmd, " -u ", name);
  for (const auto& [name, value] : env) absl::StrAppend(&cmd, " ", name, "=", Quote(value));
  absl::StrAppend(&cmd, " ", desfirectl, " ", args);
  return RunShell(cmd, stdin_text);
}

}  // namespace desfired::testing
