// TapService limits through the real desfired binary over loopback: the largest batch and
// chunk are answered and one more record is refused before parsing; a chunk that cannot be
// decoded, or that fills the stream's duplicate detection, ends the stream with an error that
// names it; calls per caller (anonymous callers sharing one share); and the worst-case memory
// of docs/server.md ("Limits and memory") measured as the process's peak RSS (VmHWM).
#include <fcntl.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "desfired/v1/taps.grpc.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/impl/codegen/client_unary_call.h"
#include "grpcpp/impl/codegen/rpc_method.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/sync_stream.h"
#include "gtest/gtest.h"
#include "server/security/auth.h"
#include "tests/integration/pcsc_sandbox.h"
#include "tests/testing/e2e_support.h"
#include "tests/testing/raw_http2.h"
#include "tests/unit/core/tap/test_records.h"

namespace desfired {
namespace {

using testing::DesfiredProcess;
using ::testing::HasSubstr;
using testing::InfoOf;

constexpr int kDefaultBatch = 50000;  // --max_tap_batch's default
using RawStream = grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>;

std::string Meta(const google::rpc::ErrorInfo& info, const std::string& key) {
  auto it = info.metadata().find(key);
  return it == info.metadata().end() ? "" : it->second;
}

// Record `i`: a decodable 32-byte record with its own duplicate key (UID and terminal from i).
std::string Record(uint32_t i) {
  tap::testing::RecordSpec spec;
  spec.terminal = i & 0xFFFFFF;
  spec.uid[1] = static_cast<uint8_t>(i >> 24);
  spec.uid[2] = static_cast<uint8_t>(i >> 16);
  spec.uid[3] = static_cast<uint8_t>(i >> 8);
  spec.uid[4] = static_cast<uint8_t>(i);
  Bytes r = tap::testing::MakeRecord(spec);
  return std::string(r.begin(), r.end());
}

// `n` records numbered from `first`, each with a backend time (the widest answers).
template <typename Request>
Request Records(uint32_t first, int n) {
  Request req;
  req.mutable_records()->Reserve(n);
  for (int i = 0; i < n; ++i) {
    v1::TapInput* in = req.add_records();
    in->set_raw(Record(first + static_cast<uint32_t>(i)));
    in->mutable_backend_time()->set_seconds(1700000000 + i % 7);
  }
  return req;
}

grpc::ByteBuffer Bytes(const std::string& s) {
  grpc::Slice slice(s);
  return grpc::ByteBuffer(&slice, 1);
}
template <typename Message>
grpc::ByteBuffer Encode(const Message& m) {
  return Bytes(m.SerializeAsString());
}

// ParseTapStream with the chunks as bytes, so that a test can send any bytes.
std::unique_ptr<RawStream> OpenRawStream(grpc::Channel* channel, grpc::ClientContext* ctx) {
  static const grpc::internal::RpcMethod method("/desfired.v1.TapService/ParseTapStream",
                                                grpc::internal::RpcMethod::BIDI_STREAMING);
  return std::unique_ptr<RawStream>(
      grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(
          channel, method, ctx));
}
// ParseTaps with the request as bytes.
grpc::Status RawParseTaps(grpc::Channel* channel, grpc::ClientContext* ctx,
                          const grpc::ByteBuffer& request, grpc::ByteBuffer* response) {
  static const grpc::internal::RpcMethod method("/desfired.v1.TapService/ParseTaps",
                                                grpc::internal::RpcMethod::NORMAL_RPC);
  return grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(channel, method, ctx,
                                                                               request, response);
}

// A ParseTapsRequest of `n` empty records, encoded: 2 bytes each.
std::string EmptyRecords(size_t n) {
  std::string bytes;
  bytes.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) bytes.append("\x0a\x00", 2);
  return bytes;
}

// The peak resident memory of `pid` (VmHWM), in bytes; 0 when unknown.
size_t PeakRss(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) != 0) continue;
    std::vector<std::string> parts = absl::StrSplit(line, ' ', absl::SkipEmpty());
    size_t kib = 0;
    if (parts.size() >= 2 && absl::SimpleAtoi(parts[1], &kib)) return kib * 1024;
  }
  return 0;
}

std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token = "",
                                         absl::Duration timeout = absl::Seconds(120)) {
  auto ctx = testing::Ctx(timeout);
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
  return ctx;
}

// A loopback channel to `server` that takes answers of any size (the server's limit is the
// one under test).
std::shared_ptr<grpc::Channel> Channel(const DesfiredProcess& server) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", server.port()),
                                   grpc::InsecureChannelCredentials(), args);
}

class TapLimitsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::StartTransitSandbox(&sandbox_, /*blank_card=*/false)) return;
    dir_ = sandbox_->dir();
  }
  std::unique_ptr<DesfiredProcess> Start(std::vector<std::string> args) {
    args.push_back("--listen=127.0.0.1:0");
    args.push_back(absl::StrCat("--pcsc_socket=", dir_, "/run/pcscd.comm"));
    auto server = std::make_unique<DesfiredProcess>(dir_, std::move(args));
    EXPECT_GT(server->port(), 0) << server->err();
    return server;
  }
  // A tokens file (mode 600) with viewers named caller-0.. whose tokens are "token-<i>".
  std::string Tokens(int callers) {
    std::string text;
    for (int i = 0; i < callers; ++i) {
      absl::StrAppend(&text, "token caller-", i, " viewer ",
                      server::TokenHash(absl::StrCat("token-", i)), "\n");
    }
    const std::string path = dir_ + "/tokens.conf";
    std::ofstream(path) << text;
    ::chmod(path.c_str(), 0600);
    return path;
  }

  std::unique_ptr<testing::PcscSandbox> sandbox_;
  std::string dir_;
};

// --- Finding: the largest batch could not be answered ------------------------------------

TEST_F(TapLimitsE2eTest, LargestBatchIsAnsweredAndOneMoreIsRefusedBeforeParsing) {
  auto server = Start({});
  auto taps = v1::TapService::NewStub(Channel(*server));
  v1::ParseTapsRequest req = Records<v1::ParseTapsRequest>(0, kDefaultBatch);
  v1::ParseTapsResponse resp;
  grpc::Status s = taps->ParseTaps(Ctx().get(), req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  EXPECT_EQ(resp.results_size(), kDefaultBatch);
  EXPECT_EQ(resp.summary().total(), static_cast<uint64_t>(kDefaultBatch));

  *req.add_records() = req.records(0);
  s = taps->ParseTaps(Ctx().get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_EQ(Meta(InfoOf(s), "field"), "records");

  // 8 M empty records in 16 MB: counted in the encoded message and refused before anything
  // is made of them (the server used to grow by some 400 MB on this).
  const size_t before = PeakRss(server->pid());
  grpc::ByteBuffer empty = Bytes(EmptyRecords(8'000'000));
  grpc::ByteBuffer answer;
  s = RawParseTaps(Channel(*server).get(), Ctx().get(), empty, &answer);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_EQ(Meta(InfoOf(s), "field"), "records");
  const size_t after = PeakRss(server->pid());
  EXPECT_LT(after, before + (size_t{64} << 20)) << before << " -> " << after;

  // A record longer than any record can be is refused by its index: over the encoded limit
  // while the request is counted, over 64 bytes when it is read.
  v1::ParseTapsRequest long_record = Records<v1::ParseTapsRequest>(0, 3);
  long_record.mutable_records(2)->set_raw(std::string(300, '\x01'));
  s = taps->ParseTaps(Ctx().get(), long_record, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_EQ(Meta(InfoOf(s), "field"), "records[2]");
  long_record.mutable_records(2)->set_raw(std::string(100, '\x01'));
  s = taps->ParseTaps(Ctx().get(), long_record, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_EQ(Meta(InfoOf(s), "field"), "records.raw");
  EXPECT_THAT(s.error_message(), HasSubstr("records[2].raw: 100 bytes"));
  EXPECT_EQ(server->Stop(), 0) << server->err();
}

TEST_F(TapLimitsE2eTest, BatchLimitsThatCannotBeAnsweredAreAConfigError) {
  // The old default: 100,000 answers do not fit 16 MiB.
  testing::DesfiredRun run = testing::RunDesfired(
      {"--listen=127.0.0.1:0", absl::StrCat("--pcsc_socket=", dir_, "/run/pcscd.comm"),
       "--max_tap_batch=100000"},
      dir_, /*stop_when_listening=*/true);
  EXPECT_NE(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.err, HasSubstr("max_tap_batch"));
  EXPECT_THAT(run.err, HasSubstr("max_message_bytes"));
  // A smaller message limit lowers what fits.
  run = testing::RunDesfired(
      {"--listen=127.0.0.1:0", absl::StrCat("--pcsc_socket=", dir_, "/run/pcscd.comm"),
       "--max_message_bytes=1048576"},
      dir_, /*stop_when_listening=*/true);
  EXPECT_NE(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.err, HasSubstr("max_tap_batch"));
}

TEST_F(TapLimitsE2eTest, LargestChunkIsAnsweredAndOneMoreEndsTheStreamNamingIt) {
  auto server = Start({});
  auto taps = v1::TapService::NewStub(Channel(*server));
  auto ctx = Ctx();
  auto stream = taps->ParseTapStream(ctx.get());
  v1::ParseTapStreamRequest chunk = Records<v1::ParseTapStreamRequest>(0, kDefaultBatch);
  ASSERT_TRUE(stream->Write(chunk));
  v1::ParseTapStreamResponse resp;
  ASSERT_TRUE(stream->Read(&resp));
  EXPECT_EQ(resp.results_size(), kDefaultBatch);
  EXPECT_EQ(resp.records_processed(), static_cast<uint64_t>(kDefaultBatch));
  *chunk.add_records() = chunk.records(0);
  stream->Write(chunk);
  EXPECT_FALSE(stream->Read(&resp));
  grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_EQ(Meta(InfoOf(s), "field"), "records");
  EXPECT_EQ(Meta(InfoOf(s), "chunk"), "1");
  EXPECT_EQ(server->Stop(), 0) << server->err();
}

// --- Finding: a chunk that could not be decoded was dropped, and the stream ended OK --------

TEST_F(TapLimitsE2eTest, UndecodableChunkEndsTheStreamWithAnErrorNamingIt) {
  auto server = Start({});
  auto channel = Channel(*server);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  std::unique_ptr<RawStream> stream = OpenRawStream(channel.get(), &ctx);
  ASSERT_TRUE(stream->Write(Encode(Records<v1::ParseTapStreamRequest>(0, 3))));
  grpc::ByteBuffer answer;
  ASSERT_TRUE(stream->Read(&answer));
  // Field 1 claims 127 bytes that are not there.
  stream->Write(Bytes(std::string("\x0a\x7f\x01\x02", 4)));
  stream->Write(Encode(Records<v1::ParseTapStreamRequest>(3, 3)));  // never parsed
  stream->WritesDone();
  while (stream->Read(&answer)) {
  }
  grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_EQ(Meta(InfoOf(s), "chunk"), "1");
  EXPECT_THAT(s.error_message(), HasSubstr("chunk 1"));
  EXPECT_EQ(server->Stop(), 0) << server->err();
}

// --- Finding: duplicate detection was bounded silently ---------------------------------------

TEST_F(TapLimitsE2eTest, FullDuplicateDetectionEndsTheStreamWithResourceExhausted) {
  auto server = Start({"--max_tap_batch=1000", "--max_stream_dedup_entries=1000"});
  auto taps = v1::TapService::NewStub(Channel(*server));
  auto ctx = Ctx();
  auto stream = taps->ParseTapStream(ctx.get());
  v1::ParseTapStreamResponse resp;
  ASSERT_TRUE(stream->Write(Records<v1::ParseTapStreamRequest>(0, 1000)));
  ASSERT_TRUE(stream->Read(&resp));
  EXPECT_EQ(resp.records_processed(), 1000u);
  // Duplicates of what was seen are still flagged...
  ASSERT_TRUE(stream->Write(Records<v1::ParseTapStreamRequest>(0, 10)));
  ASSERT_TRUE(stream->Read(&resp));
  ASSERT_EQ(resp.results_size(), 10);
  EXPECT_THAT(resp.results(0).warnings(), ::testing::Contains(v1::DUPLICATE_TAP));
  // ...and a new key that would push one out ends the stream instead.
  stream->Write(Records<v1::ParseTapStreamRequest>(5000, 1));
  EXPECT_FALSE(stream->Read(&resp));
  grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_EQ(InfoOf(s).reason(), "DEDUP_CAPACITY");
  EXPECT_EQ(Meta(InfoOf(s), "limit"), "max_stream_dedup_entries");
  EXPECT_EQ(Meta(InfoOf(s), "max"), "1000");
  EXPECT_EQ(Meta(InfoOf(s), "chunk"), "2");
  EXPECT_EQ(server->Stop(), 0) << server->err();
}

// --- Finding: calls and bytes per caller were not limited ------------------------------------

// A stream that stays open (one call of its caller) until the context is cancelled.
struct OpenStream {
  std::unique_ptr<grpc::ClientContext> ctx;
  std::unique_ptr<grpc::ClientReaderWriter<v1::ParseTapStreamRequest, v1::ParseTapStreamResponse>>
      stream;
  bool Open(v1::TapService::Stub& taps, const std::string& token) {
    ctx = Ctx(token);
    stream = taps.ParseTapStream(ctx.get());
    v1::ParseTapStreamResponse resp;
    return stream->Write(Records<v1::ParseTapStreamRequest>(0, 1)) && stream->Read(&resp);
  }
  ~OpenStream() {
    if (ctx) ctx->TryCancel();
  }
};

grpc::Status OneRecord(v1::TapService::Stub& taps, const std::string& token) {
  v1::ParseTapsResponse resp;
  return taps.ParseTaps(Ctx(token).get(), Records<v1::ParseTapsRequest>(0, 1), &resp);
}

TEST_F(TapLimitsE2eTest, CallsPerCallerAndAnonymousCallersShareOneShare) {
  {
    auto server = Start({"--max_tap_calls_per_caller=1", "--tokens=" + Tokens(2)});
    auto taps = v1::TapService::NewStub(Channel(*server));
    OpenStream held;
    ASSERT_TRUE(held.Open(*taps, "token-0"));
    grpc::Status s = OneRecord(*taps, "token-0");
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
    EXPECT_EQ(InfoOf(s).reason(), "TOO_MANY_CALLS");
    EXPECT_EQ(Meta(InfoOf(s), "limit"), "max_tap_calls_per_caller");
    EXPECT_EQ(Meta(InfoOf(s), "max"), "1");
    EXPECT_THAT(s.error_message(), HasSubstr("caller-0"));
    s = OneRecord(*taps, "token-1");  // another caller has its own share
    EXPECT_TRUE(s.ok()) << s.error_message();
  }
  {
    // Without tokens nobody is identified: all callers, on any connection, share one share.
    auto server = Start({"--max_tap_calls_per_caller=1"});
    auto taps = v1::TapService::NewStub(Channel(*server));
    auto other = v1::TapService::NewStub(Channel(*server));  // a second connection
    OpenStream held;
    ASSERT_TRUE(held.Open(*taps, ""));
    grpc::Status s = OneRecord(*other, "");
    EXPECT_EQ(InfoOf(s).reason(), "TOO_MANY_CALLS") << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr("anonymous"));
    held.ctx->TryCancel();
    held.ctx.reset();
    // The slot comes back when the stream has ended.
    absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (!(s = OneRecord(*other, "")).ok() && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    EXPECT_TRUE(s.ok()) << s.error_message();
  }
  {
    // All callers together.
    auto server = Start({"--max_tap_calls=1", "--tokens=" + Tokens(2)});
    auto taps = v1::TapService::NewStub(Channel(*server));
    OpenStream held;
    ASSERT_TRUE(held.Open(*taps, "token-0"));
    grpc::Status s = OneRecord(*taps, "token-1");
    EXPECT_EQ(InfoOf(s).reason(), "TOO_MANY_CALLS") << s.error_message();
    EXPECT_EQ(Meta(InfoOf(s), "limit"), "max_tap_calls");
  }
}

// VerifySun and VerifySunStream are TapService calls like the others: they take their place in
// the same budget (the streams share one reactor shape, server/rpc/tap_reactors.h).
TEST_F(TapLimitsE2eTest, SunCallsTakeTheirPlaceInTheCallBudget) {
  absl::StatusOr<std::string> keys =
      testing::WriteKeyFile(dir_, "key sdm-file AES128 f0e1d2c3b4a5968778695a4b3c2d1e0f\n");
  ASSERT_TRUE(keys.ok()) << keys.status();
  auto server = Start({"--max_tap_calls=1", "--keys=" + *keys});
  auto taps = v1::TapService::NewStub(Channel(*server));
  v1::VerifySunRequest chunk;  // no messages: answered with no results
  chunk.set_file_key_name("sdm-file");
  v1::VerifySunResponse answer;
  // A second stream sends its chunk at once: admitted, it would be answered.
  auto refused_stream = [&](const char* what) {
    auto ctx = Ctx();
    auto stream = taps->VerifySunStream(ctx.get());
    stream->Write(chunk);
    EXPECT_FALSE(stream->Read(&answer)) << what;
    grpc::Status s = stream->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << what << s.error_message();
    EXPECT_EQ(InfoOf(s).reason(), "TOO_MANY_CALLS") << what;
    EXPECT_EQ(Meta(InfoOf(s), "limit"), "max_tap_calls") << what;
  };
  {
    auto ctx = Ctx();
    auto held = taps->VerifySunStream(ctx.get());
    ASSERT_TRUE(held->Write(chunk) && held->Read(&answer));
    refused_stream("VerifySunStream while a VerifySunStream is open");
    grpc::Status s = OneRecord(*taps, "");
    EXPECT_EQ(InfoOf(s).reason(), "TOO_MANY_CALLS") << "ParseTaps: " << s.error_message();
    s = taps->VerifySun(Ctx().get(), chunk, &answer);
    EXPECT_EQ(InfoOf(s).reason(), "TOO_MANY_CALLS") << "VerifySun: " << s.error_message();
    ASSERT_TRUE(held->WritesDone());
    ASSERT_TRUE(held->Read(&answer));  // the counts
    EXPECT_FALSE(held->Read(&answer));
    s = held->Finish();
    EXPECT_TRUE(s.ok()) << s.error_message();
  }
  // The slot comes back when the stream has ended (gRPC's OnDone may follow Finish a little);
  // then a ParseTapStream holds it.
  auto held = std::make_unique<OpenStream>();
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  bool open = false;
  while (!(open = held->Open(*taps, "")) && absl::Now() < deadline) {
    held = std::make_unique<OpenStream>();
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_TRUE(open);
  refused_stream("VerifySunStream while a ParseTapStream is open");
  held.reset();
  EXPECT_EQ(server->Stop(), 0) << server->err();
}

// --- Finding: memory amplification; the worst case of docs/server.md --------------------------

// docs/server.md, "Limits and memory": peak RSS ≤ baseline + max_tap_inflight_bytes +
// grpc_memory_quota + max_tap_calls × max_stream_dedup_entries × 64 B, with the defaults
// 64 MiB + 256 MiB + 256 MiB + 16 × 6.1 MiB = 674 MiB.
constexpr size_t kDocumentedWorstRss = size_t{674} << 20;

TEST_F(TapLimitsE2eTest, WorstCaseLoadStaysUnderTheDocumentedMemory) {
  constexpr int kCallers = 4;  // x 4 calls each (--max_tap_calls_per_caller) = --max_tap_calls
  auto server = Start({"--tokens=" + Tokens(kCallers)});
  auto channel = Channel(*server);
  const v1::ParseTapsRequest batch = Records<v1::ParseTapsRequest>(0, kDefaultBatch);
  const grpc::ByteBuffer empty = Bytes(EmptyRecords(8'000'000));
  std::atomic<int> ok{0}, exhausted{0}, other{0};
  auto count = [&](const grpc::Status& s) {
    if (s.ok()) {
      ++ok;
    } else if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
               !InfoOf(s).reason().empty()) {
      ++exhausted;
    } else if (s.error_code() != grpc::StatusCode::INVALID_ARGUMENT) {
      ++other;
      ADD_FAILURE() << s.error_code() << " " << s.error_message();
    }
  };
  std::vector<std::thread> threads;
  for (int c = 0; c < kCallers; ++c) {
    const std::string token = absl::StrCat("token-", c);
    // Two streams per caller that fill their duplicate detection (2 x 50,000 keys) and stay
    // open while the batches run.
    for (int k = 0; k < 2; ++k) {
      threads.emplace_back([&, token, c, k] {
        auto taps = v1::TapService::NewStub(channel);
        auto ctx = Ctx(token);
        auto stream = taps->ParseTapStream(ctx.get());
        v1::ParseTapStreamResponse resp;
        const uint32_t first = static_cast<uint32_t>((c * 2 + k) * 2 * kDefaultBatch);
        for (int i = 0; i < 2; ++i) {
          auto chunk = Records<v1::ParseTapStreamRequest>(first + i * kDefaultBatch, kDefaultBatch);
          if (!stream->Write(chunk) || !stream->Read(&resp)) break;
        }
        absl::SleepFor(absl::Seconds(3));
        stream->WritesDone();
        while (stream->Read(&resp)) {
        }
        count(stream->Finish());
      });
    }
    // Two threads per caller sending largest batches, and 16 MB requests of empty records.
    for (int k = 0; k < 2; ++k) {
      threads.emplace_back([&, token] {
        auto taps = v1::TapService::NewStub(channel);
        for (int i = 0; i < 3; ++i) {
          v1::ParseTapsResponse resp;
          count(taps->ParseTaps(Ctx(token).get(), batch, &resp));
          grpc::ByteBuffer answer;
          count(RawParseTaps(channel.get(), Ctx(token).get(), empty, &answer));
        }
      });
    }
  }
  for (std::thread& t : threads) t.join();
  const size_t peak = PeakRss(server->pid());
  ASSERT_GT(peak, 0u) << "exit " << server->Wait(absl::ZeroDuration()) << "\n" << server->err();
  std::printf("desfired peak RSS (VmHWM): %zu MiB; calls ok %d, refused %d\n", peak >> 20,
              ok.load(), exhausted.load());
  EXPECT_GT(ok.load(), 0);
  EXPECT_EQ(other.load(), 0);
  EXPECT_LT(peak, kDocumentedWorstRss);
  EXPECT_EQ(server->Stop(), 0) << server->err();
}

// Requests that never complete stay in gRPC's buffers, before desfired sees them: anonymous
// clients on many connections, each with many ParseTaps streams whose 16 MB message stops
// short of its end. gRPC's memory quota (--grpc_memory_quota) bounds what they hold.
TEST_F(TapLimitsE2eTest, RequestsInTransitStayUnderTheDocumentedMemory) {
  constexpr int kConnections = 8;
  constexpr int kStreams = 8;
  constexpr uint32_t kDeclared = 16'000'000;
  constexpr size_t kSent = 15'000'000;  // of kDeclared: the message never completes
  auto server = Start({});
  const size_t before = PeakRss(server->pid());
  const std::string body = testing::RawHttp2::MessagePrefix(kDeclared) + std::string(kSent, '\x0a');
  std::vector<std::unique_ptr<testing::RawHttp2>> clients;
  int cut = 0, held = 0;
  for (int c = 0; c < kConnections; ++c) {
    absl::StatusOr<std::unique_ptr<testing::RawHttp2>> client =
        testing::RawHttp2::Connect(server->port());
    ASSERT_TRUE(client.ok()) << client.status();
    ASSERT_TRUE((*client)->Handshake(/*initial_window=*/65535).ok());
    for (uint32_t stream = 1; stream < 2 * kStreams; stream += 2) {
      if (!(*client)->OpenCall(stream, "/desfired.v1.TapService/ParseTaps").ok()) break;
      absl::Status sent = (*client)->SendData(stream, body, /*end_stream=*/false, absl::Seconds(5));
      (sent.ok() ? held : cut) += 1;
    }
    clients.push_back(*std::move(client));
  }
  absl::SleepFor(absl::Seconds(1));
  const size_t peak = PeakRss(server->pid());
  std::printf(
      "desfired peak RSS (VmHWM): %zu MiB at rest, %zu MiB with %d requests in transit "
      "(%d cut short by the server)\n",
      before >> 20, peak >> 20, held, cut);
  EXPECT_LT(peak, kDocumentedWorstRss);
  clients.clear();
  EXPECT_EQ(server->Stop(), 0) << server->err();
}

// --- Finding: a hex record could only be sent as base64 ---------------------------------------

// A client writing the proto3 JSON form by hand sends records as hex in `raw_hex`; they parse
// exactly as the same bytes in `raw` (before, hex in `raw` was read as base64 and REJECTED).
TEST_F(TapLimitsE2eTest, RecordsGivenAsHexParseLikeTheirBytes) {
  auto server = Start({});
  auto taps = v1::TapService::NewStub(Channel(*server));
  const std::string record = Record(7);
  std::string spaced;  // "01 a0 ...": separators between bytes are allowed
  for (char c : record) {
    absl::StrAppend(&spaced, spaced.empty() ? "" : " ",
                    absl::BytesToHexString(absl::string_view(&c, 1)));
  }
  v1::ParseTapsRequest from_json;
  const std::string json =
      absl::StrCat(R"({"records": [{"rawHex": ")", spaced, R"("}, {"rawHex": ")",
                   absl::AsciiStrToUpper(absl::BytesToHexString(record)), R"("}]})");
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &from_json).ok()) << json;
  v1::ParseTapsRequest from_bytes;
  from_bytes.add_records()->set_raw(record);
  from_bytes.add_records()->set_raw(record);
  v1::ParseTapsResponse hex_answer, bytes_answer;
  grpc::Status s = taps->ParseTaps(Ctx().get(), from_json, &hex_answer);
  ASSERT_TRUE(s.ok()) << s.error_message();
  s = taps->ParseTaps(Ctx().get(), from_bytes, &bytes_answer);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(hex_answer.results_size(), 2);
  EXPECT_NE(hex_answer.results(0).status(), v1::TapResult::REJECTED);
  EXPECT_EQ(hex_answer.SerializeAsString(), bytes_answer.SerializeAsString());

  // A bad encoding fails the call before any record is parsed, naming the record.
  struct Bad {
    std::string raw, raw_hex, field, where;
  };
  const Bad bad[] = {
      {"", "01zz", "records.raw_hex", "records[1].raw_hex: not a hex digit at offset 2"},
      {"", "012", "records.raw_hex", "records[1].raw_hex: an odd number of hex digits"},
      {"", std::string(130, 'a'), "records.raw_hex", "records[1].raw_hex: 65 bytes"},
      {record, absl::BytesToHexString(record), "records", "records[1]: both raw and raw_hex"},
      {std::string(65, 'x'), "", "records.raw", "records[1].raw: 65 bytes"},
  };
  for (const Bad& b : bad) {
    v1::ParseTapsRequest req;
    req.add_records()->set_raw(record);
    v1::TapInput* in = req.add_records();
    in->set_raw(b.raw);
    in->set_raw_hex(b.raw_hex);
    v1::ParseTapsResponse resp;
    s = taps->ParseTaps(Ctx().get(), req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << b.where;
    EXPECT_EQ(Meta(InfoOf(s), "field"), b.field) << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr(b.where));
    EXPECT_EQ(resp.results_size(), 0);
  }

  // The same in a stream: a good chunk of hex records, then a bad one that ends the stream.
  auto ctx = Ctx();
  auto stream = taps->ParseTapStream(ctx.get());
  v1::ParseTapStreamRequest chunk;
  chunk.add_records()->set_raw_hex(absl::BytesToHexString(record));
  ASSERT_TRUE(stream->Write(chunk));
  v1::ParseTapStreamResponse answer;
  ASSERT_TRUE(stream->Read(&answer));
  ASSERT_EQ(answer.results_size(), 1);
  EXPECT_EQ(answer.results(0).SerializeAsString(), bytes_answer.results(0).SerializeAsString());
  chunk.mutable_records(0)->set_raw_hex("not hex");
  stream->Write(chunk);
  stream->WritesDone();
  while (stream->Read(&answer)) {
  }
  s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_EQ(Meta(InfoOf(s), "field"), "records.raw_hex");
  EXPECT_EQ(Meta(InfoOf(s), "chunk"), "1");
  EXPECT_EQ(server->Stop(), 0) << server->err();
}

}  // namespace
}  // namespace desfired
