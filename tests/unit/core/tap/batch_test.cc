// Batched MAC verification (MacVerifier::VerifyBatch), batched parsing (TapParser::ParseBatch)
// and the batched pipeline (TapPipeline::ProcessBatch) against the one-record paths, for every
// key rule (terminal, static, per-card AN10922), every batch size including 1 and partial
// batches, and valid and invalid MACs mixed.
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/crypto/an10922.h"
#include "core/keys/key_store.h"
#include "core/tap/parser.h"
#include "core/tap/pipeline.h"
#include "gtest/gtest.h"
#include "tests/unit/core/tap/scenarios.h"
#include "tests/unit/core/tap/test_records.h"

namespace desfired::tap {
namespace {

using testing::MakeRecords;
using testing::Scenario;
using testing::Scenarios;
using testing::Store;

const size_t kBatchSizes[] = {1, 2, 3, 17, 255, 256, 257, 1000};

TEST(BatchTest, VerifyBatchEqualsVerifyForEveryRuleAndBatchSize) {
  std::mt19937 rng(21);
  for (const Scenario& s : Scenarios()) {
    const keys::KeyStore store = Store(s.key_file);
    std::vector<bool> valid;
    const std::vector<Bytes> recs = MakeRecords(s, 700, rng, &valid);
    // The one-record path, as the reference.
    MacVerifier one = *MacVerifier::Create(store);
    std::vector<MacVerifier::Outcome> expect;
    std::vector<const uint8_t*> ptrs;
    std::vector<uint32_t> terminals;
    for (size_t i = 0; i < recs.size(); ++i) {
      if (recs[i].size() < kMinRecordSize || recs[i].size() > kRecordSize) continue;
      ptrs.push_back(recs[i].data());
      terminals.push_back(LoadLe24(recs[i].data() + kTerminalOffset));
      expect.push_back(one.Verify(ptrs.back(), terminals.back()));
      const bool has_rule = s.key_for(terminals.back(), recs[i].data() + kUidOffset).has_value();
      ASSERT_EQ(expect.back().key_name != nullptr, has_rule) << s.name << " record " << i;
      ASSERT_EQ(expect.back().verified, valid[i]) << s.name << " record " << i;
    }
    for (size_t batch : kBatchSizes) {
      MacVerifier batched = *MacVerifier::Create(store);
      std::vector<MacVerifier::Outcome> got(ptrs.size());
      for (size_t first = 0; first < ptrs.size(); first += batch) {
        const size_t n = std::min(batch, ptrs.size() - first);
        batched.VerifyBatch(&ptrs[first], &terminals[first], n, &got[first]);
      }
      for (size_t i = 0; i < ptrs.size(); ++i) {
        ASSERT_EQ(got[i].verified, expect[i].verified) << s.name << " batch " << batch << " " << i;
        ASSERT_EQ(got[i].key_name, expect[i].key_name) << s.name << " batch " << batch;
        ASSERT_EQ(got[i].algorithm, expect[i].algorithm) << s.name << " batch " << batch;
      }
    }
  }
}

// The published records of test_records.h (computed independently, AN10922 §2.2.1 input for
// the per-card one) verify inside batches of random records and fail with one bit changed.
TEST(BatchTest, IndependentRecordsVerifyInsideBatches) {
  struct Case {
    std::string key_file;
    const char* record;
  };
  const Case cases[] = {
      {absl::StrCat("key e AES128 ", testing::kEv2KeyHex,
                    "\ntap static key=e mac=AES128_CMAC_EV2\n"),
       testing::kEv2RecordHex},
      {absl::StrCat("key t 2TDEA ", testing::kTdes2KeyHex, "\ntap static key=t\n"),
       testing::kTdes2RecordHex},
      {absl::StrCat("key t 3TDEA ", testing::kTdes3KeyHex, "\ntap static key=t\n"),
       testing::kTdes3RecordHex},
      {absl::StrCat("key m AES128 ", testing::kCardMasterHex,
                    "\ntap card key=m system=", testing::kCardSystemHex, "\n"),
       testing::kCardRecordHex},
  };
  std::mt19937 rng(5);
  for (const Case& c : cases) {
    const keys::KeyStore store = Store(c.key_file);
    MacVerifier v = *MacVerifier::Create(store);
    const Bytes good = *HexDecode(c.record);
    Bytes bad = good;
    bad[kMacOffset + 3] ^= 0x10;
    std::vector<Bytes> recs;
    for (size_t i = 0; i < 300; ++i) {
      Bytes r(kRecordSize);
      for (uint8_t& b : r) b = static_cast<uint8_t>(rng());
      recs.push_back(i % 7 == 0 ? good : i % 7 == 1 ? bad : r);
    }
    std::vector<const uint8_t*> ptrs;
    std::vector<uint32_t> terminals;
    for (const Bytes& r : recs) {
      ptrs.push_back(r.data());
      terminals.push_back(LoadLe24(r.data() + kTerminalOffset));
    }
    std::vector<MacVerifier::Outcome> got(recs.size());
    v.VerifyBatch(ptrs.data(), terminals.data(), recs.size(), got.data());
    for (size_t i = 0; i < recs.size(); ++i) {
      EXPECT_EQ(got[i].verified, i % 7 == 0) << c.record << " at " << i;
    }
  }
}

void ExpectSameResult(const TapResult& a, const TapResult& b, const std::string& where) {
  EXPECT_EQ(a.index, b.index) << where;
  EXPECT_EQ(a.status, b.status) << where;
  EXPECT_EQ(a.warnings, b.warnings) << where;
  EXPECT_EQ(a.reject, b.reject) << where;
  EXPECT_EQ(a.reject_detail, b.reject_detail) << where;
  EXPECT_EQ(a.key_name, b.key_name) << where;
  EXPECT_EQ(a.mac_algorithm, b.mac_algorithm) << where;
  EXPECT_EQ(a.has_clock_offset, b.has_clock_offset) << where;
  EXPECT_EQ(a.clock_offset, b.clock_offset) << where;
  EXPECT_EQ(a.corrected_time, b.corrected_time) << where;
  EXPECT_EQ(a.raw.data(), b.raw.data()) << where;
}

TEST(BatchTest, ParseBatchAndProcessBatchEqualTheOneRecordPaths) {
  std::mt19937 rng(9);
  for (const Scenario& s : Scenarios()) {
    const keys::KeyStore store = Store(s.key_file);
    std::vector<bool> valid;
    std::vector<Bytes> recs = MakeRecords(s, 600, rng, &valid);
    for (size_t i = 10; i < recs.size(); i += 11) recs[i] = recs[i - 3];  // duplicates
    std::vector<ByteSpan> spans(recs.begin(), recs.end());
    std::vector<std::optional<int64_t>> backend(recs.size());
    for (size_t i = 0; i < recs.size(); ++i) {
      if (i % 4 != 0 && recs[i].size() >= 8) {
        backend[i] =
            int64_t{LoadLe32(recs[i].data() + kTimestampOffset)} - static_cast<int64_t>(rng() % 20);
      }
    }
    TapPipelineConfig config;
    config.keys = &store;
    auto one = *TapPipeline::Create(config);
    std::vector<TapResult> expect(recs.size());
    for (size_t i = 0; i < recs.size(); ++i) one->Process(i, spans[i], backend[i], &expect[i]);
    for (size_t batch : kBatchSizes) {
      auto batched = *TapPipeline::Create(config);
      MacVerifier verifier = *MacVerifier::Create(store);
      TapParser parser(ParserOptions{}, &verifier);
      std::vector<TapResult> got(recs.size()), parsed(recs.size());
      for (size_t first = 0; first < recs.size(); first += batch) {
        const size_t n = std::min(batch, recs.size() - first);
        batched->ProcessBatch(first, &spans[first], &backend[first], n, &got[first]);
        parser.ParseBatch(first, &spans[first], n, &parsed[first]);
      }
      auto split = *TapPipeline::Create(config);  // parsed apart, reconciled in order
      for (size_t i = 0; i < recs.size(); ++i) {
        const std::string where = absl::StrCat(s.name, " batch ", batch, " record ", i);
        ExpectSameResult(got[i], expect[i], where);
        split->Reconcile(backend[i], &parsed[i]);
        ExpectSameResult(parsed[i], expect[i], where);
      }
      EXPECT_EQ(batched->summary().ToText(), one->summary().ToText());
      EXPECT_EQ(split->summary().ToText(), one->summary().ToText());
    }
  }
}

}  // namespace
}  // namespace desfired::tap
