// Batched CMAC (Cmac::ComputeMany) and batched AN10922 diversification (DiversifyKeysWith)
// against the one-message paths, on published vectors and on random messages.
// Vectors are copied from shared/vectors/desfire_vectors.md (beside the repository) with their
// sources.
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/crypto/an10922.h"
#include "core/crypto/cmac.h"
#include "core/util/bytes.h"
#include "gtest/gtest.h"
#include "tests/unit/hex_testing.h"

namespace desfired::crypto {
namespace {

using ::desfired::test_util::Hex;

// RFC 4493 §4 / NIST SP 800-38B Appendix D.1: key, message and the tags of its prefixes.
constexpr char kRfcKey[] = "2b7e151628aed2a6abf7158809cf4f3c";
constexpr char kRfcMessage[] =
    "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
    "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710";

// The tags of `messages` (all of `length` bytes) by ComputeMany, as hex strings.
std::vector<std::string> ManyTags(const Cmac& cmac, const std::vector<Bytes>& messages,
                                  size_t length, size_t min_blocks = 1) {
  std::vector<const uint8_t*> ptrs;
  for (const Bytes& m : messages) ptrs.push_back(m.data());
  std::vector<uint8_t> tags(messages.size() * cmac.block_size() + 1, 0xEE);
  cmac.ComputeMany(ptrs.data(), length, ptrs.size(), tags.data(), min_blocks);
  EXPECT_EQ(tags.back(), 0xEE) << "wrote past the tags";
  std::vector<std::string> out;
  for (size_t i = 0; i < messages.size(); ++i) {
    out.push_back(HexEncode(ByteSpan(tags.data() + i * cmac.block_size(), cmac.block_size())));
  }
  return out;
}

std::string OneTag(const Cmac& cmac, ByteSpan message) {
  uint8_t out[16];
  cmac.Compute(message, out);
  return HexEncode(ByteSpan(out, cmac.block_size()));
}

Bytes RandomBytes(std::mt19937& rng, size_t n) {
  Bytes b(n);
  for (uint8_t& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

TEST(CmacBatchTest, Rfc4493TagsInEveryBatchPosition) {
  // Source: RFC 4493 §4 (the published tags for messages of 0, 16, 40 and 64 bytes).
  const Cmac cmac = *Cmac::Create(KeyType::kAes128, Hex(kRfcKey));
  const Bytes message = Hex(kRfcMessage);
  const std::pair<size_t, const char*> cases[] = {{0, "bb1d6929e95937287fa37d129b756746"},
                                                  {16, "070a16b46b4d4144f79bdd9dd04a287c"},
                                                  {40, "dfa66747de9ae63030ca32611497c827"},
                                                  {64, "51f0bebf7e3b9d92fc49741779363cfe"}};
  std::mt19937 rng(1);
  for (const auto& [length, tag] : cases) {
    for (size_t count : {1, 2, 5, 33}) {
      // The published message at every third position, random ones between.
      std::vector<Bytes> messages;
      for (size_t i = 0; i < count; ++i) {
        messages.push_back(i % 3 == 0 ? message : RandomBytes(rng, 64));
      }
      const std::vector<std::string> tags = ManyTags(cmac, messages, length);
      for (size_t i = 0; i < count; ++i) {
        if (i % 3 == 0) {
          EXPECT_EQ(tags[i], tag) << "length " << length << " count " << count << " at " << i;
        } else {
          EXPECT_EQ(tags[i], OneTag(cmac, ByteSpan(messages[i].data(), length)));
        }
      }
    }
  }
}

TEST(CmacBatchTest, RandomMessagesEqualTheOneMessagePath) {
  std::mt19937 rng(7);
  for (KeyType type : {KeyType::kAes128, KeyType::k2Tdea, KeyType::k3Tdea, KeyType::kDes}) {
    const Cmac cmac = *Cmac::Create(type, RandomBytes(rng, KeyLength(type)));
    for (size_t length : {0, 1, 7, 8, 9, 15, 16, 17, 19, 24, 31, 32, 33, 40}) {
      for (size_t count : {1, 2, 3, 8, 9, 64, 257}) {
        std::vector<Bytes> messages;
        for (size_t i = 0; i < count; ++i) messages.push_back(RandomBytes(rng, length + 1));
        const std::vector<std::string> tags = ManyTags(cmac, messages, length);
        for (size_t i = 0; i < count; ++i) {
          ASSERT_EQ(tags[i], OneTag(cmac, ByteSpan(messages[i].data(), length)))
              << KeyTypeName(type) << " length " << length << " count " << count << " at " << i;
        }
      }
    }
  }
}

// Aes128Cmac (the key schedule in the object; two-block messages through
// Aes128Schedule::EncryptChains2, eight chains side by side) gives Cmac's tags: RFC 4493's
// tags, and random messages of every length around the two-block case, in
// batches that cover the eight-lane groups and the tail.
TEST(CmacBatchTest, Aes128CmacManyEqualsCmac) {
  std::mt19937 rng(11);
  const Bytes key = RandomBytes(rng, 16);
  const Cmac cmac = *Cmac::Create(KeyType::kAes128, key);
  const Aes128Cmac fast(key.data());
  for (size_t length : {0, 1, 15, 16, 17, 19, 20, 31, 32, 33, 48}) {
    for (size_t count : {1, 7, 8, 9, 16, 23, 256}) {
      std::vector<Bytes> messages;
      std::vector<const uint8_t*> ptrs;
      for (size_t i = 0; i < count; ++i) messages.push_back(RandomBytes(rng, length + 1));
      for (const Bytes& m : messages) ptrs.push_back(m.data());
      std::vector<uint8_t> tags(count * 16 + 1, 0xEE);
      fast.ComputeMany(ptrs.data(), length, count, tags.data());
      EXPECT_EQ(tags.back(), 0xEE) << "wrote past the tags";
      for (size_t i = 0; i < count; ++i) {
        ASSERT_EQ(HexEncode(ByteSpan(tags.data() + 16 * i, 16)),
                  OneTag(cmac, ByteSpan(messages[i].data(), length)))
            << "length " << length << " count " << count << " at " << i;
      }
    }
  }
  // RFC 4493 §4, Example 3 is 40 bytes; its 16-byte prefix (Example 2) checks the one-block
  // path of the same object.
  const Aes128Cmac rfc(Hex(kRfcKey).data());
  const Bytes message = Hex(kRfcMessage);
  const uint8_t* ptr = message.data();
  uint8_t tag[16];
  rfc.ComputeMany(&ptr, 16, 1, tag);
  EXPECT_EQ(HexEncode(ByteSpan(tag, 16)), "070a16b46b4d4144f79bdd9dd04a287c");
}

struct DiversifyRow {
  KeyType type;
  const char* master;
  const char* input;
  const char* key;  // raw, as computed (no key version stamped in)
};

TEST(CmacBatchTest, An10922PublishedKeysInBatches) {
  // NXP AN10922 §2.2.1 (AES), §2.4.1 (2TDEA), §2.5.1 (3TDEA); raw keys as pm3
  // TestAn10922KDFAES / TestAn10922KDF2TDEA / TestAn10922KDF3TDEA compute them.
  const DiversifyRow rows[] = {
      {KeyType::kAes128, "00112233445566778899AABBCCDDEEFF", "04782E21801D803042F54E585020416275",
       "A8DD63A3B89D54B37CA802473FDA9175"},
      {KeyType::k2Tdea, "00112233445566778899AABBCCDDEEFF", "04782E21801D803042F54E58502041",
       "16F8597C9E8910C86B9648D006107DD7"},
      {KeyType::k3Tdea, "00112233445566778899AABBCCDDEEFF0102030405060708",
       "04782E21801D803042F54E5850", "2F0DD03675D3FB9A5705AB0BDA91CA0B55B8E07FCDBF10EC"},
  };
  std::mt19937 rng(3);
  for (const DiversifyRow& row : rows) {
    const Cmac master = *Cmac::Create(row.type, Hex(row.master));
    const Bytes published = Hex(row.input);
    const size_t key_length = KeyLength(row.type);
    for (size_t count : {1, 2, 63, 64, 65, 200}) {
      std::vector<Bytes> inputs;
      std::vector<const uint8_t*> ptrs;
      for (size_t i = 0; i < count; ++i) {
        inputs.push_back(i % 5 == 0 ? published : RandomBytes(rng, published.size()));
      }
      for (const Bytes& in : inputs) ptrs.push_back(in.data());
      std::vector<uint8_t> keys(count * key_length);
      ASSERT_TRUE(
          DiversifyKeysWith(master, row.type, ptrs.data(), published.size(), count, keys.data())
              .ok());
      for (size_t i = 0; i < count; ++i) {
        const std::string got = HexEncode(ByteSpan(keys.data() + i * key_length, key_length));
        if (i % 5 == 0) {
          EXPECT_EQ(got, test_util::Norm(row.key)) << KeyTypeName(row.type) << " at " << i;
        } else {
          uint8_t one[24];
          ASSERT_TRUE(DiversifyKeyWith(master, row.type, inputs[i], one).ok());
          EXPECT_EQ(got, HexEncode(ByteSpan(one, key_length))) << KeyTypeName(row.type);
        }
      }
    }
  }
}

TEST(CmacBatchTest, An10922EveryInputLength) {
  std::mt19937 rng(11);
  for (KeyType type : {KeyType::kAes128, KeyType::k2Tdea, KeyType::k3Tdea}) {
    const Cmac master = *Cmac::Create(type, RandomBytes(rng, KeyLength(type)));
    const size_t max_input = type == KeyType::kAes128 ? 31 : 15;
    for (size_t length = 1; length <= max_input; ++length) {
      std::vector<Bytes> inputs;
      std::vector<const uint8_t*> ptrs;
      for (size_t i = 0; i < 9; ++i) inputs.push_back(RandomBytes(rng, length));
      for (const Bytes& in : inputs) ptrs.push_back(in.data());
      std::vector<uint8_t> keys(inputs.size() * KeyLength(type));
      ASSERT_TRUE(
          DiversifyKeysWith(master, type, ptrs.data(), length, ptrs.size(), keys.data()).ok());
      for (size_t i = 0; i < inputs.size(); ++i) {
        uint8_t expect[24];
        ASSERT_TRUE(DiversifyKeyWith(master, type, inputs[i], expect).ok());
        EXPECT_EQ(0, std::memcmp(expect, keys.data() + i * KeyLength(type), KeyLength(type)));
      }
    }
  }
}

TEST(CmacBatchTest, An10922BatchRejectsWhatTheSinglePathRejects) {
  const Cmac master = *Cmac::Create(KeyType::kAes128, Hex(kRfcKey));
  const Bytes input(32, 1);
  const uint8_t* ptr = input.data();
  uint8_t out[16];
  EXPECT_FALSE(DiversifyKeysWith(master, KeyType::kAes128, &ptr, 32, 1, out).ok());  // too long
  EXPECT_FALSE(DiversifyKeysWith(master, KeyType::kAes128, &ptr, 0, 1, out).ok());   // empty
  EXPECT_FALSE(DiversifyKeysWith(master, KeyType::k2Tdea, &ptr, 8, 1, out).ok());    // wrong type
  EXPECT_TRUE(DiversifyKeysWith(master, KeyType::kAes128, &ptr, 8, 0, out).ok());    // nothing
}

}  // namespace
}  // namespace desfired::crypto
