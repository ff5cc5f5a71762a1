// Originality signatures (core/desfire/originality.h): every vector of ev3_vectors.md §5
// (ReadSig 3C, ECDSA secp224r1 over the raw UID) from originality_vectors.txt, each with its
// source as the file gives it;
// the ReadSig answer decoder and DesfireCard::ReadSignature over scripted card answers.
#include "core/desfire/originality.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "core/apdu/scripted_transport.h"
#include "core/apdu/status_payload.h"
#include "core/crypto/ecdsa_p224.h"
#include "core/desfire/card.h"
#include "test_util.h"
#include "tests/unit/vector_file.h"

namespace desfired::desfire {
namespace {

using testing::H;
using testing::ReasonOf;

// One vector of originality_vectors.txt.
struct SigVector {
  std::string id;
  CardProduct product;
  std::string uid;
  std::string signature;
  bool valid;
  std::string key;  // the key that verifies (valid rows)
  std::string source;
};

const std::vector<SigVector>& Vectors() {
  static const std::vector<SigVector>* const vectors = [] {
    const std::map<std::string, std::pair<CardProduct, std::string>> products = {
        {"ev1", {CardProduct::kDesfireEv1, "NXP NTAG 413 DNA / DESFire EV1"}},
        {"ev2", {CardProduct::kDesfireEv2, "NXP DESFire EV2"}},
        {"ev2xl", {CardProduct::kDesfireEv2Xl, "NXP DESFire EV2 XL"}},
        {"ev3", {CardProduct::kDesfireEv3, "NXP DESFire EV3"}},
        {"light", {CardProduct::kDesfireLight, "NXP DESFire Light"}},
        {"ntag424", {CardProduct::kNtag424Dna, "NXP NTAG 424 DNA"}},
    };
    auto* out = new std::vector<SigVector>();
    for (const test_util::VectorRow& row : test_util::ReadVectorFile(
             std::string(SOURCE_DIR) + "/tests/unit/core/desfire/originality_vectors.txt")) {
      const std::vector<std::string>& w = row.words;
      EXPECT_EQ(w.size(), 6u) << row.source;
      if (w.size() != 6) continue;
      out->push_back({w[0], products.at(w[1]).first, w[2], w[3], w[4] == "1",
                      w[5].empty() ? "" : products.at(w[5]).second, row.source});
    }
    return out;
  }();
  return *vectors;
}

const SigVector& Find(absl::string_view id) {
  for (const SigVector& v : Vectors()) {
    if (v.id == id) return v;
  }
  ADD_FAILURE() << "no vector " << id;
  return Vectors().front();
}

TEST(OriginalityTest, EveryPublishedVector) {
  int valid = 0;
  int negative = 0;
  for (const SigVector& v : Vectors()) {
    SCOPED_TRACE(v.id + " — " + v.source);
    const OriginalityResult r = VerifyOriginality(v.product, H(v.uid), H(v.signature));
    if (v.valid) {
      ++valid;
      EXPECT_EQ(r.verdict, OriginalityVerdict::kGenuine);
      EXPECT_EQ(r.key_name, v.key);
    } else {
      ++negative;
      EXPECT_EQ(r.verdict, OriginalityVerdict::kNotGenuine);
      EXPECT_TRUE(r.key_name.empty());
    }
  }
  EXPECT_EQ(valid, 13);
  EXPECT_EQ(negative, 6);
}

// §5: "Each sample verifies under its own key only (checked against all six keys)".
TEST(OriginalityTest, EachValidSampleVerifiesUnderItsOwnKeyOnly) {
  for (const SigVector& v : Vectors()) {
    if (!v.valid) continue;
    SCOPED_TRACE(v.id + " — " + v.source);
    const Bytes digest = OriginalityDigest(H(v.uid));
    int verifying = 0;
    for (const OriginalityKey& key : NxpOriginalityKeys()) {
      if (key.key.Verify(digest, H(v.signature))) {
        ++verifying;
        EXPECT_EQ(key.name, v.key);
      }
    }
    EXPECT_EQ(verifying, 1);
  }
}

// §5: the digest is the UID left-padded to 28 bytes; right-padding verifies none.
TEST(OriginalityTest, DigestIsTheUidLeftPadded) {
  const SigVector& v = Find("orig-pm3-01");
  EXPECT_EQ(HexEncode(OriginalityDigest(H(v.uid))),
            "0000000000000000000000000000000000000000000439556acb6480");
  Bytes right = H(v.uid);
  right.resize(28, 0);
  for (const OriginalityKey& key : NxpOriginalityKeys()) {
    EXPECT_FALSE(key.key.Verify(right, H(v.signature))) << key.name;
  }
}

// orig-neg-wrong-key spelled out: the EV3 sample under the DESFire EV2 key.
TEST(OriginalityTest, WrongKeyDirectly) {
  const SigVector& ev3 = Find("orig-pm3-09");
  for (const OriginalityKey* key : NxpKeysFor(CardProduct::kDesfireEv2)) {
    EXPECT_FALSE(key->key.Verify(OriginalityDigest(H(ev3.uid)), H(ev3.signature))) << key->name;
  }
}

// §7: the two keys labelled for NTAG 424 DNA and DESFire EV2 are both tried for either.
TEST(OriginalityTest, FamiliesTryEveryKeyOfTheLabel) {
  auto names = [](CardProduct p) {
    std::vector<std::string> out;
    for (const OriginalityKey* k : NxpKeysFor(p)) out.push_back(k->name);
    return out;
  };
  EXPECT_EQ(names(CardProduct::kNtag424Dna),
            (std::vector<std::string>{"NXP NTAG 424 DNA", "NXP DESFire EV2"}));
  EXPECT_EQ(names(CardProduct::kDesfireEv2),
            (std::vector<std::string>{"NXP DESFire EV2", "NXP NTAG 424 DNA"}));
  EXPECT_TRUE(names(CardProduct::kDesfireEv0).empty());
  EXPECT_TRUE(names(CardProduct::kUnknown).empty());
  EXPECT_EQ(NxpOriginalityKeys().size(), 6u);
}

// A forged signature on a card of every family: each valid sample with one bit of s flipped
// (and, separately, of r) is not genuine, and every key of the family was tried, in order.
TEST(OriginalityTest, ForgedSignatureOfEveryFamilyTriesEveryKey) {
  std::map<CardProduct, int> forged;
  for (const SigVector& v : Vectors()) {
    if (!v.valid) continue;
    SCOPED_TRACE(v.id + " — " + v.source);
    std::vector<std::string> family;
    for (const OriginalityKey* k : NxpKeysFor(v.product)) family.push_back(k->name);
    for (size_t byte : {size_t{0}, size_t{27}, size_t{28}, size_t{55}}) {
      Bytes sig = H(v.signature);
      sig[byte] ^= 0x01;
      const OriginalityResult r = VerifyOriginality(v.product, H(v.uid), sig);
      EXPECT_EQ(r.verdict, OriginalityVerdict::kNotGenuine) << "byte " << byte;
      EXPECT_TRUE(r.key_name.empty());
      EXPECT_EQ(r.keys_tried, family);
    }
    ++forged[v.product];
  }
  for (CardProduct p :
       {CardProduct::kDesfireEv1, CardProduct::kDesfireEv2, CardProduct::kDesfireEv2Xl,
        CardProduct::kDesfireEv3, CardProduct::kDesfireLight, CardProduct::kNtag424Dna}) {
    EXPECT_GT(forged[p], 0) << "no sample to forge for product " << static_cast<int>(p);
  }
}

// A genuine card names the key that verifies and lists the keys tried up to it: the NTAG 424
// DNA sample on a card naming itself a DESFire Light verifies under the second key.
TEST(OriginalityTest, GenuineListsKeysTriedUpToTheMatch) {
  const SigVector& v = Find("orig-an12196-8.2");
  const OriginalityResult r =
      VerifyOriginality(CardProduct::kDesfireLight, H(v.uid), H(v.signature));
  EXPECT_EQ(r.verdict, OriginalityVerdict::kGenuine);
  EXPECT_EQ(r.key_name, "NXP NTAG 424 DNA");
  EXPECT_EQ(r.keys_tried, (std::vector<std::string>{"NXP DESFire Light", "NXP NTAG 424 DNA"}));
}

TEST(OriginalityTest, UnknownProductAndExtraKeys) {
  auto pair = crypto::GenerateP224KeyPair();
  ASSERT_TRUE(pair.ok()) << pair.status();
  const Bytes uid = H("04063F72633480");
  auto sig = crypto::P224Sign(pair->private_key, OriginalityDigest(uid));
  ASSERT_TRUE(sig.ok()) << sig.status();

  // No NXP key for an unknown product, no extra key: unknown product.
  OriginalityResult r = VerifyOriginality(CardProduct::kUnknown, uid, *sig);
  EXPECT_EQ(r.verdict, OriginalityVerdict::kUnknownProduct);
  EXPECT_TRUE(r.keys_tried.empty());
  // A known product whose NXP key does not verify: not genuine.
  r = VerifyOriginality(CardProduct::kDesfireEv3, uid, *sig);
  EXPECT_EQ(r.verdict, OriginalityVerdict::kNotGenuine);
  EXPECT_EQ(r.keys_tried, std::vector<std::string>{"NXP DESFire EV3"});

  auto extra =
      ParseOriginalityKeys("# test keys, made here\n test-card = " + HexEncode(pair->public_key));
  ASSERT_TRUE(extra.ok()) << extra.status();
  ASSERT_EQ(extra->size(), 1u);
  r = VerifyOriginality(CardProduct::kDesfireEv3, uid, *sig, *extra);
  EXPECT_EQ(r.verdict, OriginalityVerdict::kGenuine);
  EXPECT_EQ(r.key_name, "test-card");
  EXPECT_EQ(r.keys_tried, (std::vector<std::string>{"NXP DESFire EV3", "test-card"}));
  r = VerifyOriginality(CardProduct::kUnknown, uid, *sig, *extra);
  EXPECT_EQ(r.verdict, OriginalityVerdict::kGenuine);
  // Another UID under the same signature: not genuine; with an unknown product, unknown.
  EXPECT_EQ(VerifyOriginality(CardProduct::kDesfireEv3, H("04063F72633481"), *sig, *extra).verdict,
            OriginalityVerdict::kNotGenuine);
  EXPECT_EQ(VerifyOriginality(CardProduct::kUnknown, H("04063F72633481"), *sig, *extra).verdict,
            OriginalityVerdict::kUnknownProduct);
  // A signature of the wrong length verifies under no key.
  Bytes short_sig(sig->begin(), sig->end() - 1);
  EXPECT_EQ(VerifyOriginality(CardProduct::kDesfireEv3, uid, short_sig, *extra).verdict,
            OriginalityVerdict::kNotGenuine);
}

TEST(OriginalityTest, ParseKeysRejectsBadEntries) {
  const std::string good = HexEncode(NxpOriginalityKeys()[0].key.uncompressed());
  auto two = ParseOriginalityKeys("a=" + good + ",b=" + good + ",\n\n");
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_EQ(two->size(), 2u);
  for (const std::string& bad : {std::string("nokey"), "=" + good, std::string("a=zz"),
                                 "a=" + good.substr(2), "a=" + good + "00",
                                 // the right length, but x and y not on the curve
                                 "a=04" + std::string(112, '1')}) {
    auto r = ParseOriginalityKeys(bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(OriginalityTest, DecodeReadSigAnswer) {
  const Bytes sig(56, 0xA5);
  EXPECT_TRUE(DecodeReadSigAnswer(0x90, sig).ok());
  EXPECT_TRUE(DecodeReadSigAnswer(0x00, sig).ok());  // what the data sheets print
  auto wrong_status = DecodeReadSigAnswer(0x0C, sig);
  EXPECT_EQ(wrong_status.status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(ReasonOf(wrong_status.status()), apdu::kReasonProtocolError);
  EXPECT_NE(wrong_status.status().message().find("status 0C"), std::string::npos);
  auto short_answer = DecodeReadSigAnswer(0x90, ByteSpan(sig).subspan(1));
  EXPECT_EQ(ReasonOf(short_answer.status()), apdu::kReasonProtocolError);
  EXPECT_NE(short_answer.status().message().find("55 bytes"), std::string::npos);
  EXPECT_FALSE(DecodeReadSigAnswer(0x90, {}).ok());
}

// DesfireCard::ReadSignature over scripted card answers (the AN12196 §8.2 signature).
TEST(OriginalityTest, ReadSignatureOverTheChannel) {
  const std::string sig = Find("orig-an12196-8.2").signature;
  struct Case {
    std::string answer;
    absl::StatusCode code;
    const char* reason;
  };
  const Case cases[] = {
      {sig + "9190", absl::StatusCode::kOk, ""},
      {sig + "9100", absl::StatusCode::kOk, ""},
      {sig.substr(2) + "9190", absl::StatusCode::kInternal, "PROTOCOL_ERROR"},  // 55 bytes
      {sig + "00" + "9190", absl::StatusCode::kInternal, "PROTOCOL_ERROR"},     // 57 bytes
      {"9190", absl::StatusCode::kInternal, "PROTOCOL_ERROR"},                  // nothing
      {"911C", absl::StatusCode::kUnimplemented, "ILLEGAL_COMMAND"},            // no ReadSig
      {sig + "910C", absl::StatusCode::kInternal, "PROTOCOL_ERROR"},            // wrong status
      {"6D00", absl::StatusCode::kUnimplemented, ""},                           // ISO: no INS
      {"42", absl::StatusCode::kUnavailable, ""},                               // garbage
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.answer);
    auto t = apdu::ScriptedTransport::FromHex({{"903C0000010000", c.answer}});
    ASSERT_TRUE(t.ok());
    DesfireCard card(*t);
    absl::StatusOr<Bytes> read = card.ReadSignature();
    EXPECT_EQ(read.status().code(), c.code) << read.status();
    if (read.ok()) {
      EXPECT_EQ(HexEncode(*read), absl::AsciiStrToLower(sig));
    } else if (*c.reason != 0) {
      EXPECT_EQ(ReasonOf(read.status()), c.reason);
    }
  }
}

}  // namespace
}  // namespace desfired::desfire
