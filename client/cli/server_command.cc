#include "client/cli/server_command.h"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "client/cli/commands.h"
#include "client/cli/json_output.h"
#include "core/apdu/error_metadata.h"
#include "core/apdu/status_payload.h"
#include "core/util/json_escape.h"
#include "google/protobuf/timestamp.pb.h"

namespace desfired::cli {
namespace {

// The metadata keys of errors.proto (core/apdu/error_metadata.h), in the order they are
// printed.
constexpr absl::string_view kMetadataKeys[] = {
    apdu::kMetadataReader,        apdu::kMetadataExpectedUid, apdu::kMetadataUid,
    apdu::kMetadataKeyName,       apdu::kMetadataKeyUse,      apdu::kMetadataField,
    apdu::kMetadataDesfireStatus, apdu::kMetadataStatusWord,  apdu::kMetadataCommitState,
    apdu::kMetadataRole,          apdu::kMetadataRequired};

struct Hint {
  absl::string_view reason;
  absl::string_view text;
};

// What to do, by reason (proto/desfired/v1/errors.proto).
constexpr Hint kHints[] = {
    {"CARD_REMOVED",
     "put the card back and retry; for a change (debit, credit, write ...) the line below "
     "says whether it was committed"},
    {"CARD_MISMATCH",
     "another card is on the reader: present the card with the expected UID, or drop "
     "--expected-uid"},
    {"NO_CARD", "present a card on the reader, then retry"},
    {"READER_NOT_FOUND",
     "list the readers with 'desfirectl readers'; the name must match exactly (quote it)"},
    {"READER_BUSY", "another program holds the reader exclusively; retry later"},
    {"PCSC_UNAVAILABLE",
     "the server cannot reach pcscd; it reconnects by itself: retry in a few seconds"},
    {"AUTHENTICATION_FAILED",
     "the card rejected the key: the key named by --key in the server's key store does not "
     "match key --key-no on the card"},
    {"NOT_AUTHENTICATED", "this needs a key: add --key NAME --key-no N"},
    {"PERMISSION_DENIED",
     "the key used has no right to do this: use a key with the needed access (--key, "
     "--key-no), see 'desfirectl files'"},
    {"KEY_NOT_FOUND",
     "the server's key store has no usable key of that name: check --key (a key name, never "
     "key bytes)"},
    {"NO_SUCH_KEY", "the application has no key with that number: check --key-no"},
    {"INTEGRITY_ERROR",
     "a MAC or CRC check failed; retrying starts a new session. If it persists, check the "
     "key and the reader"},
    {"CARD_INTEGRITY_ERROR",
     "the card reports damaged memory; the application or card may be disabled"},
    {"PROTOCOL_ERROR", "the card or reader answered out of protocol; retrying will not help"},
    {"CARD_DISABLED", "the card was disabled by an unrecoverable error"},
    {"INSUFFICIENT_VALUE", "the value is too low for this debit: credit first or debit less"},
    {"BOUNDARY_ERROR",
     "the offset, length, record count or value is beyond the file's limits: see "
     "'desfirectl files'"},
    {"COMMAND_ABORTED", "the card dropped the command or its transaction: start again"},
    {"WRONG_FILE_TYPE", "this command does not work on that file's type: see 'desfirectl files'"},
    {"APPLICATION_NOT_FOUND", "no application with that AID: list them with 'desfirectl apps'"},
    {"FILE_NOT_FOUND", "no such file: list them with 'desfirectl files'"},
    {"DUPLICATE", "it exists already"},
    {"OUT_OF_EEPROM", "the card is full: delete an application or file first"},
    {"COUNT_ERROR", "no more applications or files fit: delete one first"},
    {"LENGTH_ERROR", "the card found the length invalid: check the values"},
    {"PARAMETER_ERROR", "the card refused a parameter (e.g. a setting it does not support)"},
    {"ILLEGAL_COMMAND",
     "the card does not support this command (e.g. an EV2 command on an EV1 card)"},
    {"CONDITIONS_NOT_SATISFIED", "the card's state does not allow this command"},
    {"QUEUE_FULL", "too many calls wait for this reader: retry with back-off"},
    {"SHUTTING_DOWN", "the server is shutting down: retry against a running server"},
    {"SLOW_CONSUMER",
     "the watch fell behind: run watch again with --resume-after <last sequence number>"},
    {"HISTORY_EXPIRED", "the server no longer has those events: run watch without --resume-after"},
    {"DEADLINE_EXCEEDED",
     "the call did not finish in time: retry, or give more time with --timeout"},
    {"UNAUTHENTICATED",
     "the server did not accept the credentials: check --token (DESFIRED_TOKEN) and the TLS "
     "client certificate"},
    {"TOKEN_MISSING",
     "the server needs a bearer token: give --token (or DESFIRED_TOKEN), or a client "
     "certificate it knows"},
    {"TOKEN_INVALID",
     "the server does not know this token: check --token (or DESFIRED_TOKEN); an --token on "
     "the command line wins over DESFIRED_TOKEN"},
    {"ROLE_DENIED",
     "the token's role may not make this call (viewer < operator < admin): use a token with "
     "the role shown as 'required'"},
    {"KEY_ROLE_DENIED",
     "the server's key store does not let this token's role use the key this way (roles=, "
     "use= in docs/key-store.md): use another key, or a token the key store grants it to"},
    {"TOO_MANY_STREAMS",
     "this caller has as many watch / taps streams open as the server allows: close one, or "
     "retry later"},
};

}  // namespace

std::string ReasonHint(absl::string_view reason, const absl::Status& status) {
  std::string hint;
  for (const Hint& h : kHints) {
    if (h.reason == reason) hint = std::string(h.text);
  }
  if (reason == "INVALID_ARGUMENT") {
    if (auto field = client::GetErrorMetadata(status, apdu::kMetadataField)) {
      hint = absl::StrCat("the server rejected the request field '", *field,
                          "': check the option that sets it");
    }
  }
  std::optional<std::string> commit = client::GetErrorMetadata(status, apdu::kMetadataCommitState);
  if (commit == "NOT_COMMITTED") {
    absl::StrAppend(&hint, hint.empty() ? "" : "\n  ",
                    "nothing was committed on the card: the change did not happen");
  } else if (commit == "UNKNOWN") {
    absl::StrAppend(&hint, hint.empty() ? "" : "\n  ",
                    "the change may or may not have happened: read the file back (e.g. "
                    "'desfirectl value') before retrying");
  }
  return hint;
}

namespace {

constexpr absl::string_view kUnreachableHint =
    "check that desfired runs and --server (DESFIRED_SERVER) points at it; with TLS check "
    "--tls-ca / --tls-cert / --tls-key";

// `value` as a JSON string, or null when absent.
std::string JsonOrNull(const std::optional<std::string>& value) {
  return value ? JsonQuote(*value) : "null";
}

// The error ErrorInfo.metadata of `status`, as a JSON object sorted by key.
std::string MetadataJson(const absl::Status& status) {
  std::map<std::string, std::string> metadata;
  status.ForEachPayload([&metadata](absl::string_view url, const absl::Cord& value) {
    if (absl::ConsumePrefix(&url, apdu::kMetadataTypeUrlPrefix)) {
      metadata[std::string(url)] = std::string(value);
    }
  });
  std::string out = "{";
  for (const auto& [key, value] : metadata) {
    if (out.size() > 1) out += ",";
    absl::StrAppend(&out, JsonQuote(key), ":", JsonQuote(value));
  }
  return out + "}";
}

}  // namespace

std::string ErrorJson(absl::string_view command, int exit_code, const absl::Status& status,
                      absl::string_view request_id, absl::string_view hint) {
  return absl::StrCat(
      "{\"command\":", JsonQuote(command), ",\"exitCode\":", exit_code,
      ",\"code\":", JsonQuote(absl::StatusCodeToString(status.code())),
      ",\"reason\":", JsonOrNull(apdu::GetReason(status)),
      ",\"message\":", JsonQuote(status.message()), ",\"metadata\":", MetadataJson(status),
      ",\"requestId\":",
      JsonOrNull(request_id.empty() ? std::nullopt : std::optional<std::string>(request_id)),
      ",\"commitState\":", JsonOrNull(client::GetErrorMetadata(status, apdu::kMetadataCommitState)),
      ",\"hint\":", JsonOrNull(hint.empty() ? std::nullopt : std::optional<std::string>(hint)),
      "}");
}

int ReportLocalError(absl::string_view command, int exit_code, const absl::Status& status,
                     bool json) {
  const std::string name = absl::StrCat("desfirectl ", command);
  const std::string hint =
      exit_code == kExitUsage ? absl::StrCat("run '", name, " --help' for usage") : "";
  if (json) {
    std::cerr << ErrorJson(name, exit_code, status, "", hint) << "\n";
  } else {
    std::cerr << name << ": " << status.message() << "\n";
    if (!hint.empty()) std::cerr << hint << "\n";
  }
  return exit_code;
}

int ReportCallError(absl::string_view command, const absl::Status& status,
                    absl::string_view request_id, bool json) {
  const bool unreachable = client::IsTransportError(status);
  const int exit_code = unreachable ? kExitUnreachable : kExitFailed;
  const std::string reason =
      apdu::GetReason(status).value_or(absl::StatusCodeToString(status.code()));
  const std::string hint = unreachable ? std::string(kUnreachableHint) : ReasonHint(reason, status);
  if (json) {
    std::cerr << ErrorJson(absl::StrCat("desfirectl ", command), exit_code, status, request_id,
                           hint)
              << "\n";
    return exit_code;
  }
  std::string out = absl::StrCat("desfirectl ", command, ": ");
  if (unreachable) {
    absl::StrAppend(&out, "no answer from desfired (", absl::StatusCodeToString(status.code()),
                    "): ", status.message(), "\n", "  what to do: ", hint, "\n");
    if (!request_id.empty()) {
      absl::StrAppend(&out, "  request id: ", request_id, " (retry with --request-id ", request_id,
                      ")\n");
    }
    std::cerr << out;
    return exit_code;
  }
  absl::StrAppend(&out, reason, " (", absl::StatusCodeToString(status.code()),
                  "): ", status.message(), "\n");
  for (absl::string_view key : kMetadataKeys) {
    if (std::optional<std::string> v = client::GetErrorMetadata(status, key)) {
      absl::StrAppend(&out, "  ", key, ": ", *v, "\n");
    }
  }
  if (!request_id.empty()) {
    absl::StrAppend(&out, "  request id: ", request_id, "\n");
  }
  if (!hint.empty()) {
    absl::StrAppend(&out, "  what to do: ", hint, "\n");
  }
  std::cerr << out;
  return exit_code;
}

void AddConnectionOptions(ArgParser& args, bool server_env) {
  args.Option("server", "HOST:PORT", "desfired address (default 127.0.0.1:50051)",
              server_env ? "DESFIRED_SERVER" : "");
  args.Option("lb-policy", "POLICY",
              "pick_first (default) or round_robin: calls spread over every address --server "
              "names (dns:///NAME:PORT, ipv4:A:P,B:P)",
              "DESFIRED_LB_POLICY");
  args.Option("token", "TOKEN", "bearer token sent as 'authorization: Bearer TOKEN'",
              "DESFIRED_TOKEN");
  args.Option("tls-ca", "FILE", "PEM roots to trust; turns TLS on", "DESFIRED_TLS_CA");
  args.Option("tls-cert", "FILE", "PEM client certificate (mutual TLS; with --tls-key)",
              "DESFIRED_TLS_CERT");
  args.Option("tls-key", "FILE", "PEM client key (with --tls-cert)", "DESFIRED_TLS_KEY");
  args.Option("tls-server-name", "NAME", "name to check in the server certificate",
              "DESFIRED_TLS_SERVER_NAME");
  args.Option("timeout", "DURATION", "deadline of each call, e.g. 10s or 500ms (default 30s)",
              "DESFIRED_TIMEOUT");
  args.Option("retries", "N",
              absl::StrCat("retries of a change on UNAVAILABLE, same request id (default ",
                           client::kDefaultMutationRetries, ")"));
}

absl::StatusOr<client::ClientOptions> ConnectionOptions(const ArgParser& args) {
  client::ClientOptions options;
  if (auto v = args.Value("server")) options.server = *v;
  if (options.server.empty()) return absl::InvalidArgumentError("--server is empty");
  if (auto v = args.Value("token")) options.token = *v;
  if (auto v = args.Value("lb-policy")) options.lb_policy = *v;
  if (auto v = args.Value("tls-ca")) options.tls_ca_file = *v;
  if (auto v = args.Value("tls-cert")) options.tls_cert_file = *v;
  if (auto v = args.Value("tls-key")) options.tls_key_file = *v;
  if (auto v = args.Value("tls-server-name")) options.tls_server_name = *v;
  if (auto v = args.Value("timeout")) {
    absl::Duration d;
    if (!absl::ParseDuration(*v, &d) || d <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--timeout must be a positive duration such as 10s, got '", *v, "'"));
    }
    options.deadline = d;
  }
  if (auto v = args.Value("retries")) {
    int n = 0;
    if (!absl::SimpleAtoi(*v, &n) || n < 0 || n > 100) {
      return absl::InvalidArgumentError(
          absl::StrCat("--retries must be a number from 0 to 100, got '", *v, "'"));
    }
    options.mutation_retries = n;
  }
  return options;
}

// --- ServerCommand --------------------------------------------------------------------------

ServerCommand::ServerCommand(std::string name, std::string summary, std::string positional_help)
    : name_(std::move(name)),
      args_(absl::StrCat("desfirectl ", name_), std::move(summary), std::move(positional_help)) {}

void ServerCommand::AddTarget() {
  args_.Option("reader", "NAME", "reader name, exactly as 'desfirectl readers' lists it");
  args_.Option("expected-uid", "HEX", "act only if the card has this UID (hex)");
}

void ServerCommand::AddKey(absl::string_view what) {
  args_.Option("key", "NAME", absl::StrCat("key name in the server's key store: ", what));
  args_.Option("key-no", "N", "key number on the card (0..13, default 0)");
  args_.Option("scheme", "SCHEME",
               "authentication: legacy, iso, aes, ev2 or lrp (default: by key)");
}

void ServerCommand::AddAid(absl::string_view help) {
  args_.Option("aid", "HEX", std::string(help));
}

void ServerCommand::AddFile(absl::string_view help) {
  args_.Option("file", "N", std::string(help));
}

void ServerCommand::AddFileOptions(absl::string_view key_help, absl::string_view file_help) {
  AddTarget();
  AddAid();
  AddFile(file_help);
  AddKey(key_help);
}

void ServerCommand::AddRequestId() {
  has_request_id_ = true;
  args_.Option("request-id", "ID",
               "idempotency key; retrying with the same one never applies the change twice "
               "(default: a new random id, printed)");
}

void ServerCommand::AddDeferCommit() {
  args_.Flag("defer-commit",
             "leave the card's transaction open: the change takes effect with 'desfirectl "
             "commit' (same reader, --aid and --key), 'desfirectl abort' discards it");
}

std::optional<int> ServerCommand::Parse(int argc, char** argv) {
  // Added last so that --help lists the command's own options first.
  args_.Flag("json",
             "print JSON (one object per line; bytes and AIDs in hex) instead of a table, and "
             "a failure as one JSON object on stderr");
  AddConnectionOptions(args_, /*server_env=*/true);
  if (absl::Status s = args_.Parse(argc, argv); !s.ok()) return UsageError(s.message());
  if (args_.help_requested()) {
    std::cout << args_.Usage();
    return kExitOk;
  }
  if (!args_.positionals().empty()) {
    return UsageError(absl::StrCat("unexpected argument '", args_.positionals()[0], "'"));
  }
  if (auto v = args_.Value("timeout")) {
    absl::Duration d;
    if (absl::ParseDuration(*v, &d)) explicit_timeout_ = d;
  }
  if (has_request_id_) {
    request_id_ = args_.Value("request-id").value_or("");
    if (request_id_.empty()) request_id_ = client::NewRequestId();
  }
  return std::nullopt;
}

absl::Status ServerCommand::Target(v1::CardTarget* target) const {
  std::optional<std::string> reader = args_.Value("reader");
  if (!reader || reader->empty()) {
    return absl::InvalidArgumentError(
        "--reader is required (the names are listed by 'desfirectl readers')");
  }
  target->set_reader(*reader);
  absl::StatusOr<Bytes> uid = HexBytes("expected-uid");
  if (!uid.ok()) return uid.status();
  if (!uid->empty() && uid->size() != 4 && uid->size() != 7 && uid->size() != 10) {
    return absl::InvalidArgumentError("--expected-uid must be 4, 7 or 10 bytes of hex");
  }
  target->set_expected_uid(AsString(*uid));
  return absl::OkStatus();
}

absl::StatusOr<bool> ServerCommand::Key(v1::KeyRef* key) const {
  std::optional<std::string> name = args_.Value("key");
  if (!name) {
    if (args_.Has("key-no") || args_.Has("scheme")) {
      return absl::InvalidArgumentError("--key-no and --scheme need --key NAME");
    }
    return false;
  }
  key->set_key_name(*name);
  absl::StatusOr<int64_t> number = Int("key-no", 0, 13, 0);
  if (!number.ok()) return number.status();
  key->set_key_number(static_cast<uint32_t>(*number));
  if (std::optional<std::string> scheme = args_.Value("scheme")) {
    const std::string s = absl::AsciiStrToLower(*scheme);
    if (s == "legacy") {
      key->set_scheme(v1::AUTH_SCHEME_LEGACY);
    } else if (s == "iso") {
      key->set_scheme(v1::AUTH_SCHEME_ISO);
    } else if (s == "aes") {
      key->set_scheme(v1::AUTH_SCHEME_AES);
    } else if (s == "ev2") {
      key->set_scheme(v1::AUTH_SCHEME_EV2);
    } else if (s == "lrp") {
      key->set_scheme(v1::AUTH_SCHEME_LRP);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("--scheme must be legacy, iso, aes, ev2 or lrp, got '", *scheme, "'"));
    }
  }
  return true;
}

absl::StatusOr<uint32_t> ServerCommand::Aid(bool allow_card_level) const {
  std::optional<std::string> v = args_.Value("aid");
  if (!v) {
    if (allow_card_level) return 0u;
    return absl::InvalidArgumentError("--aid is required (hex, e.g. F51001)");
  }
  absl::string_view text = *v;
  if (!absl::ConsumePrefix(&text, "0x")) absl::ConsumePrefix(&text, "0X");
  uint32_t aid = 0;
  if (text.empty() || text.size() > 6 || !absl::SimpleHexAtoi(text, &aid) ||
      text.find_first_of("+- ") != absl::string_view::npos || (aid == 0 && !allow_card_level)) {
    return absl::InvalidArgumentError(absl::StrCat("--aid must be 1 to 6 hex digits",
                                                   allow_card_level ? "" : " and not 0",
                                                   " (e.g. F51001), got '", *v, "'"));
  }
  return aid;
}

absl::StatusOr<uint32_t> ServerCommand::FileNo() const {
  absl::StatusOr<int64_t> n = Int("file", 0, 31);
  if (!n.ok()) return n.status();
  return static_cast<uint32_t>(*n);
}

absl::StatusOr<int64_t> ServerCommand::Int(const std::string& option, int64_t lo, int64_t hi,
                                           std::optional<int64_t> fallback) const {
  std::optional<std::string> v = args_.Value(option);
  if (!v) {
    if (fallback) return *fallback;
    return absl::InvalidArgumentError(absl::StrCat("--", option, " is required"));
  }
  int64_t n = 0;
  if (!absl::SimpleAtoi(*v, &n) || n < lo || n > hi) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", option, " must be a number from ", lo, " to ", hi, ", got '", *v, "'"));
  }
  return n;
}

absl::StatusOr<Bytes> ServerCommand::HexBytes(const std::string& option) const {
  std::optional<std::string> v = args_.Value(option);
  if (!v) return Bytes{};
  absl::string_view text = *v;
  if (!absl::ConsumePrefix(&text, "0x")) absl::ConsumePrefix(&text, "0X");
  absl::StatusOr<Bytes> bytes = HexDecode(text);
  if (!bytes.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", option, " is not hex: ", bytes.status().message()));
  }
  return bytes;
}

absl::StatusOr<std::unique_ptr<client::Client>> ServerCommand::Connect() const {
  absl::StatusOr<client::ClientOptions> options = ConnectionOptions(args_);
  if (!options.ok()) return options.status();
  return client::Client::Create(*std::move(options));
}

int ServerCommand::UsageError(absl::string_view message) const {
  return ReportLocalError(name_, kExitUsage, absl::InvalidArgumentError(message), json());
}

int ServerCommand::Failed(const absl::Status& status) const {
  return ReportCallError(name_, status, request_id_, json());
}

void ServerCommand::PrintJson(const google::protobuf::Message& message) const {
  std::cout << CliJson(message) << "\n";
}

std::string ServerCommand::CommittedText(bool committed) {
  return committed ? " (committed)"
                   : " (not committed: 'desfirectl commit' commits it, 'desfirectl abort' "
                     "discards it)";
}

void ServerCommand::PrintChangeOutcome(absl::string_view what, bool replayed) const {
  std::cout << what << (replayed ? " (replayed: an earlier call with this request id did it)" : "")
            << "\nrequest id: " << request_id_ << "\n";
}

// --- Output helpers ---------------------------------------------------------------------------

void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size(), 0);
  auto measure = [&width](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size() && i < width.size(); ++i) {
      width[i] = std::max(width[i], row[i].size());
    }
  };
  measure(header);
  for (const auto& row : rows) measure(row);
  auto print = [&width](const std::vector<std::string>& row) {
    std::string line;
    for (size_t i = 0; i < row.size() && i < width.size(); ++i) {
      absl::StrAppend(&line, row[i]);
      if (i + 1 < row.size()) line.append(width[i] - row[i].size() + 2, ' ');
    }
    std::cout << line << "\n";
  };
  print(header);
  for (const auto& row : rows) print(row);
}

std::string HexOrDash(const std::string& bytes) {
  if (bytes.empty()) return "-";
  return HexEncode(AsBytes(bytes));
}

std::string AidText(uint32_t aid) { return absl::StrFormat("%06X", aid); }

std::string TimeText(const google::protobuf::Timestamp& time, bool has) {
  if (!has) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(time.seconds()),
                          absl::UTCTimeZone());
}

}  // namespace desfired::cli
