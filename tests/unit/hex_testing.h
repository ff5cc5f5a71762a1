// Hex helpers for tests: Hex("2b7e 1516") gives the bytes (a test failure on bad hex), and
// Norm() gives canonical lower-case hex without separators for readable comparisons.
#ifndef DESFIRED_TESTS_UNIT_HEX_TESTING_H_
#define DESFIRED_TESTS_UNIT_HEX_TESTING_H_

#include <string>

#include "absl/strings/string_view.h"
#include "core/util/bytes.h"
#include "gtest/gtest.h"

namespace desfired::test_util {

inline Bytes Hex(absl::string_view text) {
  absl::StatusOr<Bytes> bytes = HexDecode(text);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *std::move(bytes) : Bytes{};
}

inline std::string Norm(absl::string_view text) { return HexEncode(Hex(text)); }

}  // namespace desfired::test_util

#endif  // DESFIRED_TESTS_UNIT_HEX_TESTING_H_
