// PageOf and NextPageToken (paging.h): sizes, tokens, and the tokens refused.
#include "core/cardops/paging.h"

#include "core/cardops/errors.h"
#include "gtest/gtest.h"

namespace desfired::cardops {
namespace {

TEST(PagingTest, SizesAndTokens) {
  auto first = PageOf(0, "");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->start, 0u);
  EXPECT_EQ(first->size, static_cast<size_t>(kDefaultPageSize));
  auto capped = PageOf(5000, "16777215");
  ASSERT_TRUE(capped.ok()) << capped.status();
  EXPECT_EQ(capped->start, 16777215u);
  EXPECT_EQ(capped->size, static_cast<size_t>(kMaxPageSize));
  EXPECT_EQ(NextPageToken(4, 6), "4");
  EXPECT_EQ(NextPageToken(6, 6), "");
  EXPECT_EQ(NextPageToken(8, 6), "");
}

TEST(PagingTest, RefusesNegativeSizesAndForeignTokens) {
  EXPECT_EQ(GetErrorMetadata(PageOf(-1, "").status(), kMetadataField), "page_size");
  for (const char* token : {"abc", "+4", "-1", "16777216", "123456789"}) {
    const absl::Status status = PageOf(10, token).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << token;
    EXPECT_EQ(GetErrorMetadata(status, kMetadataField), "page_token") << token;
  }
}

}  // namespace
}  // namespace desfired::cardops
