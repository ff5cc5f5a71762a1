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
#include "tests/unit/core/tap/test_records.h"

namespace desfired::tap {
namespace {

constexpr char kAesKey[] = "000102030405060708090a0b0c0d0e0f";
constexpr char kAesKey2[] = "f0e1d2c3b4a5968778695a4b3c2d1e0f";

struct Scenario {
  std::string name;
  std::string key_file;
  // The key type and bytes whose MAC a record from `terminal` with card `uid` must carry, and
  // the algorithm; nullopt when no rule applies.
  std::function<std::optional<std::pair<crypto::KeyType, Bytes>>(uint32_t terminal,
                                                                 const uint8_t* uid)>
      key_for;
  std::function<crypto::MacAlgorithm(uint32_t terminal)> algorithm_for;
};

// A system id short enough for the DES family's 15-byte diversification input.
constexpr char kShortSystemHex[] = "3042f5";

Bytes CardKey(crypto::KeyType type, const char* master_hex, const uint8_t* uid) {
  Bytes input(uid, uid + kUidDiversifyLength);
  const Bytes system =
      *HexDecode(type == crypto::KeyType::kAes128 ? testing::kCardSystemHex : kShortSystemHex);
  input.insert(input.end(), system.begin(), system.end());
  return *crypto::DiversifyKey(type, *HexDecode(master_hex), input);
}

std::vector<Scenario> Scenarios() {
  using crypto::KeyType;
  using crypto::MacAlgorithm;
  std::vector<Scenario> out;
  auto fixed = [](KeyType type, const char* hex) {
    return [type, hex](uint32_t, const uint8_t*) {
      return std::optional(std::pair(type, *HexDecode(hex)));
    };
  };
  auto always = [](MacAlgorithm a) { return [a](uint32_t) { return a; }; };
  out.push_back({"static AES", absl::StrCat("key s AES128 ", kAesKey, "\ntap static key=s\n"),
                 fixed(KeyType::kAes128, kAesKey), always(MacAlgorithm::kAes128Cmac)});
  out.push_back({"static EV2",
                 absl::StrCat("key s AES128 ", kAesKey, "\ntap static key=s mac=AES128_CMAC_EV2\n"),
                 fixed(KeyType::kAes128, kAesKey), always(MacAlgorithm::kAes128CmacEv2)});
  out.push_back({"static 2TDEA",
                 absl::StrCat("key s 2TDEA ", testing::kTdes2KeyHex, "\ntap static key=s\n"),
                 fixed(KeyType::k2Tdea, testing::kTdes2KeyHex), always(MacAlgorithm::kTdesCmac)});
  // Terminals 1..4 with their own keys; the others under no rule.
  out.push_back(
      {"terminal",
       absl::StrCat("key a AES128 ", kAesKey, "\nkey b AES128 ", kAesKey2, "\nkey c 2TDEA ",
                    testing::kTdes2KeyHex, "\nkey d 3TDEA ", testing::kTdes3KeyHex,
                    "\ntap terminal 1 key=a\ntap terminal 2 key=b mac=AES128_CMAC_EV2\n"
                    "tap terminal 3 key=c\ntap terminal 4 key=d\n"),
       [](uint32_t t, const uint8_t*) -> std::optional<std::pair<KeyType, Bytes>> {
         switch (t) {
           case 1:
             return std::pair(KeyType::kAes128, *HexDecode(kAesKey));
           case 2:
             return std::pair(KeyType::kAes128, *HexDecode(kAesKey2));
           case 3:
             return std::pair(KeyType::k2Tdea, *HexDecode(testing::kTdes2KeyHex));
           case 4:
             return std::pair(KeyType::k3Tdea, *HexDecode(testing::kTdes3KeyHex));
         }
         return std::nullopt;
       },
       [](uint32_t t) {
         return t == 2   ? MacAlgorithm::kAes128CmacEv2
                : t >= 3 ? MacAlgorithm::kTdesCmac
                         : MacAlgorithm::kAes128Cmac;
       }});
  out.push_back({"per-card AES",
                 absl::StrCat("key m AES128 ", testing::kCardMasterHex,
                              "\ntap card key=m system=", testing::kCardSystemHex, "\n"),
                 [](uint32_t, const uint8_t* uid) {
                   return std::optional(std::pair(
                       KeyType::kAes128, CardKey(KeyType::kAes128, testing::kCardMasterHex, uid)));
                 },
                 always(MacAlgorithm::kAes128Cmac)});
  out.push_back({"per-card 2TDEA",
                 absl::StrCat("key m 2TDEA ", testing::kTdes2KeyHex,
                              "\ntap card key=m system=", kShortSystemHex, "\n"),
                 [](uint32_t, const uint8_t* uid) {
                   return std::optional(std::pair(
                       KeyType::k2Tdea, CardKey(KeyType::k2Tdea, testing::kTdes2KeyHex, uid)));
                 },
                 always(MacAlgorithm::kTdesCmac)});
  // Terminal 1 by its own key, every other terminal by the per-card key (the static rule is
  // shadowed by the card rule).
  out.push_back(
      {"terminal + per-card + static",
       absl::StrCat("key t AES128 ", kAesKey, "\nkey m AES128 ", testing::kCardMasterHex,
                    "\nkey s AES128 ", kAesKey2, "\ntap terminal 1 key=t\ntap card key=m system=",
                    testing::kCardSystemHex, "\ntap static key=s\n"),
       [](uint32_t t, const uint8_t* uid) {
         if (t == 1) return std::optional(std::pair(KeyType::kAes128, *HexDecode(kAesKey)));
         return std::optional(
             std::pair(KeyType::kAes128, CardKey(KeyType::kAes128, testing::kCardMasterHex, uid)));
       },
       always(MacAlgorithm::kAes128Cmac)});
  return out;
}

// Random records under `s`: terminals 1..6, cards from a pool of 40 (recurring) or new, about
// a third with a wrong MAC; a few too short, too long or of a bad type. *valid[i] says whether
// record i's MAC is right.
std::vector<Bytes> MakeRecords(const Scenario& s, size_t n, std::mt19937& rng,
                               std::vector<bool>* valid) {
  std::vector<Bytes> out;
  valid->clear();
  for (size_t i = 0; i < n; ++i) {
    testing::RecordSpec spec;
    spec.type = static_cast<uint8_t>(1 + rng() % 3);
    spec.timestamp = 1700000000 + static_cast<uint32_t>(rng() % 100000);
    spec.terminal = 1 + static_cast<uint32_t>(rng() % 6);
    const uint32_t card =
        rng() % 2 == 0 ? static_cast<uint32_t>(rng() % 40) : static_cast<uint32_t>(1000 + i);
    for (int b = 0; b < 4; ++b) spec.uid[3 + b] = static_cast<uint8_t>(card >> (8 * (3 - b)));
    Bytes r = testing::MakeRecord(spec);
    bool ok = false;
    if (auto key = s.key_for(spec.terminal, spec.uid)) {
      auto cmac = *crypto::Cmac::Create(key->first, key->second);
      MacVerifier::ComputeTapMac(cmac, s.algorithm_for(spec.terminal), r.data(), &r[kMacOffset]);
      ok = true;
    }
    if (rng() % 3 == 0) {
      r[kMacOffset + rng() % kMacLength] ^= static_cast<uint8_t>(1 + rng() % 255);
      ok = false;
    }
    testing::FixCrc(&r);
    switch (rng() % 40) {
      case 0:
        r.resize(20);  // too short: REJECTED
        break;
      case 1:
        r.push_back(0);  // too long: REJECTED
        break;
      case 2:
        r[kTypeOffset] = 9;  // bad type: REJECTED (and the MAC no longer matches)
        ok = false;
        break;
      case 3:
        r.resize(29);  // truncated: still verified
        break;
    }
    out.push_back(std::move(r));
    valid->push_back(ok);
  }
  return out;
}

keys::KeyStore Store(const std::string& text) {
  absl::StatusOr<keys::KeyStore> s = keys::KeyStore::Parse(text, "test");
  EXPECT_TRUE(s.ok()) << s.status();
  return std::move(*s);
}

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
