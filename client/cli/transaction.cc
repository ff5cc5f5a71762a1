// desfirectl commit, abort: end the card transaction that changes made with --defer-commit
// left open.
#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "client/cli/commands.h"
#include "client/cli/server_command.h"

namespace desfired::cli {
namespace {

// The options of commit and abort: the reader, --aid, the key and --request-id.
void AddTransactionOptions(ServerCommand& cmd) {
  cmd.AddTarget();
  cmd.AddAid("the application of the open transaction, hex (e.g. F51001)");
  cmd.AddKey("the key the changes were made with (omit when they needed none)");
  cmd.AddRequestId();
}

// Fills a CommitTransaction or AbortTransaction request.
template <typename Request>
absl::Status FillTransaction(const ServerCommand& cmd, Request* req) {
  if (absl::Status s = cmd.Target(req->mutable_target()); !s.ok()) return s;
  absl::StatusOr<uint32_t> aid = cmd.Aid();
  if (!aid.ok()) return aid.status();
  req->set_aid(*aid);
  if (absl::Status s = cmd.KeyInto(req); !s.ok()) return s;
  req->set_request_id(cmd.request_id());
  return absl::OkStatus();
}

// What ends an open transaction, for both commands' --help.
constexpr char kLifetime[] =
    "The transaction lives as long as desfired's session with the card: a call on the same\n"
    "reader with another application or key, a failed call, or the card leaving discards it.";

}  // namespace

int Commit(int argc, char** argv) {
  ServerCommand cmd("commit", absl::StrCat("Commit the changes made with --defer-commit.\n",
                                           kLifetime, "\nExit code 1 when nothing was committed."));
  AddTransactionOptions(cmd);
  if (std::optional<int> done = cmd.Parse(argc, argv)) return *done;
  v1::CommitTransactionRequest req;
  if (absl::Status s = FillTransaction(cmd, &req); !s.ok()) return cmd.UsageError(s);
  absl::StatusOr<std::unique_ptr<client::Client>> client = cmd.Connect();
  if (!client.ok()) return cmd.UsageError(client.status());
  absl::StatusOr<v1::CommitTransactionResponse> resp = (*client)->CommitTransaction(req);
  if (!resp.ok()) return cmd.Failed(resp.status());
  // Nothing committed is an answer, not an error of the call, but the changes are lost: exit
  // code 1, with --json too.
  if (cmd.json()) {
    cmd.PrintJson(*resp);
  } else if (resp->committed()) {
    cmd.PrintChangeOutcome(absl::StrCat("committed the transaction in ", AidText(req.aid())),
                           resp->replayed());
  } else {
    std::cerr << "desfirectl commit: nothing was committed in " << AidText(req.aid())
              << ": the transaction was already lost (another application or key was used on "
                 "the reader, a call failed, or the card left); make the changes again\n"
              << "request id: " << cmd.request_id() << "\n";
  }
  return resp->committed() ? kExitOk : kExitFailed;
}

int Abort(int argc, char** argv) {
  ServerCommand cmd("abort",
                    absl::StrCat("Discard the changes made with --defer-commit.\n", kLifetime));
  AddTransactionOptions(cmd);
  if (std::optional<int> done = cmd.Parse(argc, argv)) return *done;
  v1::AbortTransactionRequest req;
  if (absl::Status s = FillTransaction(cmd, &req); !s.ok()) return cmd.UsageError(s);
  return cmd.Call(
      req, &client::Client::AbortTransaction, [&](const v1::AbortTransactionResponse& resp) {
        cmd.PrintChangeOutcome(absl::StrCat("aborted the transaction in ", AidText(req.aid())),
                               resp.replayed());
        return kExitOk;
      });
}

}  // namespace desfired::cli
