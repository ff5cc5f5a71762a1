// What the C++ examples share: "--name value" options (with environment defaults), the
// connection to desfired, the reader to use, and printing an error with its reason.
// Example code: small on purpose; see docs/clients.md.
#ifndef DESFIRED_EXAMPLES_CPP_COMMON_H_
#define DESFIRED_EXAMPLES_CPP_COMMON_H_

#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "client/desfired_client.h"
#include "core/apdu/status_payload.h"

namespace examples {

// "--name value" pairs; "--help" is kept as name "help".
class Args {
 public:
  // Returns nullopt (after printing why) for an argument that is not "--name value".
  static std::optional<Args> Parse(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
      std::string name = argv[i];
      if (name == "--help" || name == "-h") {
        a.values_["help"] = "";
        continue;
      }
      if (name.rfind("--", 0) != 0 || i + 1 >= argc) {
        std::cerr << argv[0] << ": expected --name value, got '" << name << "'\n";
        return std::nullopt;
      }
      a.values_[name.substr(2)] = argv[++i];
    }
    return a;
  }
  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  // The option, else the environment variable `env` (when given and set), else `fallback`.
  std::string Get(const std::string& name, const std::string& fallback = "",
                  const char* env = nullptr) const {
    if (auto it = values_.find(name); it != values_.end()) return it->second;
    if (env != nullptr && std::getenv(env) != nullptr) return std::getenv(env);
    return fallback;
  }
  // A number option; exits with code 2 when it is not one.
  double Number(const std::string& name, double fallback) const {
    return Parsed(name, fallback, "a number",
                  [](absl::string_view text, double* v) { return absl::SimpleAtod(text, v); });
  }
  // A hex option (an AID); exits with code 2 when it is not hex.
  uint32_t Hex(const std::string& name, uint32_t fallback) const {
    return Parsed(name, fallback, "hex",
                  [](absl::string_view text, uint32_t* v) { return absl::SimpleHexAtoi(text, v); });
  }

 private:
  // The option read by `parse`, `fallback` when absent; exits with code 2 when `parse` fails
  // (the message says the option takes `what`).
  template <typename T, typename Parse>
  T Parsed(const std::string& name, T fallback, const char* what, Parse parse) const {
    if (!Has(name)) return fallback;
    T v{};
    if (!parse(values_.at(name), &v)) {
      std::cerr << "--" << name << " takes " << what << ", got '" << values_.at(name) << "'\n";
      std::exit(2);
    }
    return v;
  }

  std::map<std::string, std::string> values_;
};

// The options Connect reads, for the usage lines of --help.
inline std::string ConnectionUsage() {
  return absl::StrCat(
      "  --server HOST:PORT  desfired (default $DESFIRED_SERVER, else 127.0.0.1:50051)\n"
      "  --token TOKEN       bearer token (default $DESFIRED_TOKEN)\n"
      "  --tls-ca FILE       PEM roots to trust; turns TLS on (default $DESFIRED_TLS_CA)\n"
      "  --retries N         retries of a change on UNAVAILABLE, same request id (default ",
      desfired::client::kDefaultMutationRetries, ")\n");
}

// A client of --server (default $DESFIRED_SERVER, else 127.0.0.1:50051) with --token
// (default $DESFIRED_TOKEN), --tls-ca (default $DESFIRED_TLS_CA) and --retries (default
// client::kDefaultMutationRetries).
inline absl::StatusOr<std::unique_ptr<desfired::client::Client>> Connect(const Args& args) {
  desfired::client::ClientOptions options;
  options.server = args.Get("server", "127.0.0.1:50051", "DESFIRED_SERVER");
  options.token = args.Get("token", "", "DESFIRED_TOKEN");
  options.tls_ca_file = args.Get("tls-ca", "", "DESFIRED_TLS_CA");
  options.mutation_retries =
      static_cast<int>(args.Number("retries", desfired::client::kDefaultMutationRetries));
  options.deadline = absl::Seconds(10);
  return desfired::client::Client::Create(options);
}

// --reader (default $DESFIRED_READER), else the first reader with a card, else the first.
inline absl::StatusOr<std::string> PickReader(desfired::client::Client& client, const Args& args) {
  std::string reader = args.Get("reader", "", "DESFIRED_READER");
  if (!reader.empty()) return reader;
  absl::StatusOr<desfired::v1::ListReadersResponse> readers = client.ListReaders();
  if (!readers.ok()) return readers.status();
  for (const auto& r : readers->readers()) {
    if (r.card_present()) return r.name();
  }
  if (readers->readers().empty()) return absl::NotFoundError("desfired has no readers");
  return readers->readers(0).name();
}

// "CARD_REMOVED" etc., or "no answer from desfired" when the server did not answer.
inline std::string Reason(const absl::Status& status) {
  return desfired::apdu::GetReason(status).value_or("no answer from desfired");
}

inline int Fail(const std::string& what, const absl::Status& status) {
  std::cerr << what << ": " << Reason(status) << " (" << absl::StatusCodeToString(status.code())
            << "): " << status.message() << "\n";
  return 1;
}

}  // namespace examples

#endif  // DESFIRED_EXAMPLES_CPP_COMMON_H_
