// desfired as an operator meets it: --help and --version, the flag spellings, stderr that is
// JSON from start to end (gRPC's own lines too) with a start-up error that names its cause,
// and server reflection (v1 and v1alpha) that knows grpc.health.v1.Health.
// The runs that start a server use a sandboxed pcscd with a desfire-sim card (skipped when not
// root); --help, --version and the flag spelling need none.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "desfired/v1/card.grpc.pb.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpc/reflection/v1/reflection.grpc.pb.h"
#include "grpcpp/impl/codegen/rpc_method.h"
#include "grpcpp/support/sync_stream.h"
#include "gtest/gtest.h"
#include "server/server.h"
#include "tests/integration/pcsc_sandbox.h"
#include "tests/testing/cli_run.h"
#include "tests/testing/e2e_support.h"

namespace desfired {
namespace {

namespace reflection = grpc::reflection::v1;
using testing::CliRun;
using testing::RunShell;

std::vector<std::string> Lines(const std::string& s) {
  return absl::StrSplit(s, '\n', absl::SkipEmpty());
}

CliRun Desfired(const std::string& args) {
  return RunShell(absl::StrCat(DESFIRED_TEST_BINARY, " ", args));
}

// The flags --helpfull lists under desfired's own files ("Flags from server/main.cc:").
std::vector<std::string> OwnFlagsOfHelpfull() {
  const CliRun full = Desfired("--helpfull");
  std::vector<std::string> flags;
  bool own = false;
  for (const std::string& line : Lines(full.out)) {
    if (absl::StartsWith(line, "  Flags from ")) {
      own = absl::StrContains(line, "server/");
    } else if (own && absl::StartsWith(line, "    --")) {
      const std::string name = line.substr(6);
      flags.push_back(name.substr(0, name.find_first_of(" (")));
    }
  }
  return flags;
}

TEST(DesfiredHelpTest, HelpListsEveryFlagGroupedWithTheConfigFile) {
  const CliRun help = Desfired("--help");
  ASSERT_EQ(help.exit_code, 0) << help.err;
  EXPECT_FALSE(absl::StrContains(help.out, "No flags matched")) << help.out;
  for (const char* group :
       {"Listening and connections:", "Security: TLS, callers, keys:", "Readers and card calls:",
        "Audit ledger:", "Logs and metrics:", "Tap records (TapService):", "--flagfile=FILE"}) {
    EXPECT_TRUE(absl::StrContains(help.out, group)) << group << "\n" << help.out;
  }
  const std::vector<std::string> own = OwnFlagsOfHelpfull();
  ASSERT_GT(own.size(), 30u) << "--helpfull lists desfired's flags";
  for (const std::string& flag : own) {
    const std::string dashed = absl::StrReplaceAll(flag, {{"_", "-"}});
    EXPECT_TRUE(absl::StrContains(help.out, absl::StrCat("\n  --", dashed, " (default: ")))
        << "--help does not list --" << dashed;
  }
  EXPECT_TRUE(absl::StrContains(help.out, "  --pcsc-socket (default: \"\")\n")) << help.out;
}

TEST(DesfiredHelpTest, VersionNamesVersionBuildTypeAndRevision) {
  const CliRun version = Desfired("--version");
  ASSERT_EQ(version.exit_code, 0) << version.err;
  const std::vector<std::string> lines = Lines(version.out);
  ASSERT_EQ(lines.size(), 3u) << version.out;
  EXPECT_TRUE(absl::StartsWith(lines[0], "desfired 0.")) << version.out;
  EXPECT_TRUE(absl::StartsWith(lines[1], "build type: ")) << version.out;
  EXPECT_GT(lines[1].size(), std::string("build type: ").size());
  EXPECT_TRUE(absl::StartsWith(lines[2], "git revision: ")) << version.out;
  EXPECT_GT(lines[2].size(), std::string("git revision: ").size());
}

// The dash spelling of desfirectl and the probe, and abseil's underscore spelling as the old
// one: both reach the flag (a bad --log-format value is refused naming it).
TEST(DesfiredHelpTest, FlagsTakeDashesAndTheOldUnderscores) {
  for (const char* flag : {"--log-format=yaml", "--log_format=yaml", "--log-format yaml"}) {
    const CliRun run = Desfired(flag);
    EXPECT_EQ(run.exit_code, 2) << flag << ": " << run.err;
    EXPECT_TRUE(absl::StrContains(run.err, "'yaml'")) << flag << ": " << run.err;
  }
  const CliRun unknown = Desfired("--no-such-flag=1");
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(unknown.err, "no-such-flag")) << unknown.err;
}

class OperatorE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::StartTransitSandbox(&sandbox_, /*blank_card=*/false)) return;
  }
  std::string PcscFlag() const {
    return absl::StrCat("--pcsc_socket=", sandbox_->dir(), "/run/pcscd.comm");
  }
  std::unique_ptr<testing::PcscSandbox> sandbox_;
};

// A listening socket on 127.0.0.1; its port.
int BusyPort(int* fd) {
  *fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(*fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(*fd, 1) != 0) {
    return 0;
  }
  socklen_t len = sizeof(addr);
  ::getsockname(*fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

TEST_F(OperatorE2eTest, BusyPortErrorNamesTheCauseAndStderrStaysJson) {
  int fd = -1;
  const int port = BusyPort(&fd);
  ASSERT_GT(port, 0);
  const std::string listen = absl::StrCat("127.0.0.1:", port);
  testing::DesfiredProcess server(sandbox_->dir(), {"--listen=" + listen, PcscFlag()});
  EXPECT_EQ(server.Wait(), 1) << server.err();
  ::close(fd);
  bool named = false;
  for (const std::string& line : Lines(server.err())) {
    google::protobuf::Struct json;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(line, &json).ok())
        << "not JSON: " << line;
    auto msg = json.fields().find("msg");
    if (msg != json.fields().end() &&
        msg->second.string_value() ==
            absl::StrCat("cannot listen on ", listen, ": address in use")) {
      named = true;
    }
  }
  EXPECT_TRUE(named) << server.err();
}

// One reflection request on a stream of `method` ("/grpc.reflection.v1.ServerReflection/..."
// or v1alpha's: the same messages on the wire).
reflection::ServerReflectionResponse Reflect(const std::shared_ptr<grpc::Channel>& channel,
                                             const char* method,
                                             const reflection::ServerReflectionRequest& request) {
  auto context = testing::Ctx();
  const grpc::internal::RpcMethod rpc(method, grpc::internal::RpcMethod::BIDI_STREAMING);
  std::unique_ptr<grpc::ClientReaderWriter<reflection::ServerReflectionRequest,
                                           reflection::ServerReflectionResponse>>
      stream(grpc::internal::ClientReaderWriterFactory<
             reflection::ServerReflectionRequest,
             reflection::ServerReflectionResponse>::Create(channel.get(), rpc, context.get()));
  reflection::ServerReflectionResponse response;
  EXPECT_TRUE(stream->Write(request)) << method;
  EXPECT_TRUE(stream->Read(&response)) << method;
  stream->WritesDone();
  const grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << method << ": " << status.error_message();
  return response;
}

TEST_F(OperatorE2eTest, ReflectionV1AndV1AlphaKnowTheHealthService) {
  server::ServerConfig config;
  config.listen = "127.0.0.1:0";
  auto server = server::DesfiredServer::Start(config);
  ASSERT_TRUE(server.ok()) << server.status();
  auto channel = testing::LoopbackChannel((*server)->port());
  for (const char* method : {"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                             "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"}) {
    SCOPED_TRACE(method);
    reflection::ServerReflectionRequest list;
    list.set_list_services("*");
    const reflection::ServerReflectionResponse services = Reflect(channel, method, list);
    std::set<std::string> names;
    for (const auto& s : services.list_services_response().service()) names.insert(s.name());
    for (const char* name :
         {"grpc.health.v1.Health", "desfired.v1.CardService", "desfired.v1.TapService",
          "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"}) {
      EXPECT_EQ(names.count(name), 1u) << name;
    }

    reflection::ServerReflectionRequest symbol;
    symbol.set_file_containing_symbol("grpc.health.v1.Health");
    const reflection::ServerReflectionResponse file = Reflect(channel, method, symbol);
    ASSERT_EQ(file.message_response_case(),
              reflection::ServerReflectionResponse::kFileDescriptorResponse)
        << file.error_response().error_message();
    bool found = false;
    for (const std::string& bytes : file.file_descriptor_response().file_descriptor_proto()) {
      google::protobuf::FileDescriptorProto proto;
      ASSERT_TRUE(proto.ParseFromString(bytes));
      if (proto.name() != "grpc/health/v1/health.proto") continue;
      ASSERT_EQ(proto.service_size(), 1);
      EXPECT_EQ(proto.service(0).name(), "Health");
      found = true;
    }
    EXPECT_TRUE(found);
  }
  (*server)->Shutdown(absl::Seconds(1));
}

// The key file of docs/getting-started.md, as a reader copies it, verifies the card's tap log
// (every record VALID, as scripts/demo shows it); the guide names its port once (PORT=).
TEST_F(OperatorE2eTest, GettingStartedKeyFileVerifiesTheTapLog) {
  const std::string guide =
      testing::ReadFile(absl::StrCat(DESFIRED_TEST_SOURCE_DIR, "/docs/getting-started.md"));
  const std::string open = "cat > /tmp/dsf/keys.conf <<'EOF'\n";
  const size_t begin = guide.find(open);
  ASSERT_NE(begin, std::string::npos);
  const size_t end = guide.find("\nEOF\n", begin);
  ASSERT_NE(end, std::string::npos);
  const std::string keys_text = guide.substr(begin + open.size(), end - begin - open.size() + 1);
  absl::StatusOr<std::string> keys = testing::WriteKeyFile(sandbox_->dir(), keys_text);
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ(guide.find("127.0.0.1:50051"), std::string::npos) << "use $PORT";

  server::ServerConfig config;
  config.listen = "127.0.0.1:0";
  config.keys_file = *keys;
  auto server = server::DesfiredServer::Start(config);
  ASSERT_TRUE(server.ok()) << server.status();
  auto cards = v1::CardService::NewStub(testing::LoopbackChannel((*server)->port()));
  v1::ReadTapLogRequest request;
  request.mutable_target()->set_reader(sandbox_->ReaderName(0));
  request.set_aid(0xF51001);
  request.set_file_no(3);
  request.mutable_auth()->set_key_name("transit-read");
  request.mutable_auth()->set_key_number(1);
  v1::ReadTapLogResponse log;
  const grpc::Status s = cards->ReadTapLog(testing::Ctx().get(), request, &log);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_GT(log.results_size(), 0);
  EXPECT_EQ(log.summary().valid(), static_cast<uint64_t>(log.results_size())) << log.DebugString();
  (*server)->Shutdown(absl::Seconds(1));
}

}  // namespace
}  // namespace desfired
