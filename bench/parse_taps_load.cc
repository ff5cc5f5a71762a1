// parse_taps_load: load for TapService over gRPC on loopback — ParseTaps batches and
// ParseTapStream chunks of 10,000 records from N concurrent clients — reporting records/s end
// to end, batch latency (p50/p99/max) and how the CPU was shared between client and server.
// Target (DESIGN.md): ParseTaps, batches of 10,000, 1 M records/s end to end on 2 cores.
//
//   parse_taps_load                  # sandboxed pcscd (root) + a child `desfired` (the binary)
//   parse_taps_load --server 127.0.0.1:50051 [--server_pid PID]
//                                    # a desfired already running, whose key store has the
//                                    # entries of kKeyFile below (else: --nocheck_counts)
//   parse_taps_load --mode breakdown # no gRPC: the steps of one batch timed one by one
//   parse_taps_load --desfired OTHER/desfired   # A/B against another server build
//   parse_taps_load --view basic     # results in TAP_RESULT_VIEW_BASIC (default: full)
//
// Records: 32-byte records (core/tap/format.h) whose AES-CMAC (AES128_CMAC) is computed under
// the `tap static` key of kKeyFile. A share --bad of them is broken, a third each: wrong MAC
// (FLAGGED), wrong CRC8 (FLAGGED), cut to 20 bytes (REJECTED). Every record of a run is
// distinct (card, tap time, terminal), so one ParseTapStream (one duplicate-suppression state)
// sees no duplicates. Every response is checked: one result per record, and the summary
// counts (valid/flagged/rejected) expected from the records sent.
//
// Clients: --clients threads, each with its own channel (its own TCP connection). ParseTaps:
// the threads share a counter of --batches calls (synchronous stub, one call in flight per
// thread); the requests come from a pool of 8 prepared batches. ParseTapStream: one stream per
// thread over --chunks chunks in all; a writer thread per stream keeps at most --window chunks
// unacknowledged. ParseTaps responses are parsed onto a protobuf arena per call
// (--noclient_arena: the heap). Latency is from just before the call (chunk: its Write) until
// the response has been parsed.
//
// CPU: the client threads time themselves (CLOCK_THREAD_CPUTIME_ID). The server, a child or
// --server_pid, from /proc/<pid>/stat, so the two are apart. The machine's busy time
// (/proc/stat) shows what else ran during the phase.
//
// Bounded: --batches and --chunks in all, each phase stops issuing after --max_time.
// Needs root for the pcscd sandbox (desfired's reader monitor needs a pcscd), unless --server.
#include <sys/stat.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/load_util.h"
#include "core/crypto/cmac.h"
#include "core/crypto/crc.h"
#include "core/keys/key_store.h"
#include "core/tap/format.h"
#include "core/tap/mac_verifier.h"
#include "core/tap/pipeline.h"
#include "core/util/text_buffer.h"
#include "desfired/v1/taps.grpc.pb.h"
#include "google/protobuf/arena.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "proto/convert/tap_convert.h"
#include "proto/convert/tap_wire.h"
#include "tests/integration/pcsc_sandbox.h"

ABSL_FLAG(std::string, mode, "all", "unary | stream | breakdown | all (unary, stream, breakdown)");
ABSL_FLAG(std::string, server, "", "host:port of a running desfired (no sandbox, no server)");
ABSL_FLAG(int, server_pid, 0, "with --server: its process id, for the server's CPU");
ABSL_FLAG(std::string, desfired, DESFIRED_BINARY, "the desfired binary to run as the server");
ABSL_FLAG(int, clients, 2, "concurrent client threads, each with its own connection");
ABSL_FLAG(int, batch, 10000, "records per ParseTaps batch and per ParseTapStream chunk");
ABSL_FLAG(int, batches, 200, "ParseTaps calls in all (over all clients)");
ABSL_FLAG(int, chunks, 100, "ParseTapStream chunks in all (one stream per client)");
ABSL_FLAG(int, window, 2, "stream chunks a client keeps unacknowledged");
ABSL_FLAG(double, bad, 0.05, "share of broken records (wrong MAC, wrong CRC8, cut short)");
ABSL_FLAG(bool, backend_time, false, "send a backend time with every record");
ABSL_FLAG(std::string, view, "full", "full | basic: the TapResultView the requests ask for");
ABSL_FLAG(bool, client_arena, true,
          "ParseTaps clients parse each response onto a protobuf arena (else the heap)");
ABSL_FLAG(bool, check_counts, true, "check the summary counts (needs the server's keys)");
ABSL_FLAG(absl::Duration, max_time, absl::Seconds(60), "each phase stops issuing after this");

namespace desfired {
namespace {

using bench::Percentile;
using bench::ThreadCpuSeconds;

// The key store of the server (the tap key is the AES-128 key of NIST SP 800-38B's examples).
constexpr char kKeyFile[] =
    "key tap AES128 2b7e151628aed2a6abf7158809cf4f3c\n"
    "tap static key=tap\n";
constexpr char kTapKeyHex[] = "2b7e151628aed2a6abf7158809cf4f3c";
constexpr int64_t kFirstTapTime = 1700000000;  // 2023-11-14
constexpr size_t kShortRecord = 20;            // below kMinRecordSize: REJECTED
constexpr int kPoolBatches = 8;                // distinct ParseTaps requests, reused

struct Counts {
  uint64_t valid = 0;
  uint64_t flagged = 0;
  uint64_t rejected = 0;
  void Add(const Counts& o) {
    valid += o.valid;
    flagged += o.flagged;
    rejected += o.rejected;
  }
  bool Matches(const v1::TapSummary& s) const {
    return s.valid() == valid && s.flagged() == flagged && s.rejected() == rejected;
  }
};

// Records, stored flat: `count` records one after another, each kRecordSize bytes of `bytes`
// of which the first lengths[i] are the record.
struct RecordBlock {
  std::string bytes;
  std::vector<uint8_t> lengths;
  Counts expected;
  size_t size() const { return lengths.size(); }
  std::string_view Record(size_t i) const {
    return std::string_view(bytes.data() + i * tap::kRecordSize, lengths[i]);
  }
  int64_t TapTime(size_t i) const {
    return LoadLe32(reinterpret_cast<const uint8_t*>(bytes.data()) + i * tap::kRecordSize +
                    tap::kTimestampOffset);
  }
};

// Record number `serial` of the run: valid, or broken as a deterministic share `bad` of the
// serials is.
class RecordMaker {
 public:
  explicit RecordMaker(double bad)
      : cmac_(*crypto::Cmac::Create(crypto::KeyType::kAes128, *HexDecode(kTapKeyHex))),
        bad_per_million_(static_cast<uint32_t>(bad * 1e6)) {}

  RecordBlock Make(uint64_t first_serial, size_t count) const {
    RecordBlock block;
    block.bytes.assign(count * tap::kRecordSize, static_cast<char>(tap::kPaddingByte));
    block.lengths.resize(count);
    for (size_t i = 0; i < count; ++i) {
      const uint64_t s = first_serial + i;
      uint8_t* r = reinterpret_cast<uint8_t*>(block.bytes.data()) + i * tap::kRecordSize;
      r[tap::kTypeOffset] = static_cast<uint8_t>(1 + s % 3);
      StoreLe32(static_cast<uint32_t>(kFirstTapTime + static_cast<int64_t>(s)),
                r + tap::kTimestampOffset);
      StoreLe24(static_cast<uint32_t>(0x1000 + s % 50), r + tap::kTerminalOffset);
      StoreLe16(static_cast<uint32_t>(s % 20), r + tap::kFareOffset);
      r[tap::kZoneOffset] = static_cast<uint8_t>(s % 8);
      const uint32_t card = static_cast<uint32_t>(s % 4096);
      const uint8_t uid[tap::kUidLength] = {
          0x04, 0x11, 0x22, 0x33, 0x44, static_cast<uint8_t>(card >> 8), static_cast<uint8_t>(card),
          0x80};
      std::memcpy(r + tap::kUidOffset, uid, tap::kUidLength);
      tap::MacVerifier::ComputeTapMac(cmac_, crypto::MacAlgorithm::kAes128Cmac, r,
                                      r + tap::kMacOffset);
      // Which records are broken: a multiplicative hash of the serial, so that they spread.
      const uint32_t h = static_cast<uint32_t>(s * 2654435761u);
      const bool broken = h % 1'000'000 < bad_per_million_;
      const int how = static_cast<int>((h / 1'000'000) % 3);
      if (broken && how == 0) r[tap::kMacOffset] ^= 0x01;  // MAC no longer verifies
      r[tap::kCrcOffset] = crypto::Crc8(ByteSpan(r, tap::kCrcCoveredLength));
      if (broken && how == 1) r[tap::kCrcOffset] ^= 0x01;  // CRC8 mismatch
      block.lengths[i] = static_cast<uint8_t>(broken && how == 2 ? kShortRecord : tap::kRecordSize);
      if (!broken) {
        ++block.expected.valid;
      } else if (how == 2) {
        ++block.expected.rejected;
      } else {
        ++block.expected.flagged;
      }
    }
    return block;
  }

 private:
  crypto::Cmac cmac_;
  uint32_t bad_per_million_;
};

// --view as the requests' TapResultView.
v1::TapResultView ViewFlag() {
  return absl::GetFlag(FLAGS_view) == "basic" ? v1::TAP_RESULT_VIEW_BASIC
                                              : v1::TAP_RESULT_VIEW_FULL;
}

// Fills `records` from `block`, reusing the messages already there (no allocation once they
// have been filled before with records as long).
void Fill(const RecordBlock& block, bool backend_time,
          google::protobuf::RepeatedPtrField<v1::TapInput>* records) {
  const int n = static_cast<int>(block.size());
  while (records->size() > n) records->RemoveLast();
  for (int i = 0; i < n; ++i) {
    v1::TapInput* in = i < records->size() ? records->Mutable(i) : records->Add();
    const std::string_view r = block.Record(static_cast<size_t>(i));
    in->mutable_raw()->assign(r.data(), r.size());
    if (backend_time) {
      in->mutable_backend_time()->set_seconds(block.TapTime(static_cast<size_t>(i)));
    } else {
      in->clear_backend_time();
    }
  }
}

std::shared_ptr<grpc::Channel> NewChannel(const std::string& target, int client) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(256 << 20);
  args.SetMaxSendMessageSize(256 << 20);
  // Its own TCP connection: channels with equal arguments would share one.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt("desfired.bench.client", client);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

// Where the server runs, for its CPU figure.
struct ServerHandle {
  std::string target;
  pid_t pid = -1;     // -1: unknown (--server without --server_pid)
  std::string where;  // for the report
};

struct ClientResult {
  std::vector<double> latency_ms;
  uint64_t records = 0;
  double cpu = 0;  // CPU seconds of the client's threads
  std::string error;
};

// CPU and wall figures around a phase.
class PhaseMeter {
 public:
  explicit PhaseMeter(const ServerHandle& server) : server_(server) {
    start_ = absl::Now();
    machine_ = bench::ReadMachineCpu();
    process_ = bench::ProcessCpuSeconds(0);
    server_cpu_ = server_.pid > 0 ? bench::ProcessCpuSeconds(server_.pid) : 0;
  }

  void Report(const char* title, const std::vector<ClientResult>& clients, const char* unit) {
    const double wall = absl::ToDoubleSeconds(absl::Now() - start_);
    const bench::MachineCpu machine = bench::ReadMachineCpu();
    const double process = bench::ProcessCpuSeconds(0) - process_;
    const double server = server_.pid > 0 ? bench::ProcessCpuSeconds(server_.pid) - server_cpu_ : 0;
    uint64_t records = 0;
    double client_cpu = 0;
    std::vector<double> latency;
    int errors = 0;
    for (const ClientResult& c : clients) {
      records += c.records;
      client_cpu += c.cpu;
      latency.insert(latency.end(), c.latency_ms.begin(), c.latency_ms.end());
      if (!c.error.empty()) {
        ++errors;
        std::printf("  client error: %s\n", c.error.c_str());
      }
    }
    const size_t calls = latency.size();
    std::printf("== %s\n", title);
    std::printf("  server: %s; %d clients; %zu %s of %d records, %.1f%% broken%s%s\n",
                server_.where.c_str(), absl::GetFlag(FLAGS_clients), calls, unit,
                absl::GetFlag(FLAGS_batch), absl::GetFlag(FLAGS_bad) * 100,
                absl::GetFlag(FLAGS_backend_time) ? ", backend time on every record" : "",
                unit == std::string("batches") && !absl::GetFlag(FLAGS_client_arena)
                    ? ", clients parse onto the heap"
                    : "");
    std::printf("  records/s end to end  %s  (%llu records in %.2f s, %d clients failed)\n",
                Thousands(static_cast<double>(records) / wall).c_str(),
                static_cast<unsigned long long>(records), wall, errors);
    const double p50 = Percentile(latency, 50), p99 = Percentile(latency, 99);
    const double max = latency.empty() ? 0 : latency.back();
    std::printf("  latency per %s  p50 %.1f ms  p99 %.1f ms  max %.1f ms\n",
                unit == std::string("batches") ? "batch" : "chunk", p50, p99, max);
    const double cores = machine.total - machine_.total > 0
                             ? (machine.total - machine_.total) / wall
                             : static_cast<double>(sysconf(_SC_NPROCESSORS_ONLN));
    std::printf("  CPU over the run, in cores busy (machine: %.0f cores):\n", cores);
    std::printf("    client threads   %.2f  (%.0f ns per record)\n", client_cpu / wall,
                client_cpu / static_cast<double>(std::max<uint64_t>(records, 1)) * 1e9);
    if (server_.pid > 0) {
      std::printf("    server           %.2f  (%.0f ns per record; process %d)\n", server / wall,
                  server / static_cast<double>(std::max<uint64_t>(records, 1)) * 1e9,
                  static_cast<int>(server_.pid));
      std::printf("    client process   %.2f  (client threads plus gRPC's client threads)\n",
                  process / wall);
    } else {
      std::printf("    server           unknown (pass --server_pid)\n");
    }
    const double ours = process + (server_.pid > 0 ? server : 0);
    const double busy = machine.busy - machine_.busy;
    std::printf("    machine busy     %.2f  (other processes: %.2f)\n", busy / wall,
                std::max(0.0, busy - ours) / wall);
  }

  static std::string Thousands(double v) {
    std::string digits = absl::StrFormat("%.0f", v);
    std::string out;
    for (size_t i = 0; i < digits.size(); ++i) {
      if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
      out += digits[i];
    }
    return out;
  }

 private:
  const ServerHandle& server_;
  absl::Time start_;
  bench::MachineCpu machine_;
  double process_ = 0;
  double server_cpu_ = 0;
};

std::string Describe(const grpc::Status& s) {
  return absl::StrCat("code ", s.error_code(), ": ", s.error_message());
}

// ---------------------------------------------------------------------------------------
// ParseTaps

struct Batch {
  v1::ParseTapsRequest request;
  Counts expected;
  size_t size = 0;
};

std::vector<Batch> MakePool(const RecordMaker& maker, int batch, bool backend_time) {
  std::vector<Batch> pool(kPoolBatches);
  for (int b = 0; b < kPoolBatches; ++b) {
    const RecordBlock block =
        maker.Make(static_cast<uint64_t>(b) * static_cast<uint64_t>(batch), batch);
    Fill(block, backend_time, pool[b].request.mutable_records());
    pool[b].request.set_view(ViewFlag());
    pool[b].expected = block.expected;
    pool[b].size = block.size();
  }
  return pool;
}

bool CheckBatch(const Batch& b, const v1::ParseTapsResponse& r, std::string* error) {
  if (static_cast<size_t>(r.results_size()) != b.size) {
    *error = absl::StrCat(r.results_size(), " results for ", b.size, " records");
    return false;
  }
  if (absl::GetFlag(FLAGS_check_counts) && !b.expected.Matches(r.summary())) {
    *error = absl::StrCat("summary valid/flagged/rejected ", r.summary().valid(), "/",
                          r.summary().flagged(), "/", r.summary().rejected(), ", expected ",
                          b.expected.valid, "/", b.expected.flagged, "/", b.expected.rejected);
    return false;
  }
  return true;
}

void RunUnary(const ServerHandle& server, const std::vector<Batch>& pool) {
  const int clients = absl::GetFlag(FLAGS_clients);
  const int total = absl::GetFlag(FLAGS_batches);
  std::vector<std::unique_ptr<v1::TapService::Stub>> stubs;
  for (int c = 0; c < clients; ++c) {
    stubs.push_back(v1::TapService::NewStub(NewChannel(server.target, c)));
  }
  // Warm-up, untimed: one call per client (connections, first allocations).
  for (int c = 0; c < clients; ++c) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    v1::ParseTapsResponse response;
    const grpc::Status s = stubs[c]->ParseTaps(&ctx, pool[0].request, &response);
    std::string error;
    if (!s.ok() || !CheckBatch(pool[0], response, &error)) {
      std::printf("warm-up ParseTaps failed: %s\n", s.ok() ? error.c_str() : Describe(s).c_str());
      return;
    }
  }
  const bool client_arena = absl::GetFlag(FLAGS_client_arena);
  std::atomic<int> next{0};
  const absl::Time stop_issuing = absl::Now() + absl::GetFlag(FLAGS_max_time);
  std::vector<ClientResult> results(clients);
  PhaseMeter meter(server);
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      ClientResult& out = results[c];
      const double cpu0 = ThreadCpuSeconds();
      while (true) {
        const int b = next.fetch_add(1);
        if (b >= total || absl::Now() > stop_issuing) break;
        const Batch& batch = pool[b % pool.size()];
        grpc::ClientContext ctx;
        ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
        google::protobuf::Arena arena;
        v1::ParseTapsResponse heap_response;
        v1::ParseTapsResponse* response =
            client_arena ? google::protobuf::Arena::CreateMessage<v1::ParseTapsResponse>(&arena)
                         : &heap_response;
        const absl::Time t0 = absl::Now();
        const grpc::Status s = stubs[c]->ParseTaps(&ctx, batch.request, response);
        if (!s.ok()) {
          out.error = Describe(s);
          break;
        }
        // Latency ends once the response is parsed (the stub parses before returning).
        out.latency_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
        if (!CheckBatch(batch, *response, &out.error)) break;
        out.records += batch.size;
      }
      out.cpu = ThreadCpuSeconds() - cpu0;
    });
  }
  for (std::thread& t : threads) t.join();
  meter.Report("ParseTaps (unary), batches over concurrent clients", results, "batches");
}

// ---------------------------------------------------------------------------------------
// ParseTapStream

void StreamClient(v1::TapService::Stub& stub, const std::vector<RecordBlock>& chunks,
                  ClientResult* out) {
  const int window = std::max(1, absl::GetFlag(FLAGS_window));
  const bool backend_time = absl::GetFlag(FLAGS_backend_time);
  const double cpu0 = ThreadCpuSeconds();
  grpc::ClientContext ctx;
  ctx.set_deadline(
      absl::ToChronoTime(absl::Now() + absl::GetFlag(FLAGS_max_time) + absl::Seconds(30)));
  auto stream = stub.ParseTapStream(&ctx);
  const size_t n = chunks.size();
  absl::Mutex mu;
  size_t acked = 0;                 // guarded by mu
  bool stop = false;                // guarded by mu
  std::vector<absl::Time> sent(n);  // guarded by mu
  double writer_cpu = 0;
  const absl::Time stop_issuing = absl::Now() + absl::GetFlag(FLAGS_max_time);
  std::thread writer([&] {
    const double w0 = ThreadCpuSeconds();
    v1::ParseTapStreamRequest request;
    request.set_view(ViewFlag());
    for (size_t c = 0; c < n; ++c) {
      {
        absl::MutexLock lock(&mu);
        auto room = [&] { return stop || acked + static_cast<size_t>(window) > c; };
        mu.Await(absl::Condition(&room));
        if (stop) break;
      }
      if (absl::Now() > stop_issuing) break;
      Fill(chunks[c], backend_time, request.mutable_records());
      {
        absl::MutexLock lock(&mu);
        sent[c] = absl::Now();
      }
      if (!stream->Write(request)) break;
    }
    stream->WritesDone();
    writer_cpu = ThreadCpuSeconds() - w0;
  });
  Counts expected;
  uint64_t processed = 0;
  v1::ParseTapStreamResponse response;
  for (size_t c = 0; c < n; ++c) {
    if (!stream->Read(&response)) break;  // the writer stopped early, or the call failed
    const absl::Time now = absl::Now();
    absl::Time t0;
    {
      absl::MutexLock lock(&mu);
      t0 = sent[c];
      acked = c + 1;
    }
    out->latency_ms.push_back(absl::ToDoubleMilliseconds(now - t0));
    processed += chunks[c].size();
    if (static_cast<size_t>(response.results_size()) != chunks[c].size() ||
        response.records_processed() != processed) {
      out->error = absl::StrCat("chunk ", c, ": ", response.results_size(), " results, ",
                                response.records_processed(), " processed; expected ",
                                chunks[c].size(), ", ", processed);
      ctx.TryCancel();
      break;
    }
    expected.Add(chunks[c].expected);
    out->records += chunks[c].size();
  }
  {
    absl::MutexLock lock(&mu);
    stop = true;
  }
  writer.join();
  if (out->error.empty()) {
    v1::ParseTapStreamResponse last;
    if (!stream->Read(&last) || !last.has_summary()) {
      out->error = "no summary at the end of the stream";
    } else if (absl::GetFlag(FLAGS_check_counts) && !expected.Matches(last.summary())) {
      out->error =
          absl::StrCat("stream summary valid/flagged/rejected ", last.summary().valid(), "/",
                       last.summary().flagged(), "/", last.summary().rejected(), ", expected ",
                       expected.valid, "/", expected.flagged, "/", expected.rejected);
    }
  }
  const grpc::Status s = stream->Finish();
  if (!s.ok() && out->error.empty()) out->error = Describe(s);
  out->cpu = ThreadCpuSeconds() - cpu0 + writer_cpu;
}

void RunStream(const ServerHandle& server, const RecordMaker& maker) {
  const int clients = absl::GetFlag(FLAGS_clients);
  const int total = absl::GetFlag(FLAGS_chunks);
  const int batch = absl::GetFlag(FLAGS_batch);
  // Serials after the ParseTaps pool, so that no record repeats in the run.
  uint64_t serial = static_cast<uint64_t>(kPoolBatches) * static_cast<uint64_t>(batch);
  std::vector<std::vector<RecordBlock>> chunks(clients);
  for (int i = 0; i < total; ++i) {
    chunks[i % clients].push_back(maker.Make(serial, batch));
    serial += static_cast<uint64_t>(batch);
  }
  std::vector<std::unique_ptr<v1::TapService::Stub>> stubs;
  for (int c = 0; c < clients; ++c) {
    stubs.push_back(v1::TapService::NewStub(NewChannel(server.target, 100 + c)));
    // Connect before the clock starts.
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    v1::ParseTapsResponse response;
    (void)stubs[c]->ParseTaps(&ctx, v1::ParseTapsRequest(), &response);
  }
  std::vector<ClientResult> results(clients);
  PhaseMeter meter(server);
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] { StreamClient(*stubs[c], chunks[c], &results[c]); });
  }
  for (std::thread& t : threads) t.join();
  meter.Report("ParseTapStream, one stream per client", results, "chunks");
}

// ---------------------------------------------------------------------------------------
// Breakdown: the steps of one batch, without gRPC, one thread.

// Runs `step` `reps` times; the fastest run's ns per record.
template <typename F>
double NsPerRecord(int reps, size_t records, F step) {
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    const absl::Time t0 = absl::Now();
    step();
    best = std::min(best, absl::ToDoubleNanoseconds(absl::Now() - t0));
  }
  return best / static_cast<double>(records);
}

// Runs the records of `request` through a pipeline, calling emit(result) for each; returns
// the summary.
template <typename Emit>
v1::TapSummary ParseEach(const tap::TapPipelineConfig& config, const v1::ParseTapsRequest& request,
                         Emit emit) {
  auto pipeline = *tap::TapPipeline::Create(config);
  tap::TapResult result;
  uint64_t index = 0;
  for (const v1::TapInput& input : request.records()) {
    const std::string& raw = input.raw();
    std::optional<int64_t> backend;
    if (input.has_backend_time()) backend = input.backend_time().seconds();
    pipeline->Process(index++, AsBytes(raw), backend, &result);
    emit(result);
  }
  v1::TapSummary summary;
  ToProto(pipeline->summary(), &summary);
  return summary;
}

// What TapServiceImpl::ParseTaps does with a request (server/rpc/tap_service.cc, ParseInto):
// the results written as bytes straight from the core results.
void ServerParseToWire(const tap::TapPipelineConfig& config, const v1::ParseTapsRequest& request,
                       v1::TapResultView view, TextBuffer* out) {
  out->clear();
  out->Reserve(static_cast<size_t>(request.records_size()) * 224 + 256);
  const v1::TapSummary summary = ParseEach(
      config, request, [&](const tap::TapResult& r) { AppendTapResultField(r, view, 1, out); });
  AppendMessageField(summary, 2, out);
}

// The same through ToProto into response messages (the server before the wire encoder).
void ServerParse(const tap::TapPipelineConfig& config, const v1::ParseTapsRequest& request,
                 v1::ParseTapsResponse* response) {
  auto* results = response->mutable_results();
  results->Reserve(request.records_size());
  *response->mutable_summary() =
      ParseEach(config, request, [&](const tap::TapResult& r) { ToProto(r, results->Add()); });
}

void RunBreakdown(const RecordMaker& maker) {
  const int batch = absl::GetFlag(FLAGS_batch);
  const bool backend_time = absl::GetFlag(FLAGS_backend_time);
  const bool client_arena = absl::GetFlag(FLAGS_client_arena);
  constexpr int kReps = 15;
  const RecordBlock block = maker.Make(0, static_cast<size_t>(batch));
  const size_t n = block.size();
  keys::KeyStore store = *keys::KeyStore::Parse(kKeyFile, "bench");
  tap::TapPipelineConfig config;
  config.keys = &store;

  v1::ParseTapsRequest request;
  Fill(block, backend_time, request.mutable_records());
  std::string request_bytes = request.SerializeAsString();
  v1::ParseTapsResponse response;
  ServerParse(config, request, &response);
  const std::string response_bytes = response.SerializeAsString();
  TextBuffer wire;
  ServerParseToWire(config, request, v1::TAP_RESULT_VIEW_BASIC, &wire);
  const std::string basic_bytes(wire.view());
  const bool basic = ViewFlag() == v1::TAP_RESULT_VIEW_BASIC;

  // A step that creates a message also frees it (the arena with it). `path`: the step is on
  // the path of a call as the server (arenas) and this tool's clients run it; the others are
  // alternatives or parts, shown for comparison.
  struct Step {
    const char* side;
    const char* what;
    double ns;
    bool path;
  };
  auto arena_parse = [&](auto* type_tag, const std::string& bytes) {
    using Message = std::remove_pointer_t<decltype(type_tag)>;
    google::protobuf::Arena arena;
    google::protobuf::Arena::CreateMessage<Message>(&arena)->ParseFromString(bytes);
  };
  std::vector<Step> steps;
  steps.push_back({"client", "serialize the request",
                   NsPerRecord(kReps, n,
                               [&] {
                                 request_bytes.clear();
                                 request.SerializeToString(&request_bytes);
                               }),
                   true});
  steps.push_back(
      {"server", "parse the request, arena",
       NsPerRecord(
           kReps, n,
           [&] { arena_parse(static_cast<v1::ParseTapsRequest*>(nullptr), request_bytes); }),
       true});
  steps.push_back({"server", "parse the request, heap",
                   NsPerRecord(kReps, n,
                               [&] {
                                 v1::ParseTapsRequest r;
                                 r.ParseFromString(request_bytes);
                               }),
                   false});
  steps.push_back({"server", "pipeline only (parse, MAC, dedup, summary)",
                   NsPerRecord(kReps, n,
                               [&] {
                                 auto pipeline = *tap::TapPipeline::Create(config);
                                 tap::TapResult result;
                                 uint64_t index = 0;
                                 for (const v1::TapInput& input : request.records()) {
                                   const std::string& raw = input.raw();
                                   pipeline->Process(index++, AsBytes(raw), std::nullopt, &result);
                                 }
                               }),
                   false});
  steps.push_back(
      {"server", "pipeline + wire encoding, FULL",
       NsPerRecord(kReps, n,
                   [&] { ServerParseToWire(config, request, v1::TAP_RESULT_VIEW_FULL, &wire); }),
       !basic});
  steps.push_back(
      {"server", "pipeline + wire encoding, BASIC",
       NsPerRecord(kReps, n,
                   [&] { ServerParseToWire(config, request, v1::TAP_RESULT_VIEW_BASIC, &wire); }),
       basic});
  steps.push_back(
      {"server", "pipeline + ToProto into the response, arena",
       NsPerRecord(kReps, n,
                   [&] {
                     google::protobuf::Arena arena;
                     ServerParse(
                         config, request,
                         google::protobuf::Arena::CreateMessage<v1::ParseTapsResponse>(&arena));
                   }),
       false});
  steps.push_back({"server", "pipeline + ToProto into the response, heap",
                   NsPerRecord(kReps, n,
                               [&] {
                                 v1::ParseTapsResponse r;
                                 ServerParse(config, request, &r);
                               }),
                   false});
  steps.push_back({"server", "serialize the response",
                   NsPerRecord(kReps, n,
                               [&] {
                                 std::string out;
                                 response.SerializeToString(&out);
                               }),
                   false});
  steps.push_back(
      {"client", "parse the response, arena",
       NsPerRecord(
           kReps, n,
           [&] { arena_parse(static_cast<v1::ParseTapsResponse*>(nullptr), response_bytes); }),
       client_arena && !basic});
  steps.push_back(
      {"client", "parse the BASIC response, arena",
       NsPerRecord(kReps, n,
                   [&] { arena_parse(static_cast<v1::ParseTapsResponse*>(nullptr), basic_bytes); }),
       client_arena && basic});
  steps.push_back({"client", "parse the response, heap",
                   NsPerRecord(kReps, n,
                               [&] {
                                 v1::ParseTapsResponse r;
                                 r.ParseFromString(basic ? basic_bytes : response_bytes);
                               }),
                   !client_arena});

  std::printf("== Breakdown of one ParseTaps batch of %zu records, one thread, no gRPC\n", n);
  std::printf(
      "  request %zu bytes (%.0f per record), response %zu bytes (%.0f per record; BASIC %.0f)\n",
      request_bytes.size(), static_cast<double>(request_bytes.size()) / static_cast<double>(n),
      response_bytes.size(), static_cast<double>(response_bytes.size()) / static_cast<double>(n),
      static_cast<double>(basic_bytes.size()) / static_cast<double>(n));
  double client = 0, server = 0;
  for (const Step& s : steps) {
    std::printf("  %-6s  %-46s %6.0f ns/record%s\n", s.side, s.what, s.ns,
                s.path ? "" : "  (not on the path)");
    if (s.path) (std::string(s.side) == "client" ? client : server) += s.ns;
  }
  std::printf(
      "  path: client %.0f + server %.0f ns/record (without gRPC's transport): at most %s "
      "records/s on one core, %s on two\n",
      client, server, PhaseMeter::Thousands(1e9 / (client + server)).c_str(),
      PhaseMeter::Thousands(2e9 / (client + server)).c_str());
}

// ---------------------------------------------------------------------------------------

int Run() {
  const std::string mode = absl::GetFlag(FLAGS_mode);
  const bool all = mode == "all";
  if (!all && mode != "unary" && mode != "stream" && mode != "breakdown") {
    std::fprintf(stderr, "--mode: unary, stream, breakdown or all\n");
    return 2;
  }
  if (absl::GetFlag(FLAGS_clients) < 1 || absl::GetFlag(FLAGS_batch) < 1 ||
      absl::GetFlag(FLAGS_batches) < 0 || absl::GetFlag(FLAGS_chunks) < 0) {
    std::fprintf(stderr, "--clients and --batch must be positive, --batches/--chunks >= 0\n");
    return 2;
  }
  const RecordMaker maker(absl::GetFlag(FLAGS_bad));
  std::printf("machine: %ld cores online; load average at start: ", sysconf(_SC_NPROCESSORS_ONLN));
  {
    std::ifstream in("/proc/loadavg");
    std::string l1, l5;
    in >> l1 >> l5;
    std::printf("%s (1 min), %s (5 min)\n", l1.c_str(), l5.c_str());
  }
  if (mode == "breakdown") {
    RunBreakdown(maker);
    return 0;
  }

  ServerHandle handle;
  std::unique_ptr<testing::PcscSandbox> sandbox;
  std::unique_ptr<bench::ChildServer> child;
  if (!absl::GetFlag(FLAGS_server).empty()) {
    handle.target = absl::GetFlag(FLAGS_server);
    handle.pid = absl::GetFlag(FLAGS_server_pid) > 0 ? absl::GetFlag(FLAGS_server_pid) : -1;
    handle.where = absl::StrCat("running desfired at ", handle.target);
  } else {
    // desfired's reader monitor needs a pcscd: a sandboxed one, no reader has a card.
    auto sb = testing::PcscSandbox::Start({});
    if (!sb.ok()) {
      std::fprintf(stderr, "pcscd sandbox: %s\n", sb.status().ToString().c_str());
      return 1;
    }
    sandbox = *std::move(sb);
    const std::string keys = sandbox->dir() + "/keys.conf";
    std::ofstream(keys) << kKeyFile;
    ::chmod(keys.c_str(), 0600);
    auto c = bench::ChildServer::Start(
        absl::GetFlag(FLAGS_desfired),
        {"--pcsc_socket", sandbox->dir() + "/run/pcscd.comm", "--keys", keys}, sandbox->dir(),
        absl::Seconds(10));
    if (!c.ok()) {
      std::fprintf(stderr, "desfired: %s\n", c.status().ToString().c_str());
      return 1;
    }
    child = *std::move(c);
    handle.pid = child->pid();
    handle.where = absl::StrCat("child desfired (pid ", child->pid(), ")");
    handle.target = absl::StrCat("127.0.0.1:", child->port());
  }

  if (all || mode == "unary") {
    const std::vector<Batch> pool =
        MakePool(maker, absl::GetFlag(FLAGS_batch), absl::GetFlag(FLAGS_backend_time));
    RunUnary(handle, pool);
  }
  if (all || mode == "stream") RunStream(handle, maker);
  if (child) {
    std::printf("server process peak RSS (VmHWM): %lld kB\n",
                static_cast<long long>(bench::ProcessStatusKb(child->pid(), "VmHWM")));
    child->Stop();
  }
  if (all) RunBreakdown(maker);
  return 0;
}

}  // namespace
}  // namespace desfired

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "ParseTaps / ParseTapStream load over gRPC on loopback (see bench/parse_taps_load.cc)");
  absl::ParseCommandLine(argc, argv);
  return desfired::Run();
}
