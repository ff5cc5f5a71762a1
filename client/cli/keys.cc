// desfirectl keys list / import: a key file's keys and where each lives (never a value), and
// moving file keys into a PKCS#11 token (docs/key-store.md, "Token keys").
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/cli/commands.h"
#include "client/cli/server_command.h"
#include "core/crypto/random.h"
#include "core/keys/key_store.h"
#include "core/pkcs11/bind.h"
#include "core/pkcs11/import.h"
#include "core/pkcs11/module.h"
#include "core/util/private_file.h"
#include "core/util/status_macros.h"

namespace desfired::cli {
namespace {

constexpr char kKeysHelp[] = "the key file (docs/key-store.md)";

std::optional<int> ParseKeysArgs(ArgParser& args, const std::string& command, int argc, char** argv,
                                 bool positionals_allowed) {
  absl::Status s = args.Parse(argc, argv);
  if (s.ok() && args.help_requested()) {
    std::cout << args.Usage();
    return kExitOk;
  }
  if (s.ok() && (!args.Has("keys") || args.Value("keys")->empty())) {
    s = absl::InvalidArgumentError("--keys FILE is required");
  }
  if (s.ok() && !positionals_allowed && !args.positionals().empty()) {
    s = absl::InvalidArgumentError(
        absl::StrCat("unexpected argument '", args.positionals()[0], "'"));
  }
  if (!s.ok()) return ReportLocalError(command, kExitUsage, s, /*json=*/false);
  return std::nullopt;
}

// Writes `text` to `path` through a temporary file of mode 600 renamed over it.
absl::Status ReplaceFile(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("cannot write ", tmp));
  const bool written =
      write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && fsync(fd) == 0;
  close(fd);
  if (!written || rename(tmp.c_str(), path.c_str()) != 0) {
    unlink(tmp.c_str());
    return absl::UnavailableError(absl::StrCat("cannot replace ", path));
  }
  return absl::OkStatus();
}

int KeysList(int argc, char** argv) {
  const std::string command = "keys list";
  ArgParser args("desfirectl keys list",
                 "List the keys of a key file: name, type, version, where each lives (the file or "
                 "a\nPKCS#11 token, by URI), diversification and grants. Never a key value. With "
                 "--check,\nlog into the tokens and find every token key (errors name the key).",
                 "");
  args.Option("keys", "FILE", kKeysHelp, "DESFIRED_KEYS");
  args.Flag("check", "bind the token keys (load the module, log in, find each object)");
  if (auto done = ParseKeysArgs(args, command, argc, argv, false)) return *done;
  absl::StatusOr<keys::KeyStore> store = keys::KeyStore::LoadFile(*args.Value("keys"));
  if (!store.ok()) return ReportLocalError(command, kExitUsage, store.status(), false);
  std::cout << absl::StrFormat("%-24s %-7s %-7s %-12s %s\n", "NAME", "TYPE", "VERSION", "DIVERSIFY",
                               "WHERE");
  for (const std::unique_ptr<keys::Key>& key : store->keys()) {
    std::cout << absl::StrFormat("%-24s %-7s %-7d %-12s %s\n", key->name,
                                 crypto::KeyTypeName(key->type), key->version,
                                 key->diversify.has_value() ? "an10922" : "-",
                                 key->in_token() ? absl::StrCat("token ", key->token_uri) : "file");
  }
  if (args.Has("check") && store->has_token_keys()) {
    pkcs11::TokenKeyBinder binder;
    if (absl::Status s = binder.Bind(*store); !s.ok()) {
      return ReportLocalError(command, kExitFailed, s, false);
    }
    std::cout << "every token key was found in its token\n";
  }
  return kExitOk;
}

int KeysImport(int argc, char** argv) {
  const std::string command = "keys import";
  ArgParser args(
      "desfirectl keys import",
      "Move file keys into a PKCS#11 token: each is created in the token as a secret key\n"
      "labelled with its name (sensitive, private, not extractable), and the key file is\n"
      "rewritten to name it by URI (pkcs11:...;object=NAME) instead of its value. Without\n"
      "NAMEs, every file key moves. The module and PIN come from the key file's pkcs11 line;\n"
      "--module and --pin-file / --pin-env give what the line leaves out (written into it),\n"
      "or make the line in a file without one.",
      "[NAME...]");
  args.Option("keys", "FILE", kKeysHelp, "DESFIRED_KEYS");
  args.Option("token", "URI", "the token (e.g. pkcs11:token=desfired)");
  args.Option("module", "PATH", "the PKCS#11 module, when the key file names none");
  args.Option("pin-file", "FILE", "a file (mode 600) holding the user PIN");
  args.Option("pin-env", "NAME", "an environment variable holding the user PIN");
  if (auto done = ParseKeysArgs(args, command, argc, argv, true)) return *done;
  const std::string path = *args.Value("keys");
  if (!args.Has("token")) {
    return ReportLocalError(command, kExitUsage, absl::InvalidArgumentError("--token is required"),
                            false);
  }
  absl::StatusOr<pkcs11::TokenUri> uri = pkcs11::TokenUri::ParseToken(*args.Value("token"));
  if (!uri.ok()) return ReportLocalError(command, kExitUsage, uri.status(), false);
  absl::StatusOr<std::string> text = ReadSmallFile(path, {.what = "key file"});
  if (!text.ok()) return ReportLocalError(command, kExitUsage, text.status(), false);
  absl::StatusOr<keys::KeyStore> store = keys::KeyStore::Parse(*text, path);
  if (!store.ok()) return ReportLocalError(command, kExitUsage, store.status(), false);
  // --module, --pin-file and --pin-env fill what the file's pkcs11 line leaves out (or make
  // the line when the file has none); the file keeps one pkcs11 line.
  keys::TokenSettings settings = store->token_settings();
  bool settings_changed = false;
  if (settings.module.empty() && args.Has("module")) {
    settings.module = *args.Value("module");
    settings_changed = true;
  }
  if (settings.pin_file.empty() && settings.pin_env.empty() &&
      (args.Has("pin-file") || args.Has("pin-env"))) {
    settings.pin_file = args.Value("pin-file").value_or("");
    settings.pin_env = args.Value("pin-env").value_or("");
    settings_changed = true;
  }
  absl::StatusOr<pkcs11::ImportedKeyFile> moved = [&]() -> absl::StatusOr<pkcs11::ImportedKeyFile> {
    DESFIRED_ASSIGN_OR_RETURN(pkcs11::TokenPlace place, pkcs11::PlaceOf(settings, *uri));
    DESFIRED_ASSIGN_OR_RETURN(std::shared_ptr<pkcs11::Module> module,
                              pkcs11::Module::Load(place.module_path));
    DESFIRED_ASSIGN_OR_RETURN(keys::SecretBytes pin, pkcs11::ReadPin(place.pin_source));
    DESFIRED_ASSIGN_OR_RETURN(std::shared_ptr<pkcs11::Token> token,
                              pkcs11::Token::Open(std::move(module), *uri, std::move(pin)));
    return pkcs11::ImportKeyFile(*text, path, *token, uri->token_part(), args.positionals(),
                                 settings_changed ? &settings : nullptr);
  }();
  crypto::SecureWipe(MutableByteSpan(reinterpret_cast<uint8_t*>(text->data()), text->size()));
  if (!moved.ok()) return ReportLocalError(command, kExitFailed, moved.status(), false);
  if (absl::Status s = ReplaceFile(path, moved->text); !s.ok()) {
    return ReportLocalError(command, kExitFailed, s, false);
  }
  const std::vector<std::string>& names = moved->moved;
  std::cout << "keys in " << uri->token_part() << ": " << absl::StrJoin(names, ", ") << "\n"
            << path << " now names them by URI\n";
  return kExitOk;
}

}  // namespace

int Keys(int argc, char** argv) {
  const absl::string_view sub = argc >= 1 ? absl::string_view(argv[0]) : "";
  if (sub == "list") return KeysList(argc - 1, argv + 1);
  if (sub == "import") return KeysImport(argc - 1, argv + 1);
  if (sub == "--help" || sub == "-h") {
    std::cout << "usage: desfirectl keys list|import [options] (--help for each)\n";
    return kExitOk;
  }
  return ReportLocalError("keys", kExitUsage,
                          absl::InvalidArgumentError("expected a subcommand: list or import"),
                          false);
}

}  // namespace desfired::cli
