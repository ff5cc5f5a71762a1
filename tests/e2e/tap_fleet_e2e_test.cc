// Tap ingestion across instances (docs/fleet.md, "Taps parsed by many instances"): desfired
// instances with --tap_dedup postgresql against a throwaway PostgreSQL (postgres_sandbox.h),
// over loopback gRPC. The same taps split over two instances get the same DUPLICATE_TAP flags
// as one instance that sees them all in one stream (the core pipeline of this test computes
// the reference); a round_robin channel over both instances spreads the ParseTapStream calls
// (their metrics say so) with the same result; PostgreSQL killed makes the calls fail with
// UNAVAILABLE / DEDUP_UNAVAILABLE until it is back; bad flags stop desfired.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/desfired_client.h"
#include "core/fleet/tap_dedup.h"
#include "core/keys/key_store.h"
#include "core/tap/pipeline.h"
#include "desfired/v1/taps.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "gtest/gtest.h"
#include "server/server.h"
#include "tests/testing/e2e_support.h"
#include "tests/testing/http_get.h"
#include "tests/testing/postgres_sandbox.h"
#include "tests/testing/prometheus_text.h"
#include "tests/testing/transit_keys.h"
#include "tests/unit/core/tap/test_records.h"

namespace desfired {
namespace {

constexpr char kParseRole[] = "desfired_parse";
constexpr size_t kChunk = 40;

// The shared sandbox with the table and the parse tier's role, made once.
testing::PostgresSandbox* Central() {
  static bool ready = false;
  testing::PostgresSandbox* pg = testing::SharedPostgresOrSkip();
  if (pg == nullptr || ready) return pg;
  absl::Status role = pg->Exec(absl::StrCat("CREATE ROLE ", kParseRole, " LOGIN"));
  absl::Status s = fleet::MigrateTapDedup(pg->ConnInfo(), kParseRole);
  EXPECT_TRUE(role.ok() && s.ok()) << role << s;
  ready = role.ok() && s.ok();
  return ready ? pg : nullptr;
}

// 300 taps, some seen two or three times, a few that do not parse (REJECTED: no key) and a few
// with a wrong MAC (FLAGGED, still deduplicated), in an order that mixes them.
std::vector<v1::TapInput> Taps() {
  std::vector<Bytes> raws;
  for (uint32_t i = 0; i < 300; ++i) {
    tap::testing::RecordSpec spec;
    spec.timestamp = 1700000000 + 7 * i;
    spec.terminal = 0x100 + i % 5;
    spec.uid[5] = static_cast<uint8_t>(i >> 8);
    spec.uid[6] = static_cast<uint8_t>(i);
    Bytes raw = tap::testing::MakeRecord(spec);
    if (i % 50 == 0) {
      raw[tap::kMacOffset] ^= 1;
      tap::testing::FixCrc(&raw);
    }
    const int copies = 1 + (i % 3 == 0) + (i % 7 == 0);
    for (int c = 0; c < copies; ++c) raws.push_back(raw);
  }
  for (int i = 0; i < 6; ++i) raws.push_back(Bytes(20, 0x01));
  std::shuffle(raws.begin(), raws.end(), std::mt19937(20));
  std::vector<v1::TapInput> taps;
  for (const Bytes& raw : raws) taps.emplace_back().set_raw(AsString(raw));
  return taps;
}

// Whether each tap is a DUPLICATE_TAP when one pipeline sees them all in order (one instance,
// one stream), and its dedup key.
struct Reference {
  std::vector<bool> duplicate;
  std::vector<std::string> key;
};
Reference Expected(const std::vector<v1::TapInput>& taps) {
  absl::StatusOr<keys::KeyStore> store =
      keys::KeyStore::Parse(testing::kTransitKeyFile, "transit keys");
  EXPECT_TRUE(store.ok()) << store.status();
  tap::TapPipelineConfig config;
  config.keys = &*store;
  std::unique_ptr<tap::TapPipeline> pipeline = *tap::TapPipeline::Create(config);
  Reference ref;
  tap::TapResult r;
  for (size_t i = 0; i < taps.size(); ++i) {
    pipeline->Process(i, AsBytes(taps[i].raw()), std::nullopt, &r);
    ref.duplicate.push_back(r.has(tap::TapWarning::kDuplicateTap));
    ref.key.push_back(r.status == tap::TapStatus::kRejected ? "" : r.DedupKey());
  }
  return ref;
}

bool IsDuplicate(const v1::TapResult& r) {
  return std::find(r.warnings().begin(), r.warnings().end(), v1::DUPLICATE_TAP) !=
         r.warnings().end();
}

uint64_t DuplicateCount(const v1::TapSummary& summary) {
  for (const auto& w : summary.warnings()) {
    if (w.warning() == v1::DUPLICATE_TAP) return w.count();
  }
  return 0;
}

// Streams taps[first, last) through one ParseTapStream call in chunks; each result's flag into
// `duplicate` (by its position in `taps`). The summary's DUPLICATE_TAP count.
uint64_t Stream(v1::TapService::Stub& stub, const std::vector<v1::TapInput>& taps, size_t first,
                size_t last, std::vector<int>* duplicate) {
  auto ctx = testing::Ctx(absl::Seconds(30));
  auto stream = stub.ParseTapStream(ctx.get());
  size_t at = first;
  while (at < last) {
    v1::ParseTapStreamRequest req;
    req.set_view(v1::TAP_RESULT_VIEW_BASIC);
    const size_t end = std::min(last, at + kChunk);
    for (size_t i = at; i < end; ++i) *req.add_records() = taps[i];
    EXPECT_TRUE(stream->Write(req));
    v1::ParseTapStreamResponse resp;
    if (!stream->Read(&resp)) break;
    EXPECT_EQ(resp.results_size(), static_cast<int>(end - at));
    for (const v1::TapResult& r : resp.results()) {
      (*duplicate)[first + r.index()] = IsDuplicate(r);
    }
    at = end;
  }
  stream->WritesDone();
  v1::ParseTapStreamResponse last_message;
  EXPECT_TRUE(stream->Read(&last_message));
  const grpc::Status s = stream->Finish();
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(at, last);
  return DuplicateCount(last_message.summary());
}

class TapFleetE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pg_ = Central();
    if (pg_ == nullptr) GTEST_SKIP() << "no PostgreSQL sandbox";
    ASSERT_TRUE(pg_->Exec("TRUNCATE tap_dedup").ok());  // as its owner
    dir_ = absl::StrCat(::testing::TempDir(), "/tap-fleet-", getpid(), "-",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    chmod(dir_.c_str(), 0700);
    conn_file_ = dir_ + "/central.conn";
    std::ofstream(conn_file_) << pg_->ConnInfo(kParseRole) << "\n";
    chmod(conn_file_.c_str(), 0600);
    absl::StatusOr<std::string> keys = testing::WriteKeyFile(dir_);
    ASSERT_TRUE(keys.ok()) << keys.status();
    key_file_ = *keys;
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // A desfired binary parsing taps with --tap_dedup postgresql, in a directory of its own.
  std::unique_ptr<testing::DesfiredProcess> StartBinary(const std::string& name) {
    const std::string dir = absl::StrCat(dir_, "/", name);
    std::filesystem::create_directories(dir);
    chmod(dir.c_str(), 0700);
    auto p = std::make_unique<testing::DesfiredProcess>(
        dir, std::vector<std::string>{"--listen=127.0.0.1:0", "--keys=" + key_file_,
                                      "--pcsc_socket=" + dir + "/no-pcscd.comm",
                                      "--tap_dedup=postgresql", "--tap_dedup_conn=" + conn_file_});
    EXPECT_GT(p->port(), 0) << p->err();
    return p;
  }

  // The same in this process (its metrics on a port of its own).
  std::unique_ptr<server::DesfiredServer> StartInProcess(const std::string& name) {
    server::ServerConfig config;
    config.listen = "127.0.0.1:0";
    config.keys_file = key_file_;
    config.pcsc_socket = absl::StrCat(dir_, "/", name, "-no-pcscd.comm");
    config.metrics_listen = "127.0.0.1:0";
    config.tap_dedup_conn_file = conn_file_;
    absl::StatusOr<std::unique_ptr<server::DesfiredServer>> s =
        server::DesfiredServer::Start(config);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : nullptr;
  }

  testing::PostgresSandbox* pg_ = nullptr;
  std::string dir_, conn_file_, key_file_;
};

TEST_F(TapFleetE2eTest, TapsSplitOverTwoInstancesAreFlaggedAsByOne) {
  const std::vector<v1::TapInput> taps = Taps();
  const Reference want = Expected(taps);
  const size_t reference_duplicates =
      std::count(want.duplicate.begin(), want.duplicate.end(), true);
  ASSERT_GT(reference_duplicates, 100u);  // the set has duplicates to find, on both sides

  std::unique_ptr<testing::DesfiredProcess> a = StartBinary("a");
  std::unique_ptr<testing::DesfiredProcess> b = StartBinary("b");
  ASSERT_TRUE(a->port() > 0 && b->port() > 0);
  auto stub_a = v1::TapService::NewStub(a->Channel());
  auto stub_b = v1::TapService::NewStub(b->Channel());
  // The first half through instance a, then the second through instance b: each flags what the
  // other saw first, in the order one instance would have seen them.
  std::vector<int> got(taps.size(), -1);
  const size_t half = taps.size() / 2;
  const uint64_t counted_a = Stream(*stub_a, taps, 0, half, &got);
  const uint64_t counted_b = Stream(*stub_b, taps, half, taps.size(), &got);
  size_t across = 0;  // flags in b's half that b's own stream could not have found
  std::map<std::string, size_t> first_seen;
  for (size_t i = 0; i < taps.size(); ++i) {
    ASSERT_NE(got[i], -1) << i;
    EXPECT_EQ(got[i] == 1, want.duplicate[i]) << "tap " << i << " key " << want.key[i];
    if (!want.key[i].empty()) first_seen.emplace(want.key[i], i);
    if (i >= half && got[i] == 1 && first_seen[want.key[i]] < half) ++across;
  }
  EXPECT_GT(across, 10u);
  EXPECT_EQ(counted_a + counted_b, reference_duplicates);

  // A later ParseTaps of an instance finds every one of them (a new call, the central table).
  v1::ParseTapsRequest again;
  *again.add_records() = taps[0];
  *again.add_records() = taps[taps.size() - 1];
  v1::ParseTapsResponse resp;
  grpc::Status s = stub_a->ParseTaps(testing::Ctx().get(), again, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  for (const v1::TapResult& r : resp.results()) {
    if (r.status() != v1::TapResult::REJECTED) EXPECT_TRUE(IsDuplicate(r)) << r.DebugString();
  }
  // The central table holds each key once, with the instance that saw it first.
  absl::StatusOr<std::string> keys = pg_->Query("SELECT count(*) FROM tap_dedup");
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ(*keys, absl::StrCat(first_seen.size(), "\n"));
  EXPECT_EQ(a->Stop(), 0) << a->err();
  EXPECT_EQ(b->Stop(), 0) << b->err();
}

TEST_F(TapFleetE2eTest, RoundRobinSpreadsStreamsOverBothWithTheSameFlags) {
  const std::vector<v1::TapInput> taps = Taps();
  const Reference want = Expected(taps);
  std::unique_ptr<server::DesfiredServer> a = StartInProcess("a");
  std::unique_ptr<server::DesfiredServer> b = StartInProcess("b");
  ASSERT_TRUE(a && b);
  // One channel over both addresses: every call goes to the next one (gRPC's ipv4: target with
  // a list; dns:/// with a name of several addresses does the same).
  grpc::ChannelArguments args;
  args.SetLoadBalancingPolicyName("round_robin");
  auto channel = grpc::CreateCustomChannel(
      absl::StrCat("ipv4:127.0.0.1:", a->port(), ",127.0.0.1:", b->port()),
      grpc::InsecureChannelCredentials(), args);
  auto stub = v1::TapService::NewStub(channel);
  // Each chunk is a ParseTapStream call of its own, from two client threads at once: the calls
  // race for the keys, on both instances.
  std::vector<int> got(taps.size(), -1);
  const size_t chunks = (taps.size() + kChunk - 1) / kChunk;
  std::vector<std::thread> clients;
  for (size_t t = 0; t < 2; ++t) {
    clients.emplace_back([&, t] {
      for (size_t c = t; c < chunks; c += 2) {
        Stream(*stub, taps, c * kChunk, std::min(taps.size(), (c + 1) * kChunk), &got);
      }
    });
  }
  for (std::thread& c : clients) c.join();
  // Which copy of a key is first depends on the race; how many copies are flagged does not.
  std::map<std::string, int> want_flags, got_flags;
  for (size_t i = 0; i < taps.size(); ++i) {
    ASSERT_NE(got[i], -1) << i;
    if (want.key[i].empty()) {
      EXPECT_EQ(got[i], 0) << i;  // REJECTED: no key
      continue;
    }
    want_flags[want.key[i]] += want.duplicate[i];
    got_flags[want.key[i]] += got[i];
  }
  EXPECT_EQ(got_flags, want_flags);
  // Both instances answered ParseTapStream calls, all of them between the two.
  const std::string series =
      R"(desfired_rpc_total{code="OK",method="ParseTapStream",service="TapService"})";
  double calls[2] = {0, 0};
  int i = 0;
  for (server::DesfiredServer* s : {a.get(), b.get()}) {
    absl::StatusOr<testing::HttpResponse> r = testing::HttpGet(s->metrics_port(), "/metrics");
    ASSERT_TRUE(r.ok()) << r.status();
    calls[i++] = testing::SampleValue(r->body, series).value_or(0);
  }
  EXPECT_GE(calls[0], 1) << "instance a answered no ParseTapStream call";
  EXPECT_GE(calls[1], 1) << "instance b answered no ParseTapStream call";
  EXPECT_EQ(calls[0] + calls[1], static_cast<double>(chunks));

  // The C++ client (and desfirectl, --lb-policy) does the same with ClientOptions::lb_policy:
  // its ParseTaps calls reach both; every tap was seen before, by one instance or the other.
  client::ClientOptions options;
  options.server = absl::StrCat("ipv4:127.0.0.1:", a->port(), ",127.0.0.1:", b->port());
  options.lb_policy = "round_robin";
  absl::StatusOr<std::unique_ptr<client::Client>> c = client::Client::Create(options);
  ASSERT_TRUE(c.ok()) << c.status();
  for (int k = 0; k < 6; ++k) {
    v1::ParseTapsRequest req;
    for (size_t i = k; i < taps.size(); i += 6) *req.add_records() = taps[i];
    absl::StatusOr<v1::ParseTapsResponse> resp = (*c)->ParseTaps(req);
    ASSERT_TRUE(resp.ok()) << resp.status();
    for (const v1::TapResult& r : resp->results()) {
      EXPECT_EQ(IsDuplicate(r), r.status() != v1::TapResult::REJECTED) << r.DebugString();
    }
  }
  const std::string unary =
      R"(desfired_rpc_total{code="OK",method="ParseTaps",service="TapService"})";
  for (server::DesfiredServer* s : {a.get(), b.get()}) {
    absl::StatusOr<testing::HttpResponse> r = testing::HttpGet(s->metrics_port(), "/metrics");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_GE(testing::SampleValue(r->body, unary).value_or(0), 1) << s->port();
  }
  options.lb_policy = "random";
  EXPECT_EQ(client::Client::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  a->Shutdown(absl::Seconds(1));
  b->Shutdown(absl::Seconds(1));
}

TEST_F(TapFleetE2eTest, PostgresDownFailsTheCallsUntilItIsBack) {
  std::unique_ptr<server::DesfiredServer> a = StartInProcess("a");
  ASSERT_TRUE(a);
  auto stub = v1::TapService::NewStub(testing::LoopbackChannel(a->port()));
  v1::ParseTapsRequest req;
  *req.add_records() = Taps()[0];
  v1::ParseTapsResponse resp;
  ASSERT_TRUE(stub->ParseTaps(testing::Ctx().get(), req, &resp).ok());
  EXPECT_FALSE(IsDuplicate(resp.results(0)));

  pg_->Kill();
  grpc::Status down = stub->ParseTaps(testing::Ctx().get(), req, &resp);
  EXPECT_EQ(down.error_code(), grpc::StatusCode::UNAVAILABLE) << down.error_message();
  EXPECT_EQ(testing::InfoOf(down).reason(), "DEDUP_UNAVAILABLE");
  // A stream ends at the chunk, naming it.
  {
    auto ctx = testing::Ctx();
    auto stream = stub->ParseTapStream(ctx.get());
    v1::ParseTapStreamRequest chunk;
    *chunk.mutable_records() = req.records();
    stream->Write(chunk);
    v1::ParseTapStreamResponse r;
    EXPECT_FALSE(stream->Read(&r));
    grpc::Status s = stream->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
    EXPECT_EQ(testing::InfoOf(s).metadata().at("chunk"), "0");
  }
  ASSERT_TRUE(pg_->Restart().ok());
  // Back: the same tap is found again (the central table kept it), without a restart.
  grpc::Status back = stub->ParseTaps(testing::Ctx().get(), req, &resp);
  ASSERT_TRUE(back.ok()) << back.error_message();
  EXPECT_TRUE(IsDuplicate(resp.results(0)));
  EXPECT_EQ(DuplicateCount(resp.summary()), 1u);
  a->Shutdown(absl::Seconds(1));
}

TEST_F(TapFleetE2eTest, BadSettingsStopDesfired) {
  // A connection file others may read, a missing one, the option without a file, and a
  // database without the table: desfired does not start.
  const std::string open_file = dir_ + "/open.conn";
  std::ofstream(open_file) << pg_->ConnInfo(kParseRole) << "\n";
  chmod(open_file.c_str(), 0644);
  const std::string no_table = dir_ + "/postgres.conn";
  std::ofstream(no_table) << pg_->ConnInfo(testing::kSandboxOwner, "postgres") << "\n";
  chmod(no_table.c_str(), 0600);
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--tap_dedup=postgresql", "--tap_dedup_conn=" + open_file}, "chmod 600"},
      {{"--tap_dedup=postgresql", "--tap_dedup_conn=" + dir_ + "/missing.conn"}, "missing.conn"},
      {{"--tap_dedup=postgresql"}, "--tap_dedup_conn"},
      {{"--tap_dedup=nats"}, "--tap_dedup"},
      {{"--tap_dedup=postgresql", "--tap_dedup_conn=" + no_table}, "tap_dedup"},
  };
  for (const auto& [flags, says] : cases) {
    std::vector<std::string> args = {"--listen=127.0.0.1:0",
                                     "--pcsc_socket=" + dir_ + "/no-pcscd.comm"};
    args.insert(args.end(), flags.begin(), flags.end());
    testing::DesfiredRun run = testing::RunDesfired(args, dir_, /*stop_when_listening=*/true);
    EXPECT_NE(run.exit_code, 0) << flags.back();
    EXPECT_NE(run.err.find(says), std::string::npos) << flags.back() << ": " << run.err;
  }
}

}  // namespace
}  // namespace desfired
