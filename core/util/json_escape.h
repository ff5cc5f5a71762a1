// JSON string escaping (RFC 8259): the one escaper for JSON text written by hand (log lines,
// the ledger export, card images, desfirectl ledger verify).
//
//   std::string line = "{\"msg\":";
//   AppendJsonString(line, msg);  // "..." with its quotes
//   line += "}";
//
// By default the output is what JSON requires, as valid UTF-8: `"` and `\` escaped, the
// control characters U+0000..U+001F written \b \f \n \r \t or \u00xx (lower-case hex), and
// every byte that does not belong to a well-formed UTF-8 sequence (RFC 3629: no overlong forms,
// no surrogates, nothing above U+10FFFF) replaced by \ufffd, one per byte. Everything else —
// DEL and well-formed multi-byte sequences included — is copied as it is. JsonEscapeOptions
// changes the three choices in which the writers of this project differ.
//
// Thread-safe: pure functions.
#ifndef DESFIRED_CORE_UTIL_JSON_ESCAPE_H_
#define DESFIRED_CORE_UTIL_JSON_ESCAPE_H_

#include <string>

#include "absl/strings/string_view.h"

namespace desfired {

struct JsonEscapeOptions {
  // The control characters, among \b \f \n \r \t, that are written with their two-character
  // escape; every other control character is written \u00xx.
  absl::string_view short_escapes = "\b\f\n\r\t";
  // DEL (0x7F) written \u007f (JSON allows it as it is).
  bool escape_del = false;
  // Bytes outside well-formed UTF-8 become \ufffd. false: they are copied as they are, and the
  // output is then valid JSON text only when the input is valid UTF-8.
  bool replace_invalid_utf8 = true;
};

// Appends `s` escaped as the inside of a JSON string, without the quotes.
void AppendJsonEscaped(std::string& out, absl::string_view s,
                       const JsonEscapeOptions& options = {});

// Appends `s` as a JSON string: the quotes and, between them, AppendJsonEscaped.
void AppendJsonString(std::string& out, absl::string_view s, const JsonEscapeOptions& options = {});

// `s` as a JSON string, quotes included.
std::string JsonQuote(absl::string_view s, const JsonEscapeOptions& options = {});

}  // namespace desfired

#endif  // DESFIRED_CORE_UTIL_JSON_ESCAPE_H_
