// Test vector files: one vector per line, words separated by spaces, then " | " and the
// source the vector comes from; '#' starts a comment line, "-" is an empty word.
//
//   for (const VectorRow& v : ReadVectorFile(SOURCE_DIR "/tests/unit/.../x_vectors.txt")) {
//     SCOPED_TRACE(v.source);
//     ... v.words[0] ...
//   }
#ifndef DESFIRED_TESTS_UNIT_VECTOR_FILE_H_
#define DESFIRED_TESTS_UNIT_VECTOR_FILE_H_

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace desfired::test_util {

struct VectorRow {
  std::vector<std::string> words;
  std::string source;  // the text after " | "
};

inline std::vector<VectorRow> ReadVectorFile(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "vector file missing: " << path;
  std::vector<VectorRow> rows;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    VectorRow row;
    const size_t bar = line.find(" | ");
    EXPECT_NE(bar, std::string::npos) << "no source: " << line;
    if (bar != std::string::npos) row.source = line.substr(bar + 3);
    std::istringstream words(line.substr(0, bar));
    for (std::string w; words >> w;) row.words.push_back(w == "-" ? "" : w);
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace desfired::test_util

#endif  // DESFIRED_TESTS_UNIT_VECTOR_FILE_H_
