// Printing of tap results (core/tap/result.h) in the formats of `desfirectl taps parse`: a
// table, CSV, or one line of proto3 JSON (desfired.v1.TapResult) per result. The one printer
// for the local parser's results and for the server's (taps parse --server, taplog), which
// come back to core results through FromProto (proto/convert/tap_convert.h), so that the
// output is the same wherever the records were parsed.
//
//   TapPrinter printer(TapOutput::kTable, &std::cout);
//   printer.Header();
//   for (...) printer.Print(result);
//   std::cerr << summary.ToText() << "\n";
//
// Thread-compatible. `out` is borrowed and must outlive the printer.
#ifndef DESFIRED_CLIENT_CLI_TAP_OUTPUT_H_
#define DESFIRED_CLIENT_CLI_TAP_OUTPUT_H_

#include <ostream>
#include <string>

#include "core/tap/result.h"
#include "desfired/v1/taps.pb.h"
#include "google/protobuf/util/json_util.h"

namespace desfired::cli {

enum class TapOutput { kTable, kJson, kCsv };

class TapPrinter {
 public:
  TapPrinter(TapOutput format, std::ostream* out);

  // The table's or the CSV's header line (nothing for JSON).
  void Header();
  // One line: the table row, the CSV record or the JSON object of `result`.
  void Print(const tap::TapResult& result);

 private:
  void PrintCsv(const tap::TapResult& r);
  void PrintRow(const tap::TapResult& r);

  TapOutput format_;
  std::ostream* out_;
  // Reused from one JSON line to the next.
  v1::TapResult proto_;
  std::string json_;
  google::protobuf::util::JsonPrintOptions json_options_;
};

}  // namespace desfired::cli

#endif  // DESFIRED_CLIENT_CLI_TAP_OUTPUT_H_
