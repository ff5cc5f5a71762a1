// KeyRing: the key store a call uses stays alive for that call; a reload replaces it for later
// calls, a bad file changes nothing, and a replaced store goes away (its SecretBytes wiped) as
// soon as no call holds it.
#include "server/security/key_ring.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "gtest/gtest.h"

namespace desfired::server {
namespace {

class KeyRingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/key-ring-test-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
    path_ = dir_ + "/keys.conf";
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  void Write(const std::string& text, mode_t mode = 0600) {
    std::ofstream(path_) << text;
    ASSERT_EQ(::chmod(path_.c_str(), mode), 0);
  }
  std::string dir_;
  std::string path_;
};

TEST_F(KeyRingTest, ReloadReplacesAndABadFileKeepsTheKeysInUse) {
  Write("key one AES128 000102030405060708090a0b0c0d0e0f\n");
  KeyRing ring(path_);
  ASSERT_TRUE(ring.Load().ok());
  EXPECT_EQ(ring.generation(), 1u);
  ASSERT_NE(ring.Current()->Find("one"), nullptr);

  Write("key two AES128 101112131415161718191a1b1c1d1e1f\n");
  ASSERT_TRUE(ring.Load().ok());
  EXPECT_EQ(ring.generation(), 2u);
  EXPECT_EQ(ring.Current()->Find("one"), nullptr);
  EXPECT_NE(ring.Current()->Find("two"), nullptr);

  Write("key broken AES128 00\n");
  absl::Status bad = ring.Load();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument) << bad;
  EXPECT_NE(std::string(bad.message()).find("keys.conf:1"), std::string::npos) << bad;
  EXPECT_EQ(ring.generation(), 2u);
  EXPECT_NE(ring.Current()->Find("two"), nullptr) << "a bad file must not replace the keys";

  Write("key two AES128 101112131415161718191a1b1c1d1e1f\n", 0644);
  EXPECT_EQ(ring.Load().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(ring.Current()->Find("two"), nullptr);
}

TEST_F(KeyRingTest, AReplacedStoreLivesWhileACallHoldsItThenGoes) {
  KeyRing ring;
  keys::KeyStore first;
  ASSERT_TRUE(first.AddKey("k", crypto::KeyType::kAes128, Bytes(16, 0x11)).ok());
  ring.Replace(std::move(first));
  std::shared_ptr<const keys::KeyStore> held = ring.Current();  // a call in flight
  std::weak_ptr<const keys::KeyStore> watch = held;

  keys::KeyStore second;
  ASSERT_TRUE(second.AddKey("k", crypto::KeyType::kAes128, Bytes(16, 0x22)).ok());
  ring.Replace(std::move(second));
  ASSERT_FALSE(watch.expired());
  EXPECT_EQ(held->Find("k")->value.view()[0], 0x11) << "the call keeps the keys it began with";
  EXPECT_EQ(ring.Current()->Find("k")->value.view()[0], 0x22);

  held.reset();  // the call ends
  EXPECT_TRUE(watch.expired()) << "the replaced store must go (and its key bytes be wiped)";
}

TEST_F(KeyRingTest, NoFileMeansAnEmptyStore) {
  KeyRing ring;
  EXPECT_TRUE(ring.Load().ok());
  EXPECT_TRUE(ring.Current()->keys().empty());
}

}  // namespace
}  // namespace desfired::server
