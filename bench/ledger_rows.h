// The rows the ledger benchmarks append (bench/ledger_bench.cc, bench/ledger_central_bench.cc):
// what desfired writes for a debit.
//
// Thread-safe: a pure function.
#ifndef DESFIRED_BENCH_LEDGER_ROWS_H_
#define DESFIRED_BENCH_LEDGER_ROWS_H_

#include <string>

#include "absl/strings/str_cat.h"
#include "core/ledger/row.h"

namespace desfired::ledger {

// What the server writes for a debit: a PENDING row with the serialized request.
inline Row TypicalRow(int i) {
  Row r;
  r.event = i % 2 == 0 ? Event::kPending : Event::kDone;
  r.request_id = absl::StrCat("order-", i / 2);
  r.request_hash = std::string(64, 'a');
  r.caller = "token:terminal-17";
  r.method = "Debit";
  r.uid = "04a1b2c3d4e5f6";
  r.reader = "ACS ACR122U PICC Interface 00 00";
  r.aid = 0xF51001;
  r.file_no = 1;
  r.amount = 150;
  r.value_before = 2500;
  r.value_after = 2350;
  r.payload = std::string(96, '\x11');
  if (i % 2 == 1) {
    r.pending_seq = i;  // the PENDING row before it (seq = i)
    r.outcome = "OK";
  }
  return r;
}

}  // namespace desfired::ledger

#endif  // DESFIRED_BENCH_LEDGER_ROWS_H_
