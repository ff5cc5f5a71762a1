// The HTTP API's request parsers, error shape and sessions (server/http/).
#include "server/http/http_request.h"

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/http/http_error.h"
#include "server/http/session_store.h"

namespace desfired::server::http {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(SplitPathTest, DecodesSegments) {
  EXPECT_THAT(*SplitPath("/"), IsEmpty());
  EXPECT_THAT(*SplitPath("/v1/readers/Test%20PCD%2000%2000/card"),
              ElementsAre("v1", "readers", "Test PCD 00 00", "card"));
  EXPECT_THAT(*SplitPath("/v1/taps:parse"), ElementsAre("v1", "taps:parse"));
  EXPECT_THAT(*SplitPath("/a+b/%C3%A9"), ElementsAre("a+b", "\xC3\xA9"));  // '+' stays in paths
}

TEST(SplitPathTest, RefusesMalformedPaths) {
  for (const char* bad : {"", "v1", "//", "/v1//x", "/v1/", "/.", "/a/..", "/%2e%2E", "/%zz", "/%4",
                          "/%", "/a%2Fb", "/a%00", "/a%0a", "/%ff", "/%C0%AF", "/%ED%A0%80"}) {
    absl::StatusOr<std::vector<std::string>> r = SplitPath(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    }
  }
  EXPECT_FALSE(SplitPath("/" + std::string(kMaxPathBytes, 'a')).ok());
}

TEST(ParseQueryTest, PairsInOrder) {
  absl::StatusOr<QueryParams> q = ParseQuery("reader=a+b&reader=c%20d&&flag&resume_after=17");
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_THAT(QueryValues(*q, "reader"), ElementsAre("a b", "c d"));
  EXPECT_THAT(QueryValues(*q, "flag"), ElementsAre(""));
  EXPECT_THAT(QueryValues(*q, "resume_after"), ElementsAre("17"));
  EXPECT_THAT(*ParseQuery(""), IsEmpty());
}

TEST(ParseQueryTest, RefusesBadOnesWithoutEchoingThem) {
  EXPECT_FALSE(ParseQuery("=x").ok());
  absl::StatusOr<QueryParams> bad = ParseQuery("token=secret%zz");
  ASSERT_FALSE(bad.ok());
  EXPECT_FALSE(absl::StrContains(bad.status().message(), "secret"));
  std::string many;
  for (size_t i = 0; i <= kMaxQueryParams; ++i) many += "a=1&";
  EXPECT_FALSE(ParseQuery(many).ok());
}

TEST(CookieValueTest, FindsTheNamedCookie) {
  EXPECT_EQ(CookieValue("theme=dark; desfired_session=ab12; x=1", "desfired_session"), "ab12");
  EXPECT_EQ(CookieValue("desfired_session=\"q\"", "desfired_session"), "q");
  EXPECT_EQ(CookieValue("desfired_session=1; desfired_session=2", "desfired_session"), "1");
  EXPECT_EQ(CookieValue("xdesfired_session=1; junk", "desfired_session"), std::nullopt);
  EXPECT_EQ(CookieValue("", "desfired_session"), std::nullopt);
}

TEST(HttpErrorTest, Aip193StatusAndOneJsonShape) {
  const std::pair<absl::StatusCode, int> expected[] = {
      {absl::StatusCode::kInvalidArgument, 400},   {absl::StatusCode::kFailedPrecondition, 400},
      {absl::StatusCode::kUnauthenticated, 401},   {absl::StatusCode::kPermissionDenied, 403},
      {absl::StatusCode::kNotFound, 404},          {absl::StatusCode::kAborted, 409},
      {absl::StatusCode::kResourceExhausted, 429}, {absl::StatusCode::kCancelled, 499},
      {absl::StatusCode::kDataLoss, 500},          {absl::StatusCode::kUnimplemented, 501},
      {absl::StatusCode::kUnavailable, 503},       {absl::StatusCode::kDeadlineExceeded, 504},
  };
  for (const auto& [code, http] : expected) EXPECT_EQ(HttpStatusOf(code), http) << code;
  EXPECT_EQ(ErrorJson(HttpError(absl::StatusCode::kResourceExhausted, "BODY_TOO_LARGE",
                                "too \"big\"", {{"max", "10"}, {"limit", "x"}})),
            "{\"code\":\"RESOURCE_EXHAUSTED\",\"reason\":\"BODY_TOO_LARGE\",\"message\":"
            "\"too \\\"big\\\"\",\"metadata\":{\"limit\":\"x\",\"max\":\"10\"}}");
  EXPECT_EQ(ErrorJson(absl::NotFoundError("x")),
            "{\"code\":\"NOT_FOUND\",\"reason\":\"NOT_FOUND\",\"message\":\"x\",\"metadata\":{}}");
}

TEST(SessionStoreTest, CreateFindExpireRemove) {
  SessionStore store({.ttl = absl::Hours(1), .max_sessions = 2});
  absl::StatusOr<SessionStore::Created> a = store.Create("tok-a", {.name = "a"});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->id.size(), 64u);
  EXPECT_NE(a->id, a->csrf);
  std::optional<Session> found = store.Find(a->id);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->token, "tok-a");
  EXPECT_TRUE(SessionStore::CsrfMatches(*found, a->csrf));
  EXPECT_FALSE(SessionStore::CsrfMatches(*found, ""));
  EXPECT_FALSE(SessionStore::CsrfMatches(*found, std::string(64, '0')));
  EXPECT_FALSE(store.Find(a->csrf).has_value());
  EXPECT_FALSE(store.Find("short").has_value());
  // At the bound the oldest goes.
  absl::StatusOr<SessionStore::Created> b = store.Create("tok-b", {.name = "b"});
  absl::StatusOr<SessionStore::Created> c = store.Create("tok-c", {.name = "c"});
  ASSERT_TRUE(b.ok() && c.ok());
  EXPECT_EQ(store.size(), 2u);
  EXPECT_FALSE(store.Find(a->id).has_value());
  store.Remove(b->id);
  EXPECT_FALSE(store.Find(b->id).has_value());
  EXPECT_TRUE(store.Find(c->id).has_value());

  SessionStore expired({.ttl = absl::ZeroDuration()});
  absl::StatusOr<SessionStore::Created> d = expired.Create("", {.name = "d"});
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(expired.Find(d->id).has_value());
}

}  // namespace
}  // namespace desfired::server::http
