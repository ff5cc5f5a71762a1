// Printing of desfired.v1.TapResult (the server's tap results) in the formats of
// `desfirectl taps parse`: a table, proto3 JSON lines, or CSV — the same columns as the local
// parser prints, so `taps parse` looks the same with and without --server.
//
//   V1TapPrinter printer(TapOutput::kTable, &std::cout);
//   printer.Header();
//   for (const v1::TapResult& r : response.results()) printer.Print(r);
//   std::cerr << TapSummaryText(response.summary()) << "\n";
//
// Thread-compatible. `out` is borrowed and must outlive the printer.
#ifndef DESFIRED_CLIENT_CLI_TAP_OUTPUT_H_
#define DESFIRED_CLIENT_CLI_TAP_OUTPUT_H_

#include <ostream>
#include <string>

#include "desfired/v1/taps.pb.h"

namespace desfired::cli {

enum class TapOutput { kTable, kJson, kCsv };

class V1TapPrinter {
 public:
  V1TapPrinter(TapOutput format, std::ostream* out) : format_(format), out_(out) {}
  // The table's or the CSV's header line (nothing for JSON).
  void Header();
  void Print(const v1::TapResult& result);

 private:
  TapOutput format_;
  std::ostream* out_;
  std::string json_;
};

// "11 records: 6 valid, 2 flagged, 3 rejected; warnings: CRC8_MISMATCH 2, ...", the text of
// the local parser's summary.
std::string TapSummaryText(const v1::TapSummary& summary);

}  // namespace desfired::cli

#endif  // DESFIRED_CLIENT_CLI_TAP_OUTPUT_H_
