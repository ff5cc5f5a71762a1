// The chunked tap input (core/tap/input_chunks.h) against the record-by-record readers, and
// the parallel parser (core/tap/parallel_parse.h) against one pipeline, record by record.
#include "core/tap/input_chunks.h"

#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/keys/key_store.h"
#include "core/tap/parallel_parse.h"
#include "gtest/gtest.h"
#include "tests/unit/core/tap/chunk_compare.h"
#include "tests/unit/core/tap/test_records.h"

namespace desfired::tap {
namespace {

const size_t kChunkSizes[] = {1, 7, 31, 32, 33, 64, 65, 1000, 65536, 65537, 1 << 20};

// Hex text with every kind of line: good records, 0x and CRLF, comments, blanks, non-hex,
// odd digits, short and long records, lines just under, at and over the length limit, and no
// newline at the end.
std::string MixedHex() {
  const std::string good = HexEncode(testing::MakeRecord(testing::RecordSpec{}));
  std::string text = "# header\n" + good + "\n\n   \n0x" + good + "\r\n" + good.substr(0, 40) +
                     "\nzz" + good + "\n" + good + "1\n\t" + good + "  \n";
  text += std::string(kMaxLineLength, 'a') + "\n";      // at the limit: a too-long record
  text += std::string(kMaxLineLength + 1, 'b') + "\n";  // over it
  text += std::string(3 * kMaxLineLength, 'c') + "\r\n" + good + "\n";
  text += "#" + std::string(kMaxLineLength + 5, 'd') + "\n";  // a too-long comment
  text += good;                                               // no newline at the end
  return text;
}

TEST(InputChunksTest, HexEqualsTheLineReaderForEveryChunkSize) {
  const std::string text = MixedHex();
  for (size_t chunk : kChunkSizes) {
    EXPECT_EQ(testing::CompareChunkedInput(InputFormat::kHex, text, chunk), "") << chunk;
  }
  for (const char* edge : {"", "\n", "\n\n", "ab", "ab\n", "#\n", "\r\n"}) {
    EXPECT_EQ(testing::CompareChunkedInput(InputFormat::kHex, edge, 3), "") << edge;
  }
}

TEST(InputChunksTest, BinaryEqualsTheRecordReaderWithAndWithoutATail) {
  std::mt19937 rng(4);
  for (size_t size : {0, 1, 31, 32, 33, 64, 100, 32 * 1000, 32 * 1000 + 5}) {
    std::string bytes(size, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    for (size_t chunk : kChunkSizes) {
      EXPECT_EQ(testing::CompareChunkedInput(InputFormat::kBinary, bytes, chunk), "")
          << size << " / " << chunk;
    }
  }
}

// The parallel parser gives what one pipeline gives record by record: same results in the
// same order, same summary and notices, for every thread count and chunk size.
TEST(ParallelParseTest, EqualsOnePipelineForAnyThreadsAndChunks) {
  keys::KeyStore store = *keys::KeyStore::Parse(
      absl::StrCat("key k AES128 ", testing::kStaticKeyHex, "\ntap static key=k\n"), "test");
  TapPipelineConfig config;
  config.keys = &store;
  config.reconciler.dedup_window_seconds = 500;
  std::mt19937 rng(8);
  std::string text;
  std::vector<Bytes> made;
  for (int i = 0; i < 3000; ++i) {
    testing::RecordSpec s;
    s.timestamp =
        1700000000 + static_cast<uint32_t>(i) * 3 + (i % 500 == 0 ? 100000 : 0);  // clock jumps
    s.terminal = 1 + static_cast<uint32_t>(rng() % 5);
    s.uid[6] = static_cast<uint8_t>(rng() % 7);
    Bytes r = i % 9 == 0 && !made.empty() ? made[rng() % made.size()]  // duplicates
                                          : testing::MakeRecord(s);
    if (i % 13 == 0) r[kMacOffset] ^= 1;  // bad MAC
    made.push_back(r);
    text += i % 31 == 0 ? "xyz\n" : HexEncode(r) + "\n";  // unreadable lines
    if (i % 17 == 0) text += "# note\n";
  }
  auto reference = *TapPipeline::Create(config);
  std::vector<std::string> expect;
  {
    std::istringstream in(text);
    auto reader = NewTapInputReader(InputFormat::kHex, &in);
    TapInputRecord rec;
    TapResult r;
    for (uint64_t i = 0; *reader->Next(&rec); ++i) {
      if (!rec.error.empty()) {
        reference->ProcessUnreadable(i, {}, rec.error, &r);
      } else {
        reference->Process(i, rec.bytes, std::nullopt, &r);
      }
      expect.push_back(absl::StrCat(r.index, " ", r.status, " ", r.warnings, " ", r.input_error,
                                    " ", HexEncode(r.raw)));
    }
  }
  for (int threads : {1, 2, 4}) {
    for (size_t chunk : {64, 4096, 1 << 20}) {
      auto pipeline = *TapPipeline::Create(config);
      auto parser = *ParallelTapParser::Create(config, pipeline.get(), threads, chunk);
      std::istringstream in(text);
      std::vector<std::string> got;
      ASSERT_TRUE(parser
                      ->Run(InputFormat::kHex, &in,
                            [&](const TapResult& r) {
                              got.push_back(absl::StrCat(r.index, " ", r.status, " ", r.warnings,
                                                         " ", r.input_error, " ",
                                                         HexEncode(r.raw)));
                            })
                      .ok());
      ASSERT_EQ(got, expect) << threads << " threads, chunk " << chunk;
      EXPECT_EQ(pipeline->summary().ToText(), reference->summary().ToText());
      EXPECT_EQ(parser->bytes_read(), text.size());
    }
  }
  // RunEncoded: the text encoded on the workers, written in input order, equals the lines of
  // the reference, with the records counted as they are written.
  std::string expect_text;
  for (const std::string& line : expect) absl::StrAppend(&expect_text, line, "\n");
  for (int threads : {1, 2, 4}) {
    for (size_t chunk : {64, 4096, 1 << 20}) {
      auto pipeline = *TapPipeline::Create(config);
      auto parser = *ParallelTapParser::Create(config, pipeline.get(), threads, chunk);
      std::istringstream in(text);
      std::string got;
      uint64_t last_count = 0;
      ASSERT_TRUE(parser
                      ->RunEncoded(
                          InputFormat::kHex, &in,
                          [&](size_t worker, const TapResult* results, size_t n, TextBuffer* out) {
                            EXPECT_LT(worker, parser->workers());
                            for (size_t i = 0; i < n; ++i) {
                              const TapResult& r = results[i];
                              out->Append(absl::StrCat(r.index, " ", r.status, " ", r.warnings, " ",
                                                       r.input_error, " ", HexEncode(r.raw), "\n"));
                            }
                          },
                          [&](absl::string_view written, uint64_t records) {
                            got.append(written.data(), written.size());
                            EXPECT_GE(records, last_count);
                            last_count = records;
                          })
                      .ok());
      ASSERT_EQ(got, expect_text) << threads << " threads, chunk " << chunk;
      EXPECT_EQ(last_count, expect.size());
      EXPECT_EQ(pipeline->summary().ToText(), reference->summary().ToText());
    }
  }
}

}  // namespace
}  // namespace desfired::tap
