// A small command-line option parser for desfirectl's subcommands.
//
//   ArgParser p("desfirectl taps parse", "Parse tap records.", "FILE|-");
//   p.Flag("json", "print JSON lines");
//   p.Option("keys", "FILE", "key store file");
//   absl::Status s = p.Parse(argc, argv);   // argv after the subcommand words
//   if (p.Has("json")) ...; p.Value("keys"); p.positionals();
//
// Accepts --name, --name=value and --name value (and -c value for a short name); "-" is a
// positional (stdin), "--" ends options. Names are spelled with dashes (--head-file); the
// underscore spelling (--head_file) is accepted as the old one. Thread-compatible.
#ifndef DESFIRED_CLIENT_CLI_ARGS_H_
#define DESFIRED_CLIENT_CLI_ARGS_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace desfired::cli {

class ArgParser {
 public:
  ArgParser(std::string command, std::string summary, std::string positional_help);

  // A boolean flag.
  void Flag(const std::string& name, const std::string& help);
  // An option with a value; `env` names an environment variable that supplies a default.
  void Option(const std::string& name, const std::string& value_name, const std::string& help,
              const std::string& env = "");
  // `-c` as a short name of the flag or option `name` (declared before).
  void Short(char c, const std::string& name);

  // INVALID_ARGUMENT naming the unknown option or the missing value.
  absl::Status Parse(int argc, char** argv);

  bool help_requested() const { return help_; }
  std::string Usage() const;

  bool Has(const std::string& name) const;
  std::optional<std::string> Value(const std::string& name) const;
  const std::vector<std::string>& positionals() const { return positionals_; }

 private:
  struct Spec {
    bool takes_value = false;
    std::string value_name;
    std::string help;
    std::string env;
    char short_name = 0;
  };
  std::string command_;
  std::string summary_;
  std::string positional_help_;
  std::vector<std::string> order_;
  std::map<std::string, Spec> specs_;
  std::map<char, std::string> shorts_;
  std::map<std::string, std::string> values_;
  std::vector<std::string> positionals_;
  bool help_ = false;
};

}  // namespace desfired::cli

#endif  // DESFIRED_CLIENT_CLI_ARGS_H_
