#include "core/util/private_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace desfired {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

class PrivateFileTest : public ::testing::Test {
 protected:
  // A file with `text` and `mode` in the test's temporary directory.
  std::string Write(const std::string& name, const std::string& text, mode_t mode) {
    const std::string path =
        absl::StrCat(::testing::TempDir(), "/private_file_", ::getpid(), "_", name);
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
    EXPECT_EQ(::chmod(path.c_str(), mode), 0);
    return path;
  }
};

TEST_F(PrivateFileTest, ReadsAPrivateFile) {
  const std::string path = Write("ok", "key a AES128 00\n", 0600);
  absl::StatusOr<std::string> text = ReadSmallFile(path, {.what = "key file"});
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "key a AES128 00\n");
}

TEST_F(PrivateFileTest, RefusesAFileOthersMayAccessNamingTheFix) {
  const std::string path = Write("open", "secret-content", 0644);
  absl::StatusOr<std::string> text = ReadSmallFile(path, {.what = "key file"});
  ASSERT_EQ(text.status().code(), absl::StatusCode::kFailedPrecondition) << text.status();
  EXPECT_EQ(text.status().message(),
            absl::StrCat("key file ", path,
                         " is accessible by group or others (mode 0644); run: chmod 600 ", path));
  EXPECT_THAT(std::string(text.status().message()), Not(HasSubstr("secret-content")));
  // Group access alone is refused too; a public file is read when allowed.
  ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  EXPECT_EQ(ReadSmallFile(path, {.what = "key file"}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  absl::StatusOr<std::string> cert = ReadSmallFile(path, {.what = "", .private_only = false});
  ASSERT_TRUE(cert.ok()) << cert.status();
  EXPECT_EQ(*cert, "secret-content");
}

TEST_F(PrivateFileTest, OtherErrorsNameTheFile) {
  const std::string missing = absl::StrCat(::testing::TempDir(), "/private_file_missing");
  absl::StatusOr<std::string> text = ReadSmallFile(missing, {.what = "tokens file"});
  EXPECT_EQ(text.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(text.status().message()),
              StartsWith("cannot open tokens file " + missing + ": "));

  text = ReadSmallFile(::testing::TempDir(), {.what = "tokens file"});
  EXPECT_EQ(text.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(text.status().message()), HasSubstr("is not a regular file"));

  const std::string big = Write("big", "12345", 0600);
  text = ReadSmallFile(big, {.what = "", .max_bytes = 4});
  EXPECT_EQ(text.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(text.status().message(), big + " is larger than 4 bytes");
  EXPECT_TRUE(ReadSmallFile(big, {.what = "", .max_bytes = 5}).ok());
}

TEST(CheckPrivateModeTest, OnlyTheOwnerMayHaveAccess) {
  EXPECT_TRUE(CheckPrivateMode(S_IFREG | 0600, "ledger file", "/x").ok());
  EXPECT_TRUE(CheckPrivateMode(S_IFREG | 0400, "ledger file", "/x").ok());
  for (mode_t mode : {0604, 0610, 0660, 0601}) {
    absl::Status s = CheckPrivateMode(S_IFREG | mode, "ledger file", "/x");
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << mode;
    EXPECT_THAT(std::string(s.message()),
                StartsWith("ledger file /x is accessible by group or others"));
    EXPECT_THAT(std::string(s.message()), HasSubstr("run: chmod 600 /x"));
  }
}

}  // namespace
}  // namespace desfired
