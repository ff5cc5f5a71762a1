#include "server/security/auth.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/apdu/status_payload.h"
#include "desfired/v1/card.pb.h"
#include "desfired/v1/errors.pb.h"
#include "desfired/v1/taps.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"
#include "proto/convert/status_convert.h"

namespace desfired::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// The tokens of the tests and their SHA-256 (sha256sum of the token without a newline).
constexpr char kViewerToken[] = "viewer-token-0123456789";
constexpr char kOperatorToken[] = "operator-token-0123456789";
constexpr char kAdminToken[] = "admin-token-0123456789";

std::string TableText() {
  return absl::StrCat("# callers\n", "token ci-view    viewer   ", TokenHash(kViewerToken), "\n",
                      "\n", "  token kiosk-7\toperator ", TokenHash(kOperatorToken), "\n",
                      "token boss admin ", TokenHash(kAdminToken), "\n",
                      "cert reader-station viewer\n", "cert issuing-station admin\n");
}

CallerTable Table() {
  absl::StatusOr<CallerTable> t = CallerTable::Parse(TableText(), "tokens.conf");
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *std::move(t) : CallerTable();
}

Authorizer::Options With(CallerTable callers, size_t max_streams = 0) {
  Authorizer::Options o;
  o.callers = std::move(callers);
  o.max_streams_per_caller = max_streams;
  return o;
}

CallCredentials Bearer(const std::string& token) {
  CallCredentials c;
  c.authorization = absl::StrCat("Bearer ", token);
  c.peer = "ipv4:127.0.0.1:5000";
  return c;
}

CallCredentials Cert(const std::string& cn) {
  CallCredentials c;
  c.cert_common_names = {cn};
  c.peer = "ipv4:127.0.0.1:5001";
  return c;
}

std::string ReasonOfStatus(const absl::Status& s) { return apdu::GetReason(s).value_or(""); }

// --- The method table ------------------------------------------------------------------------

TEST(MethodRolesTest, EveryMethodOfBothServicesHasExactlyOneEntry) {
  // Linking the messages registers the files (and their services) in the generated pool.
  (void)v1::GetValueRequest::descriptor();
  (void)v1::ParseTapsRequest::descriptor();
  const google::protobuf::DescriptorPool* pool = google::protobuf::DescriptorPool::generated_pool();
  std::set<std::string> in_services;
  for (const char* name : {"desfired.v1.CardService", "desfired.v1.TapService"}) {
    const google::protobuf::ServiceDescriptor* service = pool->FindServiceByName(name);
    ASSERT_NE(service, nullptr) << name;
    for (int i = 0; i < service->method_count(); ++i) {
      in_services.insert(absl::StrCat(service->name(), "/", service->method(i)->name()));
    }
  }
  std::set<std::string> in_table;
  for (const MethodRole& m : MethodRoles()) {
    EXPECT_TRUE(in_table.insert(absl::StrCat(m.service, "/", m.method)).second)
        << "twice: " << m.method;
  }
  EXPECT_EQ(in_table, in_services);
  EXPECT_EQ(in_services.size(), 31u);  // 27 CardService + 4 TapService
}

TEST(MethodRolesTest, RolesFollowWhatTheCallChanges) {
  for (const char* m :
       {"ListReaders", "WatchCards", "GetCardInfo", "ListApplications", "ListFiles",
        "GetFileSettings", "ReadData", "GetValue", "ReadRecords", "ReadTapLog", "ParseTaps",
        "ParseTapStream", "VerifyOriginality", "VerifySun", "VerifySunStream"}) {
    EXPECT_EQ(RequiredRole(m), Role::kViewer) << m;
  }
  for (const char* m : {"WriteData", "Credit", "Debit", "LimitedCredit", "WriteRecord",
                        "ClearRecordFile", "CommitTransaction", "AbortTransaction"}) {
    EXPECT_EQ(RequiredRole(m), Role::kOperator) << m;
  }
  for (const char* m : {"FormatCard", "CreateApplication", "DeleteApplication", "CreateFile",
                        "DeleteFile", "ChangeKey", "ChangeKeySettings", "ChangeFileSettings"}) {
    EXPECT_EQ(RequiredRole(m), Role::kAdmin) << m;
  }
}

TEST(MethodRolesTest, UnknownMethodNeedsAdmin) {
  EXPECT_EQ(RequiredRole("SomethingNew"), Role::kAdmin);
  EXPECT_EQ(RequiredRole(""), Role::kAdmin);
  EXPECT_EQ(RequiredRole("debit"), Role::kAdmin);  // names are exact
}

TEST(MethodRolesTest, StreamsAreWatchCardsAndParseTapStream) {
  EXPECT_TRUE(IsStreamMethod("WatchCards"));
  EXPECT_TRUE(IsStreamMethod("ParseTapStream"));
  EXPECT_FALSE(IsStreamMethod("ParseTaps"));
  EXPECT_FALSE(IsStreamMethod("Debit"));
}

TEST(RoleTest, NamesRoundTripAndOrder) {
  for (Role r : {Role::kViewer, Role::kOperator, Role::kAdmin}) {
    EXPECT_EQ(ParseRole(RoleName(r)), r);
  }
  EXPECT_FALSE(ParseRole("Admin").has_value());
  EXPECT_FALSE(ParseRole("root").has_value());
  EXPECT_LT(Role::kViewer, Role::kOperator);
  EXPECT_LT(Role::kOperator, Role::kAdmin);
}

TEST(ReasonsTest, AreErrorReasonNames) {
  for (absl::string_view r :
       {kReasonTokenMissing, kReasonTokenInvalid, kReasonRoleDenied, kReasonTooManyStreams}) {
    v1::ErrorReason value;
    EXPECT_TRUE(v1::ErrorReason_Parse(std::string(r), &value)) << r;
  }
}

// --- Token hashes and the tokens file ---------------------------------------------------------

TEST(TokenHashTest, IsSha256InLowerCaseHex) {
  // FIPS 180-2 example: SHA-256("abc").
  EXPECT_EQ(TokenHash("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(CallerTableTest, ParsesTokensAndCerts) {
  CallerTable t = Table();
  EXPECT_FALSE(t.open());
  EXPECT_EQ(t.token_count(), 3u);
  EXPECT_EQ(t.cert_count(), 2u);
  const Principal* p = t.FindToken(kOperatorToken);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->name, "kiosk-7");
  EXPECT_EQ(p->role, Role::kOperator);
  ASSERT_NE(t.FindToken(kViewerToken), nullptr);
  EXPECT_EQ(t.FindToken(kViewerToken)->name, "ci-view");
  EXPECT_EQ(t.FindToken(kAdminToken)->role, Role::kAdmin);
  EXPECT_EQ(t.FindToken("viewer-token-012345678"), nullptr);  // one character short
  EXPECT_EQ(t.FindToken(""), nullptr);
  // The hash itself is not a token.
  EXPECT_EQ(t.FindToken(TokenHash(kViewerToken)), nullptr);
  const Principal* c = t.FindCert("issuing-station");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->name, "cert:issuing-station");
  EXPECT_EQ(c->role, Role::kAdmin);
  EXPECT_EQ(t.FindCert("Issuing-Station"), nullptr);
}

TEST(CallerTableTest, UpperCaseHexIsAccepted) {
  std::string hash = TokenHash("x");
  for (size_t i = 7; i < hash.size(); ++i) hash[i] = static_cast<char>(std::toupper(hash[i]));
  absl::StatusOr<CallerTable> t = CallerTable::Parse("token a viewer " + hash + "\n", "f");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_NE(t->FindToken("x"), nullptr);
}

TEST(CallerTableTest, EmptyFileIsOpen) {
  absl::StatusOr<CallerTable> t = CallerTable::Parse("# nobody yet\n\n", "f");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_TRUE(t->open());
}

struct BadLine {
  std::string text;
  std::string expect;  // in the message
};

TEST(CallerTableTest, BadLinesNameFileAndLineAndNeverQuoteTheLine) {
  const std::string h = TokenHash("t1");
  const std::string h2 = TokenHash("t2");
  const BadLine cases[] = {
      {"token ci viewer\n", "4 fields"},
      {"token ci viewer " + h + " extra\n", "4 fields"},
      {"token ci superuser " + h + "\n", "unknown role"},
      {"token ci Viewer " + h + "\n", "unknown role"},
      {"token ci viewer s3cr3t-plain-token-value\n", "token itself is not accepted"},
      {"token ci viewer sha256:" + std::string(63, 'a') + "\n", "sha256:"},
      {"token ci viewer sha256:" + std::string(64, 'g') + "\n", "64 hex digits"},
      {"token c/i viewer " + h + "\n", "NAME"},
      {"token " + std::string(65, 'n') + " viewer " + h + "\n", "NAME"},
      {"cert station\n", "cert CN ROLE"},
      {"cert my station viewer\n", "cert CN ROLE"},
      {"cert station boss\n", "unknown role"},
      {"user ci viewer " + h + "\n", "'token' or 'cert'"},
  };
  for (const BadLine& c : cases) {
    const std::string text = "# header\n" + c.text;
    absl::StatusOr<CallerTable> t = CallerTable::Parse(text, "/etc/desfired/tokens.conf");
    ASSERT_FALSE(t.ok()) << c.text;
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
    const std::string msg(t.status().message());
    EXPECT_THAT(msg, HasSubstr("tokens file /etc/desfired/tokens.conf line 2:")) << c.text;
    EXPECT_THAT(msg, HasSubstr(c.expect)) << c.text;
    EXPECT_THAT(msg, Not(HasSubstr("s3cr3t"))) << c.text;
    EXPECT_THAT(msg, Not(HasSubstr("superuser"))) << c.text;
    EXPECT_THAT(msg, Not(HasSubstr(h.substr(7, 16)))) << c.text;
  }
  // Duplicates name the first line.
  absl::StatusOr<CallerTable> dup_name =
      CallerTable::Parse("token a viewer " + h + "\ntoken a admin " + h2 + "\n", "f");
  ASSERT_FALSE(dup_name.ok());
  EXPECT_THAT(dup_name.status().message(),
              HasSubstr("line 2: NAME (field 2) is already used on line 1"));
  absl::StatusOr<CallerTable> dup_token =
      CallerTable::Parse("token a viewer " + h + "\n\ntoken b admin " + h + "\n", "f");
  ASSERT_FALSE(dup_token.ok());
  EXPECT_THAT(dup_token.status().message(), HasSubstr("line 3: the same token digest as line 1"));
  absl::StatusOr<CallerTable> dup_cn = CallerTable::Parse("cert s viewer\ncert s admin\n", "f");
  ASSERT_FALSE(dup_cn.ok());
  EXPECT_THAT(dup_cn.status().message(),
              HasSubstr("line 2: CN (field 2) is already used on line 1"));
}

class CallerTableFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = absl::StrCat(::testing::TempDir(), "/auth_test_tokens_", getpid(), ".conf");
    std::ofstream(path_) << TableText();
  }
  void TearDown() override { ::unlink(path_.c_str()); }
  std::string path_;
};

TEST_F(CallerTableFileTest, LoadsAPrivateFile) {
  ASSERT_EQ(::chmod(path_.c_str(), 0600), 0);
  absl::StatusOr<CallerTable> t = CallerTable::LoadFile(path_);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->token_count(), 3u);
  ASSERT_EQ(::chmod(path_.c_str(), 0400), 0);
  EXPECT_TRUE(CallerTable::LoadFile(path_).ok());
}

TEST_F(CallerTableFileTest, RefusesAFileGroupOrOthersMayRead) {
  for (mode_t mode : {0644, 0640, 0604, 0620}) {
    ASSERT_EQ(::chmod(path_.c_str(), mode), 0);
    absl::StatusOr<CallerTable> t = CallerTable::LoadFile(path_);
    ASSERT_FALSE(t.ok()) << std::oct << mode;
    EXPECT_EQ(t.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(t.status().message(), HasSubstr(path_));
    EXPECT_THAT(t.status().message(), HasSubstr("chmod 600"));
  }
}

TEST_F(CallerTableFileTest, MissingFileIsNotFound) {
  absl::StatusOr<CallerTable> t = CallerTable::LoadFile(path_ + ".missing");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(t.status().message(), HasSubstr(path_ + ".missing"));
}

// --- Decisions ------------------------------------------------------------------------------

TEST(AuthorizerTest, OpenTableAdmitsEveryoneAsAdmin) {
  Authorizer auth(With(CallerTable()));
  CallCredentials anonymous;
  anonymous.peer = "ipv4:127.0.0.1:4000";
  absl::StatusOr<Principal> p = auth.Identify(anonymous);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->role, Role::kAdmin);
  EXPECT_EQ(p->name, "ipv4:127.0.0.1:4000");
  EXPECT_TRUE(auth.Check(anonymous, "FormatCard").ok());
  EXPECT_TRUE(auth.Check(Bearer("anything"), "ChangeKey").ok());
  EXPECT_EQ(auth.Identify(Cert("station"))->name, "cert:station");
}

TEST(AuthorizerTest, MissingAndUnknownTokens) {
  Authorizer auth(With(Table()));
  CallCredentials none;
  none.peer = "ipv4:127.0.0.1:4000";
  absl::Status s = auth.Check(none, "GetValue");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(ReasonOfStatus(s), "TOKEN_MISSING");
  s = auth.Check(Bearer("not-a-known-token"), "GetValue");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(ReasonOfStatus(s), "TOKEN_INVALID");
  EXPECT_THAT(s.message(), Not(HasSubstr("not-a-known-token")));
  // Other schemes and an empty bearer value are invalid, not missing.
  CallCredentials basic;
  basic.authorization = "Basic dXNlcjpwYXNz";
  EXPECT_EQ(ReasonOfStatus(auth.Check(basic, "GetValue")), "TOKEN_INVALID");
  CallCredentials empty;
  empty.authorization = "Bearer ";
  EXPECT_EQ(ReasonOfStatus(auth.Check(empty, "GetValue")), "TOKEN_INVALID");
  CallCredentials raw;
  raw.authorization = kAdminToken;  // without the scheme
  EXPECT_EQ(ReasonOfStatus(auth.Check(raw, "GetValue")), "TOKEN_INVALID");
  // The scheme is case-insensitive.
  CallCredentials lower;
  lower.authorization = absl::StrCat("bearer   ", kViewerToken);
  EXPECT_TRUE(auth.Check(lower, "GetValue").ok());
}

TEST(AuthorizerTest, EachRoleMayDoItsOwnAndNothingMore) {
  Authorizer auth(With(Table()));
  struct Case {
    const char* token;
    Role role;
  };
  for (const Case& c : {Case{kViewerToken, Role::kViewer}, Case{kOperatorToken, Role::kOperator},
                        Case{kAdminToken, Role::kAdmin}}) {
    for (const MethodRole& m : MethodRoles()) {
      absl::Status s = auth.Check(Bearer(c.token), m.method);
      if (c.role >= m.role) {
        EXPECT_TRUE(s.ok()) << RoleName(c.role) << " " << m.method << ": " << s;
        continue;
      }
      EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << m.method;
      const google::rpc::ErrorInfo info = ToErrorInfo(s);
      EXPECT_EQ(info.reason(), "ROLE_DENIED");
      EXPECT_EQ(info.metadata().at("role"), RoleName(c.role));
      EXPECT_EQ(info.metadata().at("required"), RoleName(m.role));
      EXPECT_THAT(s.message(), Not(HasSubstr(c.token)));
    }
  }
}

TEST(AuthorizerTest, ClientCertificateNamesMapToRolesAndTokensWin) {
  Authorizer auth(With(Table()));
  EXPECT_TRUE(auth.Check(Cert("reader-station"), "GetValue").ok());
  absl::Status s = auth.Check(Cert("reader-station"), "Debit");
  EXPECT_EQ(ReasonOfStatus(s), "ROLE_DENIED");
  EXPECT_THAT(s.message(), HasSubstr("cert:reader-station"));
  EXPECT_TRUE(auth.Check(Cert("issuing-station"), "FormatCard").ok());
  // A certificate that is not in the table, without a token: TOKEN_MISSING naming the CN.
  s = auth.Check(Cert("stranger"), "GetValue");
  EXPECT_EQ(ReasonOfStatus(s), "TOKEN_MISSING");
  EXPECT_THAT(s.message(), HasSubstr("'stranger'"));
  // A token decides over the certificate, also when it is worse or invalid.
  CallCredentials both = Cert("issuing-station");
  both.authorization = absl::StrCat("Bearer ", kViewerToken);
  EXPECT_EQ(ReasonOfStatus(auth.Check(both, "FormatCard")), "ROLE_DENIED");
  EXPECT_EQ(auth.CallerName(both), "ci-view");
  both.authorization = "Bearer wrong";
  EXPECT_EQ(ReasonOfStatus(auth.Check(both, "GetValue")), "TOKEN_INVALID");
  CallCredentials up = Cert("reader-station");
  up.authorization = absl::StrCat("Bearer ", kAdminToken);
  EXPECT_TRUE(auth.Check(up, "FormatCard").ok());
}

TEST(AuthorizerTest, CallerNames) {
  Authorizer auth(With(Table()));
  EXPECT_EQ(auth.CallerName(Bearer(kOperatorToken)), "kiosk-7");
  EXPECT_EQ(auth.CallerName(Cert("reader-station")), "cert:reader-station");
  EXPECT_EQ(auth.CallerName(Bearer("unknown")), "ipv4:127.0.0.1:5000");
  CallCredentials none;
  none.peer = "ipv6:[::1]:7";
  EXPECT_EQ(auth.CallerName(none), "ipv6:[::1]:7");
}

// --- Streams per caller ---------------------------------------------------------------------

TEST(StreamLimitTest, CountsAdmittedStreamsPerCaller) {
  Authorizer auth(With(CallerTable(), 2));
  int calls[6];
  ASSERT_TRUE(auth.AdmitStream("a", &calls[0]).ok());
  ASSERT_TRUE(auth.AdmitStream("a", &calls[1]).ok());
  absl::Status s = auth.AdmitStream("a", &calls[2]);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ReasonOfStatus(s), "TOO_MANY_STREAMS");
  EXPECT_THAT(s.message(), HasSubstr("at most 2"));
  EXPECT_TRUE(auth.AdmitStream("b", &calls[3]).ok());  // another caller
  EXPECT_EQ(auth.open_streams("a"), 2u);
  // The end of a refused call, or of a unary call, changes nothing.
  auth.EndCall(&calls[2]);
  auth.EndCall(&calls[5]);
  EXPECT_EQ(auth.open_streams("a"), 2u);
  EXPECT_FALSE(auth.AdmitStream("a", &calls[4]).ok());
  // One ends (twice: counted once): one more is admitted, and no more.
  auth.EndCall(&calls[0]);
  auth.EndCall(&calls[0]);
  EXPECT_EQ(auth.open_streams("a"), 1u);
  EXPECT_TRUE(auth.AdmitStream("a", &calls[4]).ok());
  EXPECT_FALSE(auth.AdmitStream("a", &calls[5]).ok());
  auth.EndCall(&calls[1]);
  auth.EndCall(&calls[4]);
  auth.EndCall(&calls[3]);
  EXPECT_EQ(auth.open_streams("a"), 0u);
  EXPECT_EQ(auth.open_streams("b"), 0u);
}

TEST(StreamLimitTest, ZeroMeansNoLimit) {
  Authorizer auth(With(CallerTable(), 0));
  std::vector<int> calls(1000);
  for (int& c : calls) ASSERT_TRUE(auth.AdmitStream("a", &c).ok());
  EXPECT_EQ(auth.open_streams("a"), 1000u);
}

}  // namespace
}  // namespace desfired::server
