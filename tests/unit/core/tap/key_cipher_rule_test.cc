// Tap rules over keys bound to a crypto::KeyCipher (what a token key is once bound), without a
// token: a cipher that computes in memory gives the file key's outcomes for every scenario; a
// cipher that fails (a token that is gone) leaves each record named with its key, not verified
// and key_unavailable, which the parser reports as MAC_NOT_VERIFIED, not as a bad MAC.
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_replace.h"
#include "core/crypto/key_cipher.h"
#include "core/tap/parser.h"
#include "gtest/gtest.h"
#include "tests/unit/core/tap/scenarios.h"

namespace desfired::tap {
namespace {

class FailingCipher final : public crypto::KeyCipher {
 public:
  explicit FailingCipher(crypto::KeyType type) : type_(type) {}
  crypto::KeyType type() const override { return type_; }
  absl::Status EncryptBlocks(const uint8_t*, uint8_t*, size_t) const override { return Gone(); }
  absl::Status DecryptBlocks(const uint8_t*, uint8_t*, size_t) const override { return Gone(); }
  absl::Status CbcEncrypt(MutableByteSpan, MutableByteSpan) const override { return Gone(); }
  absl::Status CbcDecrypt(MutableByteSpan, MutableByteSpan) const override { return Gone(); }

 private:
  static absl::Status Gone() { return absl::UnavailableError("the token is gone"); }
  crypto::KeyType type_;
};

// `key_file` with every key line's value replaced by a pkcs11: URI, each key bound to a cipher
// from `make` (given the file key).
keys::KeyStore BoundStore(
    const std::string& key_file,
    const std::function<std::shared_ptr<const crypto::KeyCipher>(const keys::Key&)>& make) {
  const keys::KeyStore file = testing::Store(key_file);
  std::string text = key_file;
  for (const auto& key : file.keys()) {
    text = absl::StrReplaceAll(
        text, {{HexEncode(key->value.view()), "pkcs11:token=t;object=" + key->name}});
  }
  keys::KeyStore store = testing::Store(text);
  EXPECT_TRUE(
      store
          .BindTokenKeys(
              [&](const keys::Key& k) -> absl::StatusOr<std::shared_ptr<const crypto::KeyCipher>> {
                return make(*file.Find(k.name));
              })
          .ok());
  return store;
}

// Random records of a scenario (testing::MakeRecords), those of a size the verifier takes.
struct Corpus {
  Corpus(const testing::Scenario& s, size_t n, std::mt19937& rng) {
    std::vector<bool> valid;
    recs = testing::MakeRecords(s, n, rng, &valid);
    for (const Bytes& r : recs) {
      if (r.size() < kMinRecordSize || r.size() > kRecordSize) continue;
      ptrs.push_back(r.data());
      terminals.push_back(LoadLe24(r.data() + kTerminalOffset));
    }
  }
  std::vector<MacVerifier::Outcome> Verify(MacVerifier& v) const {
    std::vector<MacVerifier::Outcome> out(ptrs.size());
    v.VerifyBatch(ptrs.data(), terminals.data(), ptrs.size(), out.data());
    return out;
  }
  std::vector<Bytes> recs;
  std::vector<const uint8_t*> ptrs;
  std::vector<uint32_t> terminals;
};

TEST(KeyCipherRuleTest, InMemoryCiphersGiveTheFileKeysOutcomes) {
  std::mt19937 rng(30);
  for (const testing::Scenario& s : testing::Scenarios()) {
    SCOPED_TRACE(s.name);
    const Corpus corpus(s, 500, rng);
    const keys::KeyStore file = testing::Store(s.key_file);
    const keys::KeyStore bound = BoundStore(s.key_file, [](const keys::Key& k) {
      return std::make_shared<crypto::LocalKeyCipher>(
          *crypto::BlockCipher::Create(k.type, k.value.view()));
    });
    MacVerifier a = *MacVerifier::Create(file);
    MacVerifier b = *MacVerifier::Create(bound);
    const std::vector<MacVerifier::Outcome> expect = corpus.Verify(a), got = corpus.Verify(b);
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i].verified, expect[i].verified) << i;
      ASSERT_FALSE(got[i].key_unavailable) << i;
      ASSERT_EQ(got[i].key_name == nullptr, expect[i].key_name == nullptr) << i;
    }
  }
}

TEST(KeyCipherRuleTest, AFailingTokenLeavesRecordsNotVerifiedAndNamed) {
  std::mt19937 rng(31);
  for (const testing::Scenario& s : testing::Scenarios()) {
    SCOPED_TRACE(s.name);
    const Corpus corpus(s, 300, rng);
    const keys::KeyStore bound = BoundStore(
        s.key_file, [](const keys::Key& k) { return std::make_shared<FailingCipher>(k.type); });
    MacVerifier v = *MacVerifier::Create(bound);
    const std::vector<MacVerifier::Outcome> got = corpus.Verify(v);
    size_t named = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_FALSE(got[i].verified) << i;
      EXPECT_EQ(got[i].key_unavailable, got[i].key_name != nullptr) << i;
      named += got[i].key_name != nullptr;
    }
    EXPECT_GT(named, 0u);
    // The parser reports them MAC_NOT_VERIFIED with the key named.
    TapParser parser(ParserOptions{}, &v);
    for (const Bytes& rec : corpus.recs) {
      if (rec.size() != kRecordSize) continue;
      TapResult r;
      parser.Parse(0, rec, &r);
      if (r.key_name == nullptr) continue;
      EXPECT_TRUE(r.has(TapWarning::kMacNotVerified));
      EXPECT_FALSE(r.has(TapWarning::kMacVerificationFailed));
      EXPECT_EQ(r.status, TapStatus::kFlagged);
      break;
    }
  }
}

}  // namespace
}  // namespace desfired::tap
