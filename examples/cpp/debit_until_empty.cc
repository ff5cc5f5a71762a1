// debit_until_empty: debits 1 from a value file every --interval seconds until the value is
// used up (INSUFFICIENT_VALUE). Each debit has its own request_id; when the card leaves the
// reader (CARD_REMOVED, NO_CARD) or desfired does not answer, the SAME debit (same
// request_id) is retried until the card is back, so a debit whose answer was lost is never
// applied twice (the server answers the retry with the first outcome, `replayed`).
//
//   debit_until_empty [--server HOST:PORT] [--reader NAME] [--aid F51001] [--file 1]
//                     [--key transit-debit --key-no 2] [--read-key transit-read
//                     --read-key-no 1] [--interval 1] [--card-wait 60]
//
// Prints each debit and a summary: "summary: N debits from START to END, R retries".
// Exit code 0 when the value is used up; 1 on another error, or when the card stays away
// longer than --card-wait seconds.
#include <iostream>
#include <string>

#include "absl/time/clock.h"
#include "common.h"

namespace v1 = desfired::v1;

namespace {

// Worth retrying the same debit once the card (or the server) is back.
bool Transient(const absl::Status& status) {
  const std::optional<std::string> reason = desfired::apdu::GetReason(status);
  if (!reason) return desfired::client::IsTransportError(status);
  return *reason == "CARD_REMOVED" || *reason == "NO_CARD" || *reason == "PCSC_UNAVAILABLE" ||
         *reason == "READER_BUSY" || *reason == "REQUEST_IN_PROGRESS" ||
         *reason == "OUTCOME_UNKNOWN" || status.code() == absl::StatusCode::kUnavailable;
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<examples::Args> args = examples::Args::Parse(argc, argv);
  if (!args) return 2;
  if (args->Has("help")) {
    std::cout << "usage: debit_until_empty [--reader NAME] [--aid HEX] [--file N]"
                 " [--key NAME --key-no N] [--read-key NAME --read-key-no N]"
                 " [--interval SECONDS] [--card-wait SECONDS] [connection options]\n"
              << examples::ConnectionUsage();
    return 0;
  }
  auto client = examples::Connect(*args);
  if (!client.ok()) return examples::Fail("connect", client.status());
  absl::StatusOr<std::string> reader = examples::PickReader(**client, *args);
  if (!reader.ok()) return examples::Fail("readers", reader.status());
  const uint32_t aid = args->Hex("aid", 0xF51001);
  const uint32_t file = static_cast<uint32_t>(args->Number("file", 1));
  const absl::Duration interval = absl::Seconds(args->Number("interval", 1));
  const absl::Duration card_wait = absl::Seconds(args->Number("card-wait", 60));

  // The value file, read with the read key and debited with the debit key.
  auto on_file = [&](auto* req, const std::string& key_name, double key_no) {
    req->mutable_target()->set_reader(*reader);
    req->set_aid(aid);
    req->set_file_no(file);
    req->mutable_auth()->set_key_name(key_name);
    req->mutable_auth()->set_key_number(static_cast<uint32_t>(key_no));
  };
  v1::GetValueRequest get;
  on_file(&get, args->Get("read-key", "transit-read"), args->Number("read-key-no", 1));
  absl::StatusOr<v1::GetValueResponse> start = (*client)->GetValue(get);
  if (!start.ok()) return examples::Fail("GetValue", start.status());
  std::cout << "value at start: " << start->value() << "\n";

  v1::DebitRequest debit;
  on_file(&debit, args->Get("key", "transit-debit"), args->Number("key-no", 2));
  debit.set_amount(1);

  int debits = 0;
  int retries = 0;
  while (true) {
    debit.set_request_id(desfired::client::NewRequestId());  // a new change: a new id
    const absl::Time first_try = absl::Now();
    absl::StatusOr<v1::DebitResponse> r;
    while (true) {
      r = (*client)->Debit(debit);
      if (r.ok() || !Transient(r.status())) break;
      if (absl::Now() - first_try > card_wait) {
        return examples::Fail("the card did not come back", r.status());
      }
      ++retries;
      std::cout << "debit #" << debits + 1 << ": " << examples::Reason(r.status())
                << ", retrying request " << debit.request_id() << " when the card is back\n";
      std::cout.flush();
      absl::SleepFor(interval);
    }
    if (!r.ok() && desfired::apdu::GetReason(r.status()) == "INSUFFICIENT_VALUE") {
      std::cout << "value used up\n";
      break;
    }
    if (!r.ok()) return examples::Fail("Debit", r.status());
    ++debits;
    std::cout << "debit #" << debits << ": value now "
              << (r->change().has_value_after() ? std::to_string(r->change().value_after()) : "?")
              << (r->change().replayed() ? " (replayed)" : "") << " (request " << debit.request_id()
              << ")\n";
    std::cout.flush();
    absl::SleepFor(interval);
  }
  absl::StatusOr<v1::GetValueResponse> end = (*client)->GetValue(get);
  if (!end.ok()) return examples::Fail("GetValue", end.status());
  std::cout << "summary: " << debits << " debits from " << start->value() << " to " << end->value()
            << ", " << retries << " retries\n";
  return 0;
}
