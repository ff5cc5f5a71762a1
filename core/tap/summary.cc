#include "core/tap/summary.h"

#include "absl/strings/str_cat.h"

namespace desfired::tap {

void TapSummary::Add(const TapResult& r) {
  ++total;
  switch (r.status) {
    case TapStatus::kValid:
      ++valid;
      break;
    case TapStatus::kFlagged:
      ++flagged;
      break;
    case TapStatus::kRejected:
      ++rejected;
      break;
  }
  if (r.warnings == 0) return;
  for (int w = kFirstWarning; w <= kLastWarning; ++w) {
    if (r.warnings & (1u << w)) ++warnings[w];
  }
  if (r.has(TapWarning::kUnknownTerminal)) ++unknown_terminals[r.fields.terminal_id];
  if (r.has(TapWarning::kUnknownFareProduct)) ++unknown_fare_products[r.fields.fare_product];
}

void TapSummary::Merge(const TapSummary& other) {
  total += other.total;
  valid += other.valid;
  flagged += other.flagged;
  rejected += other.rejected;
  for (size_t i = 0; i < warnings.size(); ++i) warnings[i] += other.warnings[i];
  for (const auto& [id, n] : other.unknown_terminals) unknown_terminals[id] += n;
  for (const auto& [id, n] : other.unknown_fare_products) unknown_fare_products[id] += n;
}

std::string TapSummary::ToText() const {
  std::string out = absl::StrCat(total, " records: ", valid, " valid, ", flagged, " flagged, ",
                                 rejected, " rejected");
  const char* sep = "; warnings: ";
  for (int w = kFirstWarning; w <= kLastWarning; ++w) {
    if (warnings[w] == 0) continue;
    absl::StrAppend(&out, sep, TapWarningName(static_cast<TapWarning>(w)), " ", warnings[w]);
    sep = ", ";
  }
  if (!unknown_terminals.empty()) {
    absl::StrAppend(&out, "; unknown terminals: ", unknown_terminals.size());
  }
  if (!unknown_fare_products.empty()) {
    absl::StrAppend(&out, "; unknown fare products: ", unknown_fare_products.size());
  }
  return out;
}

}  // namespace desfired::tap
