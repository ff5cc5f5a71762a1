// SampleValue: one sample of a Prometheus text exposition, for tests.
//
//   SampleValue(text, R"(desfired_rpc_total{code="OK",method="Debit",service="CardService"})")
//
// `series` is the metric name with its labels exactly as the server writes them (prometheus-cpp
// sorts labels by name). Returns nullopt when no line has that series.
#ifndef DESFIRED_TESTS_TESTING_PROMETHEUS_TEXT_H_
#define DESFIRED_TESTS_TESTING_PROMETHEUS_TEXT_H_

#include <optional>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace desfired::testing {

inline std::optional<double> SampleValue(absl::string_view text, absl::string_view series) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.size() <= series.size() + 1 || line.substr(0, series.size()) != series ||
        line[series.size()] != ' ') {
      continue;
    }
    absl::string_view rest = line.substr(series.size() + 1);
    rest = rest.substr(0, rest.find(' '));  // a timestamp may follow
    double value = 0;
    if (absl::SimpleAtod(rest, &value)) return value;
  }
  return std::nullopt;
}

// The value, or 0 when the series is absent (a counter not incremented yet).
inline double SampleOr0(absl::string_view text, absl::string_view series) {
  return SampleValue(text, series).value_or(0);
}

}  // namespace desfired::testing

#endif  // DESFIRED_TESTS_TESTING_PROMETHEUS_TEXT_H_
