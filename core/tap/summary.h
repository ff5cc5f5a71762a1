// TapSummary: counts per status and per warning, and the unknown terminal / fare product ids.
//
// Thread-compatible.
#ifndef DESFIRED_CORE_TAP_SUMMARY_H_
#define DESFIRED_CORE_TAP_SUMMARY_H_

#include <array>
#include <cstdint>
#include <map>
#include <string>

#include "core/tap/result.h"

namespace desfired::tap {

struct TapSummary {
  uint64_t total = 0;
  uint64_t valid = 0;
  uint64_t flagged = 0;
  uint64_t rejected = 0;
  std::array<uint64_t, kLastWarning + 1> warnings{};  // indexed by TapWarning
  std::map<uint32_t, uint64_t> unknown_terminals;
  std::map<uint32_t, uint64_t> unknown_fare_products;

  void Add(const TapResult& r);
  void Merge(const TapSummary& other);
  // "1000 records: 990 valid, 8 flagged, 2 rejected; warnings: CRC8_MISMATCH 3, ..."
  std::string ToText() const;
};

}  // namespace desfired::tap

#endif  // DESFIRED_CORE_TAP_SUMMARY_H_
