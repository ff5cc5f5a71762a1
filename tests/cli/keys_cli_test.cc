// desfirectl keys import / list against a SoftHSM2 token of the test's own: file keys move into
// the token (sensitive, not extractable) and the key file names them by URI; list shows where
// each key lives and never a value; --check finds every token key.
#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/testing/cli_run.h"
#include "tests/testing/softhsm.h"

namespace desfired {
namespace {

constexpr char kKeyFile[] =
    "# transit keys\n"
    "key transit-read  AES128 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf use=read\n"
    "key transit-debit AES128 b0b1b2b3b4b5b6b7b8b9babbbcbdbebf roles=operator,admin use=write\n"
    "key picc          DES    0000000000000000 use=picc-master\n"
    "key tap           AES128 2b7e151628aed2a6abf7158809cf4f3c use=none\n"
    "tap static key=tap\n";

class KeysCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    hsm_ = testing::SoftHsmOrSkip();
    if (hsm_ == nullptr) return;
    path_ = hsm_->dir() + "/keys.conf";
    std::ofstream(path_) << kKeyFile;
    chmod(path_.c_str(), 0600);
  }
  testing::CliRun Run(const std::string& args) {
    return testing::RunDesfirectl(DESFIRECTL, args, {{"SOFTHSM2_CONF", hsm_->conf()}});
  }
  std::unique_ptr<testing::SoftHsmToken> hsm_;
  std::string path_;
};

TEST_F(KeysCliTest, ImportMovesKeysIntoTheTokenAndListShowsWhereTheyLive) {
  testing::CliRun r = Run(absl::StrCat("keys import --keys ", path_,
                                       " --token pkcs11:token=", testing::kSoftHsmLabel,
                                       " --module ", testing::kSoftHsmModule, " --pin-file ",
                                       hsm_->pin_file(), " transit-read transit-debit picc"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "transit-read, transit-debit, picc")) << r.out;
  const std::string file = testing::ReadFile(path_);
  EXPECT_TRUE(absl::StrContains(file, "pkcs11 module=")) << file;
  EXPECT_TRUE(absl::StrContains(
      file, "key transit-debit AES128 pkcs11:token=desfired;object=transit-debit roles=operator"))
      << file;
  EXPECT_FALSE(absl::StrContains(file, "b0b1b2b3")) << file;
  EXPECT_FALSE(absl::StrContains(file, "a0a1a2a3")) << file;
  EXPECT_TRUE(absl::StrContains(file, "2b7e151628aed2a6abf7158809cf4f3c")) << file;  // not moved
  struct stat st = {};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  r = Run(absl::StrCat("keys list --check --keys ", path_));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "token pkcs11:token=desfired;object=picc")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "every token key was found")) << r.out;
  for (const char* value : {"a0a1a2a3", "b0b1b2b3", "2b7e1516", testing::kSoftHsmPin}) {
    EXPECT_FALSE(absl::StrContains(r.out + r.err, value)) << value;
  }
  // A second import of a key the token has already is refused, naming it.
  r = Run(absl::StrCat("keys import --keys ", path_, " --token pkcs11:token=desfired tap"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::ofstream(hsm_->dir() + "/again.conf") << "key tap AES128 00112233445566778899aabbccddeeff\n";
  chmod((hsm_->dir() + "/again.conf").c_str(), 0600);
  r = Run(absl::StrCat("keys import --keys ", hsm_->dir(),
                       "/again.conf --token "
                       "pkcs11:token=desfired --module ",
                       testing::kSoftHsmModule, " --pin-file ", hsm_->pin_file()));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "already has a key labelled 'tap'")) << r.err;
  EXPECT_FALSE(absl::StrContains(r.err, "00112233")) << r.err;
}

// A key file whose pkcs11 line gives the PIN but no module= gets the module from --module
// in that same line: the file keeps one pkcs11 line, and its token keys bind.
TEST_F(KeysCliTest, ImportCompletesAPkcs11LineWithoutModule) {
  std::ofstream(path_) << "pkcs11 pin-file=" << hsm_->pin_file() << "  # the PIN\n" << kKeyFile;
  testing::CliRun r = Run(absl::StrCat("keys import --keys ", path_,
                                       " --token pkcs11:token=", testing::kSoftHsmLabel,
                                       " --module ", testing::kSoftHsmModule, " transit-read"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "keys in pkcs11:token=desfired: transit-read\n")) << r.out;
  const std::string file = testing::ReadFile(path_);
  EXPECT_EQ(file.find("pkcs11 "), file.rfind("pkcs11 ")) << file;  // one pkcs11 line
  EXPECT_TRUE(absl::StartsWith(file, absl::StrCat("pkcs11 module=", testing::kSoftHsmModule,
                                                  " pin-file=", hsm_->pin_file(), "\n")))
      << file;
  EXPECT_FALSE(absl::StrContains(file, "a0a1a2a3")) << file;
  r = Run(absl::StrCat("keys list --check --keys ", path_));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "every token key was found")) << r.out;
}

}  // namespace
}  // namespace desfired
