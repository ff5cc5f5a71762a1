// desfirectl value, debit, credit, limited-credit: value files.
#include <cstdint>
#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "client/cli/commands.h"
#include "client/cli/server_command.h"

namespace desfired::cli {
namespace {

// The fields the three change requests share.
template <typename Request>
absl::Status FillChange(const ServerCommand& cmd, Request* req) {
  if (absl::Status s = cmd.FileRequest(req, /*key_required=*/true); !s.ok()) return s;
  absl::StatusOr<int64_t> amount = cmd.Int("amount", 1, INT32_MAX);
  if (!amount.ok()) return amount.status();
  req->set_amount(static_cast<int32_t>(*amount));
  req->set_request_id(cmd.request_id());
  req->set_defer_commit(cmd.defer_commit());
  absl::StatusOr<Bytes> reader_id = cmd.HexBytes("reader-id");
  if (!reader_id.ok()) return reader_id.status();
  if (!reader_id->empty() && reader_id->size() != 16) {
    return absl::InvalidArgumentError("--reader-id: a reader id is 16 bytes (32 hex digits)");
  }
  req->mutable_transaction_mac()->set_reader_id(std::string(reader_id->begin(), reader_id->end()));
  req->mutable_transaction_mac()->set_key_name(cmd.args().Value("tmac-key").value_or(""));
  if (req->transaction_mac().key_name().empty() && reader_id->empty()) req->clear_transaction_mac();
  return absl::OkStatus();
}

// "debit 10: 2500 -> 2490 (committed)": what a change did.
std::string ChangeText(absl::string_view verb, int32_t amount, const v1::ValueChange& change) {
  std::string line = absl::StrCat(verb, " ", amount);
  if (change.has_value_before() && change.has_value_after()) {
    absl::StrAppend(&line, ": ", change.value_before(), " -> ", change.value_after());
  }
  absl::StrAppend(&line, ServerCommand::CommittedText(change.committed()));
  if (change.has_transaction_mac()) {
    const v1::TransactionMac& mac = change.transaction_mac();
    absl::StrAppend(&line, "\ntransaction MAC: TMC ", mac.tmc(), ", TMV ",
                    HexEncode(AsBytes(mac.tmv())),
                    mac.verified() ? " (verified)" : " (NOT verified)");
    if (!mac.unverified_reason().empty()) absl::StrAppend(&line, ": ", mac.unverified_reason());
    if (!mac.reader_id().empty()) {
      absl::StrAppend(&line, "\nreader id: ", HexEncode(AsBytes(mac.reader_id())));
    }
  }
  return line;
}

// debit, credit or limited-credit: `name`, the first line of its help (`summary`), which key
// it needs, and its call.
template <typename Request, typename Response>
int RunChange(const char* name, const char* summary, const char* key_help,
              absl::StatusOr<Response> (client::Client::*call)(Request), int argc, char** argv) {
  ServerCommand cmd(
      name, absl::StrCat(summary, "\nRetrying with the same --request-id never applies it twice."));
  cmd.AddFileOptions(key_help);
  cmd.args().Option("amount", "N", "the amount (1..2147483647)");
  cmd.args().Option("reader-id", "HEX",
                    "Transaction MAC: commit this 16-byte reader id (CommitReaderID)");
  cmd.args().Option("tmac-key", "NAME",
                    "Transaction MAC: ask for TMC and TMV and verify the TMV with this key of\n"
                    "the server's key store (docs/ev3.md)");
  cmd.AddRequestId();
  cmd.AddDeferCommit();
  if (std::optional<int> done = cmd.Parse(argc, argv)) return *done;
  auto client = cmd.Connect();
  if (!client.ok()) return cmd.UsageError(client.status());
  Request req;
  if (absl::Status s = FillChange(cmd, &req); !s.ok()) return cmd.UsageError(s);
  absl::StatusOr<Response> resp = ((**client).*call)(req);
  if (!resp.ok()) return cmd.Failed(resp.status());
  if (cmd.json()) {
    cmd.PrintJson(*resp);
  } else {
    cmd.PrintChangeOutcome(ChangeText(name, req.amount(), resp->change()),
                           resp->change().replayed());
  }
  return kExitOk;
}

constexpr char kDebitKey[] = "a key with write or read-write access";

}  // namespace

int Value(int argc, char** argv) {
  ServerCommand cmd("value", "Print the committed value of a value file.");
  cmd.AddFileOptions("a key with read, write or read-write access (omit when GetValue is free)");
  if (std::optional<int> done = cmd.Parse(argc, argv)) return *done;
  v1::GetValueRequest req;
  if (absl::Status s = cmd.FileRequest(&req); !s.ok()) return cmd.UsageError(s);
  return cmd.Call(req, &client::Client::GetValue, [](const v1::GetValueResponse& resp) {
    std::cout << "value: " << resp.value() << "\n";
    return kExitOk;
  });
}

int Debit(int argc, char** argv) {
  return RunChange("debit",
                   "Subtract --amount from a value file (committed before the call returns,\n"
                   "unless --defer-commit).",
                   kDebitKey, &client::Client::Debit, argc, argv);
}

int Credit(int argc, char** argv) {
  return RunChange("credit",
                   "Add --amount to a value file (committed before the call returns,\n"
                   "unless --defer-commit).",
                   "a key with read-write access", &client::Client::Credit, argc, argv);
}

int LimitedCredit(int argc, char** argv) {
  return RunChange("limited-credit",
                   "Add at most the limited credit value (refund of the last debit) to a value "
                   "file.",
                   kDebitKey, &client::Client::LimitedCredit, argc, argv);
}

}  // namespace desfired::cli
