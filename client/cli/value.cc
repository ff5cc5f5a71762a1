// desfirectl value, debit, credit, limited-credit: value files.
#include <cstdint>
#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "client/cli/commands.h"
#include "client/cli/server_command.h"

namespace desfired::cli {
namespace {

enum class Change { kDebit, kCredit, kLimitedCredit };

// The fields the three change requests share.
template <typename Request>
absl::Status FillChange(const ServerCommand& cmd, Request* req) {
  if (absl::Status s = cmd.FileRequest(req, /*key_required=*/true); !s.ok()) return s;
  absl::StatusOr<int64_t> amount = cmd.Int("amount", 1, INT32_MAX);
  if (!amount.ok()) return amount.status();
  req->set_amount(static_cast<int32_t>(*amount));
  req->set_request_id(cmd.request_id());
  return absl::OkStatus();
}

void PrintChange(const ServerCommand& cmd, absl::string_view verb, int32_t amount,
                 const v1::ValueChange& change) {
  std::string line = absl::StrCat(verb, " ", amount);
  if (change.has_value_before() && change.has_value_after()) {
    absl::StrAppend(&line, ": ", change.value_before(), " -> ", change.value_after());
  }
  absl::StrAppend(&line, change.committed() ? " (committed)" : " (not committed)");
  if (change.replayed()) {
    absl::StrAppend(&line, " (replayed: an earlier call with this request id did it)");
  }
  std::cout << line << "\nrequest id: " << cmd.request_id() << "\n";
}

int RunChange(Change kind, int argc, char** argv) {
  static constexpr const char* kNames[] = {"debit", "credit", "limited-credit"};
  static constexpr const char* kSummaries[] = {
      "Subtract --amount from a value file (committed before the call returns).",
      "Add --amount to a value file (committed before the call returns).",
      "Add at most the limited credit value (refund of the last debit) to a value file."};
  const int k = static_cast<int>(kind);
  ServerCommand cmd(
      kNames[k],
      absl::StrCat(kSummaries[k], "\nRetrying with the same --request-id never applies it twice."));
  cmd.AddTarget();
  cmd.AddAid();
  cmd.AddFile();
  cmd.AddKey(kind == Change::kCredit ? "a key with read-write access"
                                     : "a key with write or read-write access");
  cmd.args().Option("amount", "N", "the amount (1..2147483647)");
  cmd.AddRequestId();
  if (std::optional<int> done = cmd.Parse(argc, argv)) return *done;
  auto client = cmd.Connect();
  if (!client.ok()) return cmd.UsageError(client.status());

  absl::StatusOr<v1::ValueChange> change;
  int32_t amount = 0;
  switch (kind) {
    case Change::kDebit: {
      v1::DebitRequest req;
      if (absl::Status s = FillChange(cmd, &req); !s.ok()) return cmd.UsageError(s);
      amount = req.amount();
      absl::StatusOr<v1::DebitResponse> r = (*client)->Debit(req);
      if (!r.ok()) return cmd.Failed(r.status());
      if (cmd.json()) cmd.PrintJson(*r);
      change = r->change();
      break;
    }
    case Change::kCredit: {
      v1::CreditRequest req;
      if (absl::Status s = FillChange(cmd, &req); !s.ok()) return cmd.UsageError(s);
      amount = req.amount();
      absl::StatusOr<v1::CreditResponse> r = (*client)->Credit(req);
      if (!r.ok()) return cmd.Failed(r.status());
      if (cmd.json()) cmd.PrintJson(*r);
      change = r->change();
      break;
    }
    case Change::kLimitedCredit: {
      v1::LimitedCreditRequest req;
      if (absl::Status s = FillChange(cmd, &req); !s.ok()) return cmd.UsageError(s);
      amount = req.amount();
      absl::StatusOr<v1::LimitedCreditResponse> r = (*client)->LimitedCredit(req);
      if (!r.ok()) return cmd.Failed(r.status());
      if (cmd.json()) cmd.PrintJson(*r);
      change = r->change();
      break;
    }
  }
  if (!cmd.json()) PrintChange(cmd, kNames[k], amount, *change);
  return kExitOk;
}

}  // namespace

int Value(int argc, char** argv) {
  ServerCommand cmd("value", "Print the committed value of a value file.");
  cmd.AddTarget();
  cmd.AddAid();
  cmd.AddFile();
  cmd.AddKey("a key with read, write or read-write access (omit when GetValue is free)");
  if (std::optional<int> done = cmd.Parse(argc, argv)) return *done;
  v1::GetValueRequest req;
  if (absl::Status s = cmd.FileRequest(&req); !s.ok()) return cmd.UsageError(s);
  auto client = cmd.Connect();
  if (!client.ok()) return cmd.UsageError(client.status());
  absl::StatusOr<v1::GetValueResponse> resp = (*client)->GetValue(req);
  if (!resp.ok()) return cmd.Failed(resp.status());
  if (cmd.json()) {
    cmd.PrintJson(*resp);
  } else {
    std::cout << "value: " << resp->value() << "\n";
  }
  return kExitOk;
}

int Debit(int argc, char** argv) { return RunChange(Change::kDebit, argc, argv); }
int Credit(int argc, char** argv) { return RunChange(Change::kCredit, argc, argv); }
int LimitedCredit(int argc, char** argv) { return RunChange(Change::kLimitedCredit, argc, argv); }

}  // namespace desfired::cli
