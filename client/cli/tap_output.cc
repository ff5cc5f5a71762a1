#include "client/cli/tap_output.h"

namespace desfired::cli {

TapPrinter::TapPrinter(TapOutput format, std::ostream* out) : format_(format), out_(out) {
  buffer_.Reserve(kBufferSize + 4096);
}

TapPrinter::~TapPrinter() { Flush(); }

void TapPrinter::Header() {
  if (format_ == TapOutput::kCsv) {
    buffer_.Append(TapEncoder::CsvHeader());
  } else if (format_ == TapOutput::kTable) {
    buffer_.Append(TapEncoder::TableHeader());
  }
}

void TapPrinter::Write(absl::string_view text) {
  if (buffer_.size() + text.size() < kBufferSize) {
    buffer_.Append(text);
    return;
  }
  if (buffer_.size() > 0) {
    out_->write(buffer_.data(), static_cast<std::streamsize>(buffer_.size()));
    buffer_.clear();
  }
  out_->write(text.data(), static_cast<std::streamsize>(text.size()));
}

void TapPrinter::Flush() {
  if (buffer_.size() > 0) out_->write(buffer_.data(), static_cast<std::streamsize>(buffer_.size()));
  buffer_.clear();
  out_->flush();
}

}  // namespace desfired::cli
