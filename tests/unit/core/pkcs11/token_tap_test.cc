// Tap MAC verification with the keys in a SoftHSM2 token against the same keys in the file: for
// every tap rule kind of the tap test scenarios (static AES / EV2 / 2TDEA, terminal rules, per-card
// AN10922 masters of AES and 2TDEA, terminal + per-card + static), over random records with valid
// and wrong MACs, recurring and new cards, in several batch sizes, the outcomes are the same.
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/keys/key_store.h"
#include "core/pkcs11/bind.h"
#include "core/tap/format.h"
#include "core/tap/mac_verifier.h"
#include "gtest/gtest.h"
#include "tests/testing/softhsm.h"
#include "tests/unit/core/tap/scenarios.h"

namespace desfired::pkcs11 {
namespace {

using tap::MacVerifier;

// The outcomes of `records` in batches of `batch` records.
std::vector<MacVerifier::Outcome> VerifyAll(MacVerifier& v, const std::vector<const uint8_t*>& recs,
                                            const std::vector<uint32_t>& terminals, size_t batch) {
  std::vector<MacVerifier::Outcome> out(recs.size());
  for (size_t first = 0; first < recs.size(); first += batch) {
    const size_t n = std::min(batch, recs.size() - first);
    v.VerifyBatch(&recs[first], &terminals[first], n, &out[first]);
  }
  return out;
}

TEST(TokenTapTest, TokenKeysVerifyTapRecordsAsFileKeysDo) {
  if (!testing::SoftHsmToken::Available()) GTEST_SKIP() << "SoftHSM2 is not installed";
  std::mt19937 rng(18);
  for (const tap::testing::Scenario& s : tap::testing::Scenarios()) {
    SCOPED_TRACE(s.name);
    std::vector<bool> valid;
    const std::vector<Bytes> all = tap::testing::MakeRecords(s, 600, rng, &valid);
    std::vector<const uint8_t*> recs;
    std::vector<uint32_t> terminals;
    size_t wrong = 0;
    for (size_t i = 0; i < all.size(); ++i) {
      if (all[i].size() < tap::kMinRecordSize || all[i].size() > tap::kRecordSize) continue;
      recs.push_back(all[i].data());
      terminals.push_back(LoadLe24(all[i].data() + tap::kTerminalOffset));
      wrong += !valid[i];
    }
    ASSERT_GT(wrong, 50u);  // the corpus has MAC failures

    absl::StatusOr<std::unique_ptr<testing::SoftHsmToken>> hsm =
        testing::SoftHsmToken::CreateTemp();
    ASSERT_TRUE(hsm.ok()) << hsm.status();
    absl::StatusOr<std::string> token_file = (*hsm)->ImportKeys(s.key_file);  // every key moves
    ASSERT_TRUE(token_file.ok()) << token_file.status();
    const keys::KeyStore file_store = tap::testing::Store(s.key_file);
    keys::KeyStore token_store = tap::testing::Store(*token_file);
    // Not bound yet: a token key cannot verify.
    absl::StatusOr<MacVerifier> unbound = MacVerifier::Create(token_store);
    ASSERT_FALSE(unbound.ok());
    EXPECT_EQ(unbound.status().code(), absl::StatusCode::kFailedPrecondition);
    {
      TokenKeyBinder binder;
      ASSERT_TRUE(binder.Bind(token_store).ok());
    }
    for (const auto& key : token_store.keys()) ASSERT_TRUE(key->in_token()) << key->name;

    MacVerifier file_v = *MacVerifier::Create(file_store);
    const std::vector<MacVerifier::Outcome> expect = VerifyAll(file_v, recs, terminals, 256);
    for (size_t batch : {size_t{1}, size_t{97}, size_t{256}, size_t{600}}) {
      MacVerifier token_v = *MacVerifier::Create(token_store);  // a fresh per-card cache
      const std::vector<MacVerifier::Outcome> got = VerifyAll(token_v, recs, terminals, batch);
      for (size_t i = 0; i < recs.size(); ++i) {
        ASSERT_EQ(got[i].verified, expect[i].verified) << "batch " << batch << " record " << i;
        ASSERT_FALSE(got[i].key_unavailable) << "batch " << batch << " record " << i;
        ASSERT_EQ(got[i].key_name == nullptr, expect[i].key_name == nullptr) << i;
        if (got[i].key_name != nullptr) {
          EXPECT_EQ(*got[i].key_name, *expect[i].key_name) << i;
        }
        EXPECT_EQ(got[i].algorithm, expect[i].algorithm) << i;
      }
    }
  }
}

}  // namespace
}  // namespace desfired::pkcs11
