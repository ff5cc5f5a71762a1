// desfirectl taplog: read a card's tap log and show it parsed by the server.
#include <iostream>

#include "client/cli/commands.h"
#include "client/cli/server_command.h"
#include "client/cli/tap_output.h"
#include "proto/convert/tap_convert.h"

namespace desfired::cli {
namespace {

// The records as a table (oldest first), then a blank line and the summary. The server's
// results come back to core results and go through the printer of `taps parse`.
int PrintTapLog(const v1::ReadTapLogResponse& resp) {
  TapPrinter printer(TapOutput::kTable, &std::cout);
  printer.Header();
  tap::TapResult result;
  Bytes raw;
  tap::TapSummary summary;
  absl::Status answer = absl::OkStatus();
  for (const v1::TapResult& r : resp.results()) {
    answer = FromProto(r, &raw, &result);
    if (!answer.ok()) break;
    printer.Print(result);
  }
  printer.Flush();
  if (answer.ok()) answer = FromProto(resp.summary(), &summary);
  if (!answer.ok()) {
    std::cerr << "desfirectl taplog: desfired's answer is malformed: " << answer.message() << "\n";
    return kExitFailed;
  }
  std::cout << "\n" << summary.ToText() << "\n";
  return kExitOk;
}

}  // namespace

int TapLog(int argc, char** argv) {
  ServerCommand cmd("taplog",
                    "Read the tap log (a record file of tap records, docs/tap-record-format.md)\n"
                    "of a card; the server parses and checks every record with its key store.\n"
                    "Prints a table of the records, oldest first, and a summary.");
  cmd.AddFileOptions("a key with read access (omit when reading is free)",
                     "the tap log's file number (0..31)");
  cmd.args().Option("max-records", "N", "only the newest N records (default: all)");
  if (std::optional<int> done = cmd.Parse(argc, argv)) return *done;
  v1::ReadTapLogRequest req;
  if (absl::Status s = cmd.FileRequest(&req); !s.ok()) return cmd.UsageError(s);
  absl::StatusOr<int64_t> max = cmd.Int("max-records", 1, UINT32_MAX, 0);
  if (!max.ok()) return cmd.UsageError(max.status());
  req.set_max_records(static_cast<uint32_t>(*max));

  return cmd.Call(req, &client::Client::ReadTapLog, PrintTapLog);
}

}  // namespace desfired::cli
