#include "client/cli/args.h"

#include <algorithm>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace desfired::cli {

ArgParser::ArgParser(std::string command, std::string summary, std::string positional_help)
    : command_(std::move(command)),
      summary_(std::move(summary)),
      positional_help_(std::move(positional_help)) {}

void ArgParser::Flag(const std::string& name, const std::string& help) {
  order_.push_back(name);
  specs_[name] = Spec{false, "", help, "", 0};
}

void ArgParser::Option(const std::string& name, const std::string& value_name,
                       const std::string& help, const std::string& env) {
  order_.push_back(name);
  specs_[name] = Spec{true, value_name, help, env, 0};
}

void ArgParser::Short(char c, const std::string& name) {
  specs_.at(name).short_name = c;
  shorts_[c] = name;
}

absl::Status ArgParser::Parse(int argc, char** argv) {
  bool options_done = false;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (options_done || arg == "-" || !absl::StartsWith(arg, "-")) {
      positionals_.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    if (arg == "-h" || arg == "--help") {
      help_ = true;
      continue;
    }
    if (arg.size() == 2 && shorts_.count(arg[1])) arg = "--" + shorts_.at(arg[1]);
    if (!absl::StartsWith(arg, "--")) {
      return absl::InvalidArgumentError(absl::StrCat("unknown option '", arg, "'"));
    }
    std::string name = arg.substr(2);
    std::optional<std::string> inline_value;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    // The underscore spelling of a dashed option (--head_file): the old one, still accepted.
    if (!specs_.count(name)) std::replace(name.begin(), name.end(), '_', '-');
    auto it = specs_.find(name);
    if (it == specs_.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown option '--", name, "'"));
    }
    if (!it->second.takes_value) {
      if (inline_value) {
        return absl::InvalidArgumentError(absl::StrCat("option '--", name, "' takes no value"));
      }
      values_[name] = "";
      continue;
    }
    if (inline_value) {
      values_[name] = *inline_value;
    } else if (i + 1 < argc) {
      values_[name] = argv[++i];
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("option '--", name, "' needs a value (", it->second.value_name, ")"));
    }
  }
  for (const auto& [name, spec] : specs_) {
    if (spec.env.empty() || values_.count(name)) continue;
    if (const char* v = std::getenv(spec.env.c_str()); v != nullptr && *v != '\0') {
      values_[name] = v;
    }
  }
  return absl::OkStatus();
}

std::string ArgParser::Usage() const {
  std::string out =
      absl::StrCat("usage: ", command_, " [options]", positional_help_.empty() ? "" : " ",
                   positional_help_, "\n\n", summary_, "\n\noptions:\n");
  for (const std::string& name : order_) {
    const Spec& s = specs_.at(name);
    std::string left = s.short_name != 0
                           ? absl::StrCat("  -", std::string(1, s.short_name), ", --", name)
                           : absl::StrCat("  --", name);
    if (s.takes_value) absl::StrAppend(&left, " ", s.value_name);
    if (left.size() < 28)
      left.resize(28, ' ');
    else
      absl::StrAppend(&left, "\n", std::string(28, ' '));
    absl::StrAppend(&out, left, s.help);
    if (!s.env.empty()) absl::StrAppend(&out, " [env: ", s.env, "]");
    absl::StrAppend(&out, "\n");
  }
  absl::StrAppend(&out, "  -h, --help                show this help\n");
  return out;
}

bool ArgParser::Has(const std::string& name) const { return values_.count(name) > 0; }

std::optional<std::string> ArgParser::Value(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

}  // namespace desfired::cli
