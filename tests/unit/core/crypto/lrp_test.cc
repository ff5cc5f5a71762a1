// LRP (NXP AN12304): the primitive, LRICB and CMAC_LRP against every LRP vector of
// ev3_vectors.md §1 (shared/vectors), transcribed with their sources into
// lrp_an12304_vectors.txt:
//   §1.1  RfidResearchGroup/proxmark3@1c8c3b78 client/src/mifare/desfiretest.c
//         TestLRPPlaintexts / TestLRPUpdatedKeys (AN12304 p.10, p.12); also
//         icedevml/nfc-ev2-crypto@2667cc32 test_lrp.py (here, in the test itself).
//   §1.2  eval rows: icedevml/nfc-ev2-crypto@2667cc32 test_lrp_eval_vec.py (AN12304).
//   §1.3  lricb rows: nfc-ev2-crypto test_cipher_vec.py (AN12304), both ways.
//   §1.4  subkey rows: proxmark3 desfiretest.c TestLRPSubkeys (AN12304 §3.4).
//   §1.5  cmac rows: nfc-ev2-crypto test_lrp_cmac_vectors.py (AN12304), with the subkey Kx.
//   §1.6  ctr rows: proxmark3 TestLRPIncCounter; nfc-ev2-crypto test_lrp.py.
#include "core/crypto/lrp.h"

#include <gtest/gtest.h>

#include <cctype>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/crypto/random.h"
#include "core/util/bytes.h"

namespace desfired::crypto {
namespace {

using Row = std::vector<std::string>;

// The rows of lrp_an12304_vectors.txt whose first word is `kind` (without it); "-" → "".
std::vector<Row> Vectors(const std::string& kind) {
  std::ifstream in(std::string(SOURCE_DIR) + "/tests/unit/core/crypto/lrp_an12304_vectors.txt");
  EXPECT_TRUE(in.good()) << "vector file missing";
  std::vector<Row> rows;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    std::string first;
    words >> first;
    if (first != kind) continue;
    Row row;
    for (std::string w; words >> w;) row.push_back(w == "-" ? "" : w);
    rows.push_back(std::move(row));
  }
  return rows;
}

Bytes H(const std::string& hex) {
  auto b = HexDecode(hex);
  EXPECT_TRUE(b.ok()) << hex;
  return b.ok() ? *b : Bytes();
}

std::string Upper(ByteSpan b) {
  std::string s = HexEncode(b);
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// Nibble strings of odd length are packed with a zero low nibble at the end.
Bytes Nibbles(const std::string& x) { return H(x.size() % 2 == 0 ? x : x + "0"); }

// §1.1: lrp-plaintexts and lrp-updated-keys (proxmark3 desfiretest.c, AN12304 p.10 and p.12).
TEST(LrpTest, PlaintextsAndUpdatedKeys) {
  const Bytes key = H("567826B8DA8E768432A9548DBE4AA3A0");
  auto lrp = Lrp::Create(key, 0);
  ASSERT_TRUE(lrp.ok()) << lrp.status();
  EXPECT_EQ(Upper(lrp->plaintext(0)), "AC20D39F5341FE98DFCA21DA86BA7914");
  EXPECT_EQ(Upper(lrp->plaintext(1)), "907DA03D672449166915E4563E089D6D");
  EXPECT_EQ(Upper(lrp->plaintext(14)), "37D734A51C076EB803BD530E17EB87DC");
  EXPECT_EQ(Upper(lrp->plaintext(15)), "71B444AF257A93215311D758DD333247");
  EXPECT_EQ(Upper(lrp->updated_key()), "163D14ED24ED935373568EC521E96CF4");
  const char* uk[] = {"163D14ED24ED935373568EC521E96CF4", "1C519C000208B95A39A65DB058327188",
                      "FE30AB50467E61783BFE6B5E0560160E"};
  for (size_t q = 0; q < 3; ++q) {
    auto with_q = Lrp::Create(key, q);
    ASSERT_TRUE(with_q.ok());
    EXPECT_EQ(Upper(with_q->updated_key()), uk[q]) << "UK" << q;
  }
}

// §1.2 eval rows: id key x uk final y.
TEST(LrpTest, EvalAn12304) {
  const std::vector<Row> rows = Vectors("eval");
  ASSERT_EQ(rows.size(), 30u);
  for (const Row& r : rows) {
    auto lrp = Lrp::Create(H(r[1]), std::stoul(r[3]));
    ASSERT_TRUE(lrp.ok()) << r[0] << ": " << lrp.status();
    uint8_t y[16];
    lrp->Eval(Nibbles(r[2]), r[2].size(), r[4] == "1", y);
    EXPECT_EQ(Upper(ByteSpan(y, 16)), r[5]) << r[0];
  }
}

// §1.3 lricb rows: id key counter pad plaintext ciphertext (UK0; with pad the plaintext gets
// 80 00.., always, before encryption).
TEST(LrpTest, LricbBothWaysAn12304) {
  const std::vector<Row> rows = Vectors("lricb");
  ASSERT_EQ(rows.size(), 30u);
  for (const Row& r : rows) {
    auto lrp = Lrp::Create(H(r[1]), 0);
    ASSERT_TRUE(lrp.ok()) << r[0];
    const bool pad = r[3] == "1";
    Bytes data = H(r[4]);
    if (pad) {
      data.push_back(0x80);
      while (data.size() % 16 != 0) data.push_back(0);
    }
    Bytes counter = H(r[2]);
    ASSERT_TRUE(lrp->LricbEncrypt(absl::MakeSpan(counter), 8, absl::MakeSpan(data)).ok());
    EXPECT_EQ(Upper(data), r[5]) << r[0];

    Bytes back = H(r[5]);
    counter = H(r[2]);
    ASSERT_TRUE(lrp->LricbDecrypt(absl::MakeSpan(counter), 8, absl::MakeSpan(back)).ok());
    if (pad) {
      while (!back.empty() && back.back() == 0) back.pop_back();
      ASSERT_FALSE(back.empty()) << r[0];
      EXPECT_EQ(back.back(), 0x80) << r[0];
      back.pop_back();
    }
    EXPECT_EQ(Upper(back), r[4]) << r[0];
  }
}

TEST(LrpTest, LricbRefusesPartialBlocksAndBadCounters) {
  auto lrp = Lrp::Create(Bytes(16, 0), 0);
  ASSERT_TRUE(lrp.ok());
  Bytes counter(4, 0);
  Bytes data(15, 0);
  EXPECT_EQ(lrp->LricbEncrypt(absl::MakeSpan(counter), 8, absl::MakeSpan(data)).code(),
            absl::StatusCode::kInvalidArgument);
  data.resize(16);
  EXPECT_EQ(lrp->LricbEncrypt(absl::MakeSpan(counter), 6, absl::MakeSpan(data)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Lrp::Create(Bytes(15, 0)).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Lrp::Create(Bytes(16, 0), 16).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LrpCmac::Create(Bytes(17, 0)).status().code(), absl::StatusCode::kInvalidArgument);
}

// §1.4 subkey rows: id key K1 K2.
TEST(LrpTest, CmacSubkeys) {
  EXPECT_EQ(Vectors("subkey").size(), 2u);
  for (const Row& r : Vectors("subkey")) {
    auto cmac = LrpCmac::Create(H(r[1]));
    ASSERT_TRUE(cmac.ok()) << r[0];
    EXPECT_EQ(Upper(cmac->k1()) + " " + Upper(cmac->k2()), r[2] + " " + r[3]) << r[0];
  }
}

// §1.5 cmac rows: id key message Kx mac.
TEST(LrpTest, CmacAn12304) {
  const std::vector<Row> rows = Vectors("cmac");
  ASSERT_EQ(rows.size(), 31u);
  for (const Row& r : rows) {
    auto cmac = LrpCmac::Create(H(r[1]));
    ASSERT_TRUE(cmac.ok()) << r[0];
    const Bytes message = H(r[2]);
    uint8_t mac[16];
    cmac->Compute(message, mac);
    EXPECT_EQ(Upper(ByteSpan(mac, 16)), r[4]) << r[0];
    const bool whole = !message.empty() && message.size() % 16 == 0;
    EXPECT_EQ(Upper(whole ? cmac->k1() : cmac->k2()), r[3]) << r[0];
  }
}

// §1.6 ctr rows: id counter next (nibble strings).
TEST(LrpTest, CounterIncrement) {
  const std::vector<Row> rows = Vectors("ctr");
  ASSERT_EQ(rows.size(), 7u);
  for (const Row& r : rows) {
    Bytes counter = Nibbles(r[1]);
    IncrementLrpCounter(absl::MakeSpan(counter), r[1].size());
    EXPECT_EQ(Upper(counter), Upper(Nibbles(r[2]))) << r[0];
  }
}

}  // namespace
}  // namespace desfired::crypto

namespace desfired::crypto {
namespace {

Bytes RandomBlock(size_t n) {
  Bytes b(n);
  EXPECT_TRUE(RandomBytes(MutableByteSpan(b)).ok());
  return b;
}

// The side-by-side forms equal the one-by-one ones on random keys, inputs and message lengths
// (0..70 bytes: empty, partial, whole and several blocks), over more than one lane chunk.
TEST(LrpTest, ManyEqualsOneByOne) {
  constexpr size_t kCount = 70;
  const Bytes keys = RandomBlock(kCount * kLrpBlock);
  absl::StatusOr<std::vector<LrpCmac>> macs = LrpCmac::CreateMany(keys.data(), kCount);
  ASSERT_TRUE(macs.ok());
  std::vector<const Lrp*> lrps;
  std::vector<const LrpCmac*> mac_ptrs;
  std::vector<Bytes> xs, messages;
  std::vector<const uint8_t*> x_ptrs;
  std::vector<ByteSpan> spans;
  for (size_t i = 0; i < kCount; ++i) {
    lrps.push_back(&(*macs)[i].lrp());
    mac_ptrs.push_back(&(*macs)[i]);
    xs.push_back(RandomBlock(kLrpBlock));
    messages.push_back(RandomBlock(i));
  }
  for (size_t i = 0; i < kCount; ++i) {
    x_ptrs.push_back(xs[i].data());
    spans.push_back(messages[i]);
  }
  for (size_t nibbles : {size_t{1}, size_t{16}, size_t{32}}) {
    std::vector<uint8_t> many(kCount * kLrpBlock);
    Lrp::EvalMany(lrps.data(), x_ptrs.data(), nibbles, nibbles != 1, many.data(), kCount);
    for (size_t i = 0; i < kCount; ++i) {
      uint8_t one[kLrpBlock];
      lrps[i]->Eval(xs[i], nibbles, nibbles != 1, one);
      EXPECT_EQ(Bytes(many.begin() + i * kLrpBlock, many.begin() + (i + 1) * kLrpBlock),
                Bytes(one, one + kLrpBlock))
          << nibbles << " nibbles, input " << i;
    }
  }
  std::vector<uint8_t> tags(kCount * kLrpBlock);
  LrpCmac::ComputeMany(mac_ptrs.data(), spans.data(), kCount, tags.data());
  for (size_t i = 0; i < kCount; ++i) {
    absl::StatusOr<LrpCmac> one = LrpCmac::Create(ByteSpan(keys).subspan(i * kLrpBlock, 16));
    ASSERT_TRUE(one.ok());
    EXPECT_EQ(Bytes((*macs)[i].k1().begin(), (*macs)[i].k1().end()),
              Bytes(one->k1().begin(), one->k1().end()));
    uint8_t tag[kLrpBlock];
    one->Compute(messages[i], tag);
    EXPECT_EQ(Bytes(tags.begin() + i * kLrpBlock, tags.begin() + (i + 1) * kLrpBlock),
              Bytes(tag, tag + kLrpBlock))
        << "message of " << i << " bytes";
  }
}

}  // namespace
}  // namespace desfired::crypto
