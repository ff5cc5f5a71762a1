// SunVerifier::VerifyMany and VerifySunMacs (core/tap/sun_verifier.h, sun.h): a batch gives the
// results of verifying its messages one by one, on random messages of every kind (AES and LRP,
// encrypted or plain UID and counter, with and without file data, static and diversified file
// keys) and every status (VALID, FLAGGED for a bad MAC or a replayed counter, REJECTED for bad
// input or PICCData that does not decrypt). The messages are made here the way a tag makes
// them (NT4H2421 / AN12196 rules as sun.h states them); the published vectors are sun_test.cc's.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/crypto/block_cipher.h"
#include "core/crypto/cmac.h"
#include "core/crypto/lrp.h"
#include "core/crypto/random.h"
#include "core/keys/key_store.h"
#include "core/tap/sun.h"
#include "core/tap/sun_verifier.h"
#include "tests/unit/hex_testing.h"

namespace desfired::tap {
namespace {

constexpr char kMeta[] = "0102030405060708090A0B0C0D0E0F10";
constexpr char kFile[] = "A1A2A3A4A5A6A7A8A9AAABACADAEAFB0";

Bytes Random(size_t n) {
  Bytes b(n);
  EXPECT_TRUE(crypto::RandomBytes(MutableByteSpan(b)).ok());
  return b;
}

uint32_t RandomBelow(uint32_t n) {
  const Bytes b = Random(4);
  return (uint32_t{b[0]} << 24 | uint32_t{b[1]} << 16 | uint32_t{b[2]} << 8 | b[3]) % n;
}

std::string HexOf(ByteSpan b) { return HexEncode(b); }

// A SUN message as a tag with these keys makes it; `file_key` already diversified if it is.
SunInput MakeMessage(SunCipher cipher, ByteSpan meta_key, ByteSpan file_key, ByteSpan uid,
                     uint32_t counter, bool encrypt_picc, size_t file_blocks,
                     const std::string& mac_input) {
  SunInput in{.cipher = cipher, .mac_input = mac_input};
  if (encrypt_picc) {
    Bytes picc(16);
    picc[0] = 0xC7;  // UID and counter mirrored, UID length 7
    std::copy(uid.begin(), uid.end(), picc.begin() + 1);
    StoreLe24(counter, picc.data() + 8);
    const Bytes pad = Random(5);
    std::copy(pad.begin(), pad.end(), picc.begin() + 11);
    if (cipher == SunCipher::kAes) {
      auto aes = crypto::BlockCipher::Create(crypto::KeyType::kAes128, meta_key);
      aes->EncryptBlock(picc.data(), picc.data());
      in.picc_data = HexOf(picc);
    } else {
      const Bytes rand = Random(8);
      Bytes ctr = rand;
      auto lrp = crypto::Lrp::Create(meta_key, 0);
      EXPECT_TRUE(lrp->LricbEncrypt(MutableByteSpan(ctr), 16, MutableByteSpan(picc)).ok());
      in.picc_data = HexOf(rand) + HexOf(picc);
    }
  } else {
    in.uid = HexOf(uid);
    const uint8_t ctr_be[3] = {static_cast<uint8_t>(counter >> 16),
                               static_cast<uint8_t>(counter >> 8), static_cast<uint8_t>(counter)};
    in.counter = HexOf(ByteSpan(ctr_be, 3));
  }
  const ByteSpan input(reinterpret_cast<const uint8_t*>(mac_input.data()), mac_input.size());
  uint8_t full[16];
  Bytes file = Random(16 * file_blocks);
  if (cipher == SunCipher::kAes) {
    auto keys = DeriveSunAesSessionKeys(file_key, uid, counter);
    auto mac = crypto::Cmac::Create(crypto::KeyType::kAes128, keys->mac.span());
    mac->Compute(input, full);
    auto enc = crypto::BlockCipher::Create(crypto::KeyType::kAes128, keys->enc.span());
    uint8_t iv[16] = {};
    StoreLe24(counter, iv);
    enc->EncryptBlock(iv, iv);
    if (!file.empty()) {
      EXPECT_TRUE(enc->CbcEncrypt(MutableByteSpan(iv, 16), MutableByteSpan(file)).ok());
    }
  } else {
    auto master = DeriveSunLrpMasterKey(file_key, uid, counter);
    auto mac = crypto::LrpCmac::Create(master->span());
    mac->Compute(input, full);
    auto enc = crypto::Lrp::Create(master->span(), 1);
    uint8_t ctr[6] = {};
    StoreLe24(counter, ctr);
    if (!file.empty()) {
      EXPECT_TRUE(enc->LricbEncrypt(MutableByteSpan(ctr, 6), 12, MutableByteSpan(file)).ok());
    }
  }
  in.enc_file_data = HexOf(file);
  uint8_t mac8[8];
  crypto::TruncateMacOddBytes(full, mac8);
  in.mac = HexOf(ByteSpan(mac8, 8));
  return in;
}

void ExpectSame(const SunResult& a, const SunResult& b, size_t i) {
  SCOPED_TRACE(i);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.warnings, b.warnings);
  EXPECT_EQ(a.error, b.error);
  EXPECT_EQ(a.uid, b.uid);
  EXPECT_EQ(a.counter, b.counter);
  EXPECT_EQ(a.file_data, b.file_data);
}

TEST(SunBatchTest, BatchEqualsOneByOneOnRandomMessages) {
  auto store =
      keys::KeyStore::Parse(std::string("key meta AES128 ") + kMeta + "\nkey file AES128 " + kFile +
                                "\nkey div AES128 " + kFile + " diversify=an10922 system=0A0B0C\n",
                            "test");
  ASSERT_TRUE(store.ok()) << store.status();
  const Bytes meta = test_util::Hex(kMeta);
  const Bytes file = test_util::Hex(kFile);
  for (const char* file_name : {"file", "div"}) {
    SCOPED_TRACE(file_name);
    const uint32_t aid = 0x123456;
    std::vector<SunInput> inputs;
    std::vector<Bytes> uids;
    for (int t = 0; t < 6; ++t) uids.push_back(Random(7));
    for (size_t i = 0; i < 150; ++i) {
      const SunCipher cipher = RandomBelow(2) == 0 ? SunCipher::kAes : SunCipher::kLrp;
      const Bytes& uid = uids[RandomBelow(static_cast<uint32_t>(uids.size()))];
      absl::StatusOr<keys::SecretBytes> key = keys::CardKeyFor(*store->Find(file_name), uid, aid);
      ASSERT_TRUE(key.ok());
      const std::string mac_input = std::string(RandomBelow(40), 'x');
      SunInput in = MakeMessage(cipher, meta, key->view(), uid, RandomBelow(50),
                                RandomBelow(2) == 0, RandomBelow(3), mac_input);
      switch (RandomBelow(8)) {
        case 0:  // a forged MAC: FLAGGED
          in.mac[0] = in.mac[0] == '0' ? '1' : '0';
          break;
        case 1:  // bad input: REJECTED
          in.mac = "zz";
          break;
        case 2:  // PICCData that does not decrypt (or a plain UID that is not hex): REJECTED
          if (!in.picc_data.empty()) {
            in.picc_data[30] = in.picc_data[30] == '0' ? '1' : '0';
          } else {
            in.uid[0] = 'g';
          }
          break;
        case 3:  // the same message again: counter not newer
          if (!inputs.empty()) in = inputs[RandomBelow(static_cast<uint32_t>(inputs.size()))];
          break;
        default:
          break;
      }
      inputs.push_back(in);
    }
    SunCounterStore one_counters, batch_counters;
    const SunKeyNames names{.meta_key = "meta", .file_key = file_name, .aid = aid};
    SunVerifier one(*store, names, &one_counters);
    SunVerifier batch(*store, names, &batch_counters);
    ASSERT_TRUE(batch.CheckKeys().ok());
    std::vector<SunResult> want;
    for (const SunInput& in : inputs) want.push_back(one.Verify(in));
    std::vector<SunResult> got(inputs.size());
    batch.VerifyMany(inputs, absl::MakeSpan(got));
    int seen[4] = {};
    bool replayed = false;
    for (size_t i = 0; i < inputs.size(); ++i) {
      ExpectSame(got[i], want[i], i);
      ++seen[static_cast<int>(want[i].status)];
      replayed |= want[i].has(SunWarning::kCounterNotNewer);
    }
    EXPECT_GT(seen[static_cast<int>(SunStatus::kValid)], 0);
    EXPECT_GT(seen[static_cast<int>(SunStatus::kFlagged)], 0);
    EXPECT_GT(seen[static_cast<int>(SunStatus::kRejected)], 0);
    EXPECT_TRUE(replayed);
    EXPECT_EQ(one_counters.size(), batch_counters.size());
  }
}

// VerifySunMacs with a prepared key equals VerifySunMac message by message, including a
// message of the other cipher (REJECTED) and file data without a counter (REJECTED).
TEST(SunBatchTest, VerifySunMacsEqualsVerifySunMac) {
  const Bytes meta = test_util::Hex(kMeta);
  const Bytes file = test_util::Hex(kFile);
  for (SunCipher cipher : {SunCipher::kAes, SunCipher::kLrp}) {
    std::vector<SunMessage> msgs;
    for (int i = 0; i < 70; ++i) {  // more than one internal chunk
      SunInput in = MakeMessage(
          i % 7 == 0 ? (cipher == SunCipher::kAes ? SunCipher::kLrp : SunCipher::kAes) : cipher,
          meta, file, Random(7), static_cast<uint32_t>(i), true, i % 3,
          std::string(static_cast<size_t>(i % 20), 'a'));
      if (i % 5 == 0) in.mac[3] = in.mac[3] == 'F' ? 'E' : 'F';
      auto msg = ParseSunInput(in);
      ASSERT_TRUE(msg.ok());
      if (msg->cipher == cipher) {
        ASSERT_TRUE(DecryptPiccData(*msg, meta).ok());
      }
      if (i == 11) msg->counter.reset();  // file data without a counter
      msgs.push_back(*msg);
    }
    auto key = SunKey::Create(cipher, file);
    ASSERT_TRUE(key.ok());
    std::vector<const SunMessage*> ptrs;
    for (const SunMessage& m : msgs) ptrs.push_back(&m);
    std::vector<SunResult> got(msgs.size());
    VerifySunMacs(ptrs, *key, absl::MakeSpan(got));
    for (size_t i = 0; i < msgs.size(); ++i) {
      SunResult want = VerifySunMac(msgs[i], file);
      if (msgs[i].cipher != cipher) {
        EXPECT_EQ(got[i].status, SunStatus::kRejected);
        continue;
      }
      ExpectSame(got[i], want, i);
    }
  }
}

}  // namespace
}  // namespace desfired::tap
