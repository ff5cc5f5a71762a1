#include "server/flag_spelling.h"

#include <algorithm>

#include "absl/flags/reflection.h"
#include "absl/strings/string_view.h"

namespace desfired::server {
namespace {

// `arg` with its flag name in abseil's spelling, or unchanged.
std::string Rewrite(const std::string& arg) {
  const size_t dashes = arg.rfind("--", 0) == 0 ? 2 : 1;
  const size_t equals = arg.find('=');
  std::string name = arg.substr(dashes, equals == std::string::npos ? equals : equals - dashes);
  if (name.find('-') == std::string::npos) return arg;
  std::replace(name.begin(), name.end(), '-', '_');
  // A boolean's negation: --no-allow-core-dumps → --noallow_core_dumps.
  const bool negated = name.rfind("no_", 0) == 0 && absl::FindCommandLineFlag(name) == nullptr;
  const std::string known = negated ? name.substr(3) : name;
  if (absl::FindCommandLineFlag(known) == nullptr) return arg;
  std::string out(dashes, '-');
  out += negated ? "no" + known : known;
  if (equals != std::string::npos) out += arg.substr(equals);
  return out;
}

}  // namespace

std::vector<std::string> DashesToUnderscores(int argc, char** argv) {
  std::vector<std::string> args;
  bool options = true;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") options = false;
    const bool flag = options && i > 0 && arg.size() > 1 && arg[0] == '-' && arg != "--";
    args.push_back(flag ? Rewrite(arg) : std::move(arg));
  }
  return args;
}

std::vector<char*> ArgvOf(std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  return argv;
}

std::string DashSpelling(const std::string& name) {
  std::string out = name;
  std::replace(out.begin(), out.end(), '_', '-');
  return out;
}

}  // namespace desfired::server
