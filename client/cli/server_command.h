// ServerCommand: what every desfirectl subcommand that talks to desfired shares — the
// connection options (--server, --token, --tls-*, --timeout, --retries), --json, the card
// options (--reader, --expected-uid, --key, --key-no, --scheme, --request-id), parsing of
// their values, and the reporting of errors with the exit codes of commands.h.
//
//   ServerCommand cmd("value", "Print the value of a value file.");
//   cmd.AddTarget();
//   cmd.AddKey("a key with read access");
//   if (std::optional<int> done = cmd.Parse(argc, argv)) return *done;   // --help, bad usage
//   v1::GetValueRequest req;
//   if (absl::Status s = cmd.Target(req.mutable_target()); !s.ok()) return cmd.UsageError(s);
//   ...
//   return cmd.Call(req, &client::Client::GetValue, [](const v1::GetValueResponse& resp) {
//     std::cout << "value: " << resp.value() << "\n";
//     return kExitOk;
//   });
//
// Option values are checked here and come back as INVALID_ARGUMENT naming the option; a
// command passes them to UsageError (exit code 2).
//
// Thread-compatible.
#ifndef DESFIRED_CLIENT_CLI_SERVER_COMMAND_H_
#define DESFIRED_CLIENT_CLI_SERVER_COMMAND_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/cli/args.h"
#include "client/cli/commands.h"
#include "client/desfired_client.h"
#include "core/util/bytes.h"
#include "desfired/v1/card.pb.h"

namespace google::protobuf {
class Message;
class Timestamp;
}  // namespace google::protobuf

namespace desfired::cli {

// Adds --server, --token, --tls-ca, --tls-cert, --tls-key, --tls-server-name, --timeout and
// --retries to `args`. `server_env`: --server defaults to $DESFIRED_SERVER.
void AddConnectionOptions(ArgParser& args, bool server_env);
// ClientOptions from those options; INVALID_ARGUMENT naming a bad value.
absl::StatusOr<client::ClientOptions> ConnectionOptions(const ArgParser& args);

// Prints a failed call's error to stderr: reason, code and message, its metadata, and what to
// do; `request_id` (may be empty) is shown for a change. With `json`, the error is one line
// of ErrorJson instead. Returns kExitUnreachable for client::IsTransportError, else
// kExitFailed.
int ReportCallError(absl::string_view command, const absl::Status& status,
                    absl::string_view request_id = "", bool json = false);

// A failure of a command that calls no server (`taps parse` without --server, `ledger
// verify`): "desfirectl COMMAND: message" on stderr, followed for kExitUsage by a pointer to
// --help; with `json`, one line of ErrorJson instead (no reason, no request id). Returns
// `exit_code`.
int ReportLocalError(absl::string_view command, int exit_code, const absl::Status& status,
                     bool json);

// A failure as one JSON object (docs/cli.md, "Errors"): "command" ("desfirectl debit"),
// "exitCode", "code" (the gRPC code name), "reason" (ErrorInfo.reason, null when the server
// gave none), "message", "metadata" (every ErrorInfo.metadata entry), "requestId",
// "commitState" (metadata commit_state) and "hint" (what to do); absent values are null.
std::string ErrorJson(absl::string_view command, int exit_code, const absl::Status& status,
                      absl::string_view request_id, absl::string_view hint);

// What to do about an error with `reason` (empty when there is nothing to add).
std::string ReasonHint(absl::string_view reason, const absl::Status& status);

class ServerCommand {
 public:
  // `name` is the subcommand ("debit"); `summary` the text of --help.
  ServerCommand(std::string name, std::string summary, std::string positional_help = "");

  ArgParser& args() { return args_; }
  const ArgParser& args() const { return args_; }
  const std::string& name() const { return name_; }

  // --reader NAME (required) and --expected-uid HEX.
  void AddTarget();
  // --key NAME, --key-no N (default 0) and --scheme; `what` says which key (for --help).
  void AddKey(absl::string_view what);
  // --aid HEX; `help` for --help.
  void AddAid(absl::string_view help = "application id, hex (e.g. F51001)");
  // --file N (0..31).
  void AddFile(absl::string_view help = "file number (0..31)");
  // --request-id ID: the idempotency key of a change (default: a new random one).
  void AddRequestId();
  // --defer-commit: leave the transaction open for 'desfirectl commit' / 'desfirectl abort'.
  void AddDeferCommit();
  // The options FileRequest reads: the target, --aid, --file (`file_help`) and the key
  // options (`key_help`), in that order.
  void AddFileOptions(absl::string_view key_help,
                      absl::string_view file_help = "file number (0..31)");

  // Adds --json and the connection options, then parses `argv` (the arguments after the
  // subcommand); call once, after adding the command's own options. nullopt: go on.
  // Otherwise the exit code to return: kExitOk after --help (usage printed), kExitUsage for a
  // bad option.
  std::optional<int> Parse(int argc, char** argv);

  // The values, each INVALID_ARGUMENT naming the option when missing or malformed.
  absl::Status Target(v1::CardTarget* target) const;
  // Fills *key from --key / --key-no / --scheme; false when --key is absent.
  absl::StatusOr<bool> Key(v1::KeyRef* key) const;
  // --aid: hex, 1..FFFFFF (with `allow_card_level`, 0 too, and absent means 0).
  absl::StatusOr<uint32_t> Aid(bool allow_card_level = false) const;
  // --file: 0..31, required.
  absl::StatusOr<uint32_t> FileNo() const;
  // Target, --aid, --file and the key options into a request on one file. Without --key the
  // auth is cleared, or, with `key_required`, that is an error.
  template <typename Request>
  absl::Status FileRequest(Request* req, bool key_required = false) const {
    if (absl::Status s = Target(req->mutable_target()); !s.ok()) return s;
    absl::StatusOr<uint32_t> aid = Aid();
    if (!aid.ok()) return aid.status();
    req->set_aid(*aid);
    absl::StatusOr<uint32_t> file = FileNo();
    if (!file.ok()) return file.status();
    req->set_file_no(*file);
    return KeyInto(req, key_required);
  }
  // The key options into req->auth: cleared without --key, or, with `required`, an error.
  template <typename Request>
  absl::Status KeyInto(Request* req, bool required = false) const {
    absl::StatusOr<bool> key = Key(req->mutable_auth());
    if (!key.ok()) return key.status();
    if (*key) return absl::OkStatus();
    if (required) return absl::InvalidArgumentError("--key NAME is required (with --key-no N)");
    req->clear_auth();
    return absl::OkStatus();
  }
  // A decimal option in [lo, hi]; absent: `fallback`, or an error when there is none.
  absl::StatusOr<int64_t> Int(const std::string& option, int64_t lo, int64_t hi,
                              std::optional<int64_t> fallback = std::nullopt) const;
  // A hex option decoded to bytes (spaces and ':' allowed); absent: empty.
  absl::StatusOr<Bytes> HexBytes(const std::string& option) const;
  // --request-id, or the random one made at Parse.
  const std::string& request_id() const { return request_id_; }
  // --defer-commit was given.
  bool defer_commit() const { return args_.Has("defer-commit"); }
  // --json was given.
  bool json() const { return args_.Has("json"); }
  // --timeout, when given (Watch uses none otherwise).
  std::optional<absl::Duration> explicit_timeout() const { return explicit_timeout_; }

  // The client for the connection options.
  absl::StatusOr<std::unique_ptr<client::Client>> Connect() const;

  // One call with `request`, made with a client for the connection options, and its outcome;
  // returns the exit code. A bad connection option is a usage error (UsageError) and a failed
  // call is reported (Failed); a response is printed as JSON with --json, else by `print`
  // (a callable taking the response and returning the exit code).
  template <typename Request, typename Response, typename Param, typename Print>
  int Call(const Request& request, absl::StatusOr<Response> (client::Client::*call)(Param),
           Print print) const {
    absl::StatusOr<std::unique_ptr<client::Client>> client = Connect();
    if (!client.ok()) return UsageError(client.status());
    absl::StatusOr<Response> response = ((**client).*call)(request);
    if (!response.ok()) return Failed(response.status());
    if (json()) {
      PrintJson(*response);
      return kExitOk;
    }
    return print(*response);
  }

  // Like Call, for a listing that comes in pages: `call` is made again, with the request's
  // page_token set to the last response's next_page_token, until that is empty or until
  // `add(page, all)` returns false (it collects a page into `all`, a response of its own, and
  // says whether to read on). Then `all` is printed: as JSON with --json, else by `print`.
  template <typename Request, typename Response, typename Param, typename Add, typename Print>
  int CallPages(Request request, absl::StatusOr<Response> (client::Client::*call)(Param), Add add,
                Print print) const {
    absl::StatusOr<std::unique_ptr<client::Client>> client = Connect();
    if (!client.ok()) return UsageError(client.status());
    Response all;
    do {
      absl::StatusOr<Response> page = ((**client).*call)(request);
      if (!page.ok()) return Failed(page.status());
      if (!add(*page, all)) break;
      request.set_page_token(page->next_page_token());
    } while (!request.page_token().empty());
    if (json()) {
      PrintJson(all);
      return kExitOk;
    }
    return print(all);
  }

  // Prints "desfirectl NAME: message" and a pointer to --help (with --json: ErrorJson, code
  // INVALID_ARGUMENT); returns kExitUsage.
  int UsageError(absl::string_view message) const;
  int UsageError(const absl::Status& status) const { return UsageError(status.message()); }
  // ReportCallError for this command (with the request id for a change, and --json).
  int Failed(const absl::Status& status) const;

  // One line of desfirectl JSON (CliJson: proto3 JSON with bytes and AIDs in hex).
  void PrintJson(const google::protobuf::Message& message) const;
  // " (committed)", or for a change left open by --defer-commit, what ends its transaction.
  static std::string CommittedText(bool committed);
  // The outcome of a change: `what` was done, the note that the server replayed it (an
  // earlier call with this request id made the change), and the request id.
  void PrintChangeOutcome(absl::string_view what, bool replayed) const;

 private:
  std::string name_;
  ArgParser args_;
  bool has_request_id_ = false;
  std::string request_id_;
  std::optional<absl::Duration> explicit_timeout_;
};

// --- Output helpers ------------------------------------------------------------------------

// Prints `rows` under `header`, columns padded to their widest cell, two spaces apart.
void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows);

// Lower-case hex of proto bytes; "-" for empty.
std::string HexOrDash(const std::string& bytes);
// An AID as six upper-case hex digits ("F51001").
std::string AidText(uint32_t aid);
// RFC 3339 UTC ("2024-05-01T10:00:00Z"); "-" for an unset timestamp.
std::string TimeText(const google::protobuf::Timestamp& time, bool has);

}  // namespace desfired::cli

#endif  // DESFIRED_CLIENT_CLI_SERVER_COMMAND_H_
