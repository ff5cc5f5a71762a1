// Printing of tap results (core/tap/result.h) in the formats of `desfirectl taps parse`: a
// table, CSV, or one line of proto3 JSON (desfired.v1.TapResult) per result. The one printer
// for the local parser's results and for the server's (taps parse --server, taplog), which
// come back to core results through FromProto (proto/convert/tap_convert.h), so that the
// output is the same wherever the records were parsed.
//
// The lines are encoded by TapEncoder (proto/convert/tap_encoder.h) into a buffer of 1 MiB that
// goes to `out` in one write when it is full, on Flush, and when the printer is destroyed.
//
//   TapPrinter printer(TapOutput::kTable, &std::cout);
//   printer.Header();
//   for (...) printer.Print(result);
//   printer.Flush();
//   std::cerr << summary.ToText() << "\n";
//
// Thread-compatible. `out` is borrowed and must outlive the printer; write nothing else to it
// between Print and Flush.
#ifndef DESFIRED_CLIENT_CLI_TAP_OUTPUT_H_
#define DESFIRED_CLIENT_CLI_TAP_OUTPUT_H_

#include <ostream>

#include "core/tap/result.h"
#include "proto/convert/tap_encoder.h"

namespace desfired::cli {

enum class TapOutput { kTable, kJson, kCsv };

class TapPrinter {
 public:
  TapPrinter(TapOutput format, std::ostream* out);
  ~TapPrinter();
  TapPrinter(const TapPrinter&) = delete;
  TapPrinter& operator=(const TapPrinter&) = delete;

  // The table's or the CSV's header line (nothing for JSON).
  void Header();
  // One line: the table row, the CSV record or the JSON object of `result`.
  void Print(const tap::TapResult& result) {
    Encode(format_, encoder_, result, &buffer_);
    if (buffer_.size() >= kBufferSize) Flush();
  }
  // Lines that Encode() made elsewhere (on other threads, with their own encoders), written
  // in order with the printed ones.
  void Write(absl::string_view text);

  // The line Print() gives for `result` in `format`, appended to `out` with `encoder`.
  static void Encode(TapOutput format, TapEncoder& encoder, const tap::TapResult& result,
                     TextBuffer* out) {
    switch (format) {
      case TapOutput::kJson:
        encoder.Json(result, out);
        break;
      case TapOutput::kCsv:
        encoder.Csv(result, out);
        break;
      case TapOutput::kTable:
        encoder.Row(result, out);
        break;
    }
  }
  TapOutput format() const { return format_; }
  // Writes what is buffered to `out` and flushes it.
  void Flush();

 private:
  static constexpr size_t kBufferSize = 1 << 20;

  TapOutput format_;
  std::ostream* out_;
  TapEncoder encoder_;
  TextBuffer buffer_;
};

}  // namespace desfired::cli

#endif  // DESFIRED_CLIENT_CLI_TAP_OUTPUT_H_
