// Card operations: what core (Channel + Session over PcscCard) adds over the same APDUs sent
// with raw SCardTransmit, through the same sandboxed pcscd and desfire-sim; and, for a plain
// sequence, the same APDUs through pyscard (bench/pyscard_plain.py, the seed Python path).
// Needs root, like the integration tests. Targets: core adds at most 10 % + 50 µs over raw
// (issue 6) and at most 150 µs at the median (DESIGN.md).
//
//   scripts/bench card
//
// Sequences (transit image, sim/images/transit.json):
//   full   SelectApplication F51001, AuthenticateAES key 2 (write right: GetValue and Debit),
//          GetValue file 1 (enciphered), Debit 1 (enciphered), CommitTransaction (CMAC)
//          — 6 APDUs
//   plain  SelectApplication 000000, GetVersion (3 frames), GetApplicationIDs,
//          SelectApplication F51001, GetFileIDs, GetFileSettings 4 — 8 APDUs, no session
//
// "The same APDUs": the card runs with `desfire-sim --fixed-random` (RndB repeats) and the
// host Session gets a fixed RndA, so every session has the same key and every byte of a full
// sequence depends only on the card's value. At start-up kRecorded full sequences are run
// through core with a RecordingTransport (value start, start − 1, ...), then the value is put
// back with an untimed Credit (key 3). From then on every full sequence, whichever path runs
// it, debits 1 and the bench counts the debits: BM_CoreSequence runs core; BM_RawSequence
// sends the recorded sequence for the current value with SCardTransmit and requires every
// reply to equal the recorded one byte for byte (so the card verified the same MACs and
// answered the same ciphertext). Before a repetition would run past the recording, an
// untimed Credit puts the value back, after checking it dropped by exactly the debits
// counted. The plain sequence does not change the card: one recorded sequence replays
// forever, and pyscard_plain.py checks its own APDUs against it.
//
// Repetitions of all benchmarks run in random order (--benchmark_enable_random_interleaving,
// on by default here), 20 sequences (5–30 ms) each, so that load from elsewhere on the
// machine, and its idle periods, fall on every path alike. The summary at the end gives the
// median and mean per sequence over all repetitions and the overhead against both targets.
//
// Thread-compatible: Google Benchmark runs everything on the main thread.
#include <benchmark/benchmark.h>
#include <winscard.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/apdu/transport.h"
#include "core/desfire/channel.h"
#include "core/desfire/session.h"
#include "core/pcsc/pcsc.h"
#include "core/util/bytes.h"
#include "core/util/status_macros.h"
#include "tests/integration/pcsc_sandbox.h"

namespace desfired {
namespace {

using desfire::AuthScheme;
using desfire::CommMode;
using desfire::Ins;
using desfire::Session;
using testing::PcscSandbox;

// desfire-sim --fixed-random: the card's RndB. The host's RndA below. Test values only.
constexpr char kCardRandomHex[] = "f0e1d2c3b4a5968778695a4b3c2d1e0f";
constexpr uint8_t kHostRndA[16] = {0x13, 0xC5, 0xDB, 0x8A, 0x59, 0x30, 0x43, 0x9F,
                                   0xC3, 0xDE, 0xF9, 0xA4, 0xC6, 0x75, 0x36, 0x0F};
// sim/images/transit.json: application F51001 (sent least significant byte first), AES keys
// 2 write (GetValue, Debit) and 3 read&write (Credit), value file 1 (full), file 4 plain.
constexpr uint8_t kTransitAid[] = {0x01, 0x10, 0xF5};
constexpr uint8_t kPiccAid[] = {0x00, 0x00, 0x00};
constexpr char kDebitKeyHex[] = "b0b1b2b3b4b5b6b7b8b9babbbcbdbebf";
constexpr char kCreditKeyHex[] = "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf";
constexpr uint8_t kDebitKeyNo = 2;
constexpr uint8_t kCreditKeyNo = 3;
constexpr uint8_t kValueFile = 1;
constexpr uint8_t kPlainFile = 4;

constexpr int kRecorded = 2000;  // full sequences recorded (the value, 2500, must cover them)
// Short repetitions, shuffled: the machine's state (load, idle vCPUs) changes within seconds
// and decides much of an APDU's round trip, so both paths must sample it alike.
constexpr int kRepetitions = 200;
constexpr int kSequencesPerRepetition = 20;
constexpr int kCoreOnlyRepetitions = 20;
constexpr int kCoreOnlySequences = 200;
constexpr int kPyscardRepetitions = 40;
constexpr int kPyscardSequences = 100;  // per run of the script
constexpr char kPython[] = "/usr/bin/python3";

using Clock = std::chrono::steady_clock;

struct Exchange {
  Bytes command;
  Bytes reply;
};
using Transcript = std::vector<Exchange>;

// A CardTransport that records every exchange of the transport it wraps.
class RecordingTransport final : public apdu::CardTransport {
 public:
  RecordingTransport(apdu::CardTransport& inner, Transcript& out) : inner_(inner), out_(out) {}
  absl::StatusOr<Bytes> Transmit(ByteSpan command) override {
    absl::StatusOr<Bytes> reply = inner_.Transmit(command);
    if (reply.ok()) out_.push_back({Bytes(command.begin(), command.end()), *reply});
    return reply;
  }

 private:
  apdu::CardTransport& inner_;
  Transcript& out_;
};

absl::Status FixedRndA(MutableByteSpan out) {
  for (size_t i = 0; i < out.size(); ++i) out[i] = kHostRndA[i % sizeof(kHostRndA)];
  return absl::OkStatus();
}

Bytes Le32(uint32_t v) {
  Bytes b(4);
  StoreLe32(v, b.data());
  return b;
}

absl::Status Select(Session& session, const uint8_t (&aid)[3]) {
  return session.Execute({.ins = Ins::kSelectApplication, .header = Bytes(aid, aid + 3)}).status();
}

absl::StatusOr<uint32_t> GetValue(Session& session) {
  DESFIRED_ASSIGN_OR_RETURN(Bytes value, session.Execute({.ins = Ins::kGetValue,
                                                          .header = {kValueFile},
                                                          .response_mode = CommMode::kFull,
                                                          .response_length = 4}));
  if (value.size() != 4) return absl::InternalError("GetValue: not 4 bytes");
  return LoadLe32(value.data());
}

// The full sequence, as a terminal would run it through core.
absl::Status FullSequence(apdu::CardTransport& transport, ByteSpan debit_key) {
  desfire::Channel channel(transport);
  Session session(channel, FixedRndA);
  DESFIRED_RETURN_IF_ERROR(Select(session, kTransitAid));
  DESFIRED_RETURN_IF_ERROR(
      session.Authenticate(AuthScheme::kAes, kDebitKeyNo, crypto::KeyType::kAes128, debit_key));
  DESFIRED_ASSIGN_OR_RETURN(uint32_t value, GetValue(session));
  if (value == 0) return absl::FailedPreconditionError("the value file is empty");
  DESFIRED_RETURN_IF_ERROR(session
                               .Execute({.ins = Ins::kDebit,
                                         .header = {kValueFile},
                                         .data = Le32(1),
                                         .command_mode = CommMode::kFull})
                               .status());
  return session.Execute({.ins = Ins::kCommitTransaction}).status();
}

// The plain sequence through core (no session: every command as is).
absl::Status PlainSequence(apdu::CardTransport& transport) {
  desfire::Channel channel(transport);
  Session session(channel, FixedRndA);
  DESFIRED_RETURN_IF_ERROR(Select(session, kPiccAid));
  DESFIRED_RETURN_IF_ERROR(session.Execute({.ins = Ins::kGetVersion}).status());
  DESFIRED_RETURN_IF_ERROR(session.Execute({.ins = Ins::kGetApplicationIds}).status());
  DESFIRED_RETURN_IF_ERROR(Select(session, kTransitAid));
  DESFIRED_RETURN_IF_ERROR(session.Execute({.ins = Ins::kGetFileIds}).status());
  return session.Execute({.ins = Ins::kGetFileSettings, .header = {kPlainFile}}).status();
}

// Untimed: reads the value with the credit key (3), optionally credits `amount` and commits.
absl::StatusOr<uint32_t> CreditValue(apdu::CardTransport& transport, ByteSpan credit_key,
                                     uint32_t amount) {
  desfire::Channel channel(transport);
  Session session(channel);
  DESFIRED_RETURN_IF_ERROR(Select(session, kTransitAid));
  DESFIRED_RETURN_IF_ERROR(
      session.Authenticate(AuthScheme::kAes, kCreditKeyNo, crypto::KeyType::kAes128, credit_key));
  DESFIRED_ASSIGN_OR_RETURN(uint32_t value, GetValue(session));
  if (amount == 0) return value;
  DESFIRED_RETURN_IF_ERROR(session
                               .Execute({.ins = Ins::kCredit,
                                         .header = {kValueFile},
                                         .data = Le32(amount),
                                         .command_mode = CommMode::kFull})
                               .status());
  DESFIRED_RETURN_IF_ERROR(session.Execute({.ins = Ins::kCommitTransaction}).status());
  return value;
}

// A CardTransport that answers from a recording, with no card and no pcscd: core's own cost.
// Fails when a command differs from the recorded one.
class ReplayTransport final : public apdu::CardTransport {
 public:
  void Start(const Transcript& transcript) {
    transcript_ = &transcript;
    next_ = 0;
  }
  absl::StatusOr<Bytes> Transmit(ByteSpan command) override {
    if (transcript_ == nullptr || next_ >= transcript_->size()) {
      return absl::FailedPreconditionError("more commands than recorded");
    }
    const Exchange& e = (*transcript_)[next_++];
    if (!std::equal(command.begin(), command.end(), e.command.begin(), e.command.end())) {
      return absl::FailedPreconditionError("a command differs from the recording");
    }
    return e.reply;
  }
  bool done() const { return transcript_ != nullptr && next_ == transcript_->size(); }

 private:
  const Transcript* transcript_ = nullptr;
  size_t next_ = 0;
};

// A raw libpcsclite connection of its own (context and exclusive card handle).
class RawCard {
 public:
  static absl::StatusOr<std::unique_ptr<RawCard>> Connect(const std::string& reader) {
    auto raw = std::unique_ptr<RawCard>(new RawCard());
    LONG rc = SCardEstablishContext(SCARD_SCOPE_SYSTEM, nullptr, nullptr, &raw->context_);
    if (rc == SCARD_S_SUCCESS) {
      rc = SCardConnect(raw->context_, reader.c_str(), SCARD_SHARE_EXCLUSIVE,
                        SCARD_PROTOCOL_T1 | SCARD_PROTOCOL_T0, &raw->card_, &raw->protocol_);
    }
    if (rc != SCARD_S_SUCCESS) {
      return absl::UnavailableError(
          absl::StrFormat("raw connect: 0x%08lX", static_cast<unsigned long>(rc)));
    }
    return raw;
  }
  ~RawCard() {
    if (card_ != 0) SCardDisconnect(card_, SCARD_LEAVE_CARD);
    if (context_ != 0) SCardReleaseContext(context_);
  }

  // Sends every recorded command; true when every reply equals the recorded one.
  bool Replay(const Transcript& transcript) {
    const SCARD_IO_REQUEST* pci = protocol_ == SCARD_PROTOCOL_T0 ? SCARD_PCI_T0 : SCARD_PCI_T1;
    BYTE reply[258];
    for (const Exchange& e : transcript) {
      DWORD len = sizeof(reply);
      if (SCardTransmit(card_, pci, e.command.data(), static_cast<DWORD>(e.command.size()), nullptr,
                        reply, &len) != SCARD_S_SUCCESS ||
          len != e.reply.size() || std::memcmp(reply, e.reply.data(), len) != 0) {
        return false;
      }
    }
    return true;
  }

 private:
  RawCard() = default;
  SCARDCONTEXT context_ = 0;
  SCARDHANDLE card_ = 0;
  DWORD protocol_ = 0;
};

// Per-sequence times in µs, by path, over all repetitions.
enum class Path {
  kCoreFull,
  kRawFull,
  kCoreOnlyFull,
  kCoreOnlyFullCold,
  kCorePlain,
  kRawPlain,
  kCoreOnlyPlain,
  kPyscardPlain
};

struct Bench {
  std::unique_ptr<PcscSandbox> sandbox;
  std::unique_ptr<pcsc::PcscContext> context;
  std::string reader;
  Bytes debit_key;
  Bytes credit_key;
  uint32_t start_value = 0;
  int debits = 0;                // since the value was last put back
  std::vector<Transcript> full;  // index i: the full sequence at value start − i
  Transcript plain;
  std::string plain_transcript_path;
  std::string pyscard_line;
  std::map<Path, std::vector<double>> samples;
  std::string error;

  absl::Status Start() {
    debit_key = *HexDecode(kDebitKeyHex);
    credit_key = *HexDecode(kCreditKeyHex);
    testing::SandboxOptions options;
    options.sim_binary = DESFIRE_SIM;
    DESFIRED_ASSIGN_OR_RETURN(sandbox, PcscSandbox::Start(options));
    DESFIRED_RETURN_IF_ERROR(
        sandbox->StartCard(0, std::string(SOURCE_DIR) + "/sim/images/transit.json",
                           {"--fixed-random", kCardRandomHex}));
    DESFIRED_RETURN_IF_ERROR(sandbox->WaitForCard(0, true, absl::Seconds(5)));
    reader = sandbox->ReaderName(0);
    DESFIRED_ASSIGN_OR_RETURN(context, pcsc::PcscContext::Create());
    DESFIRED_ASSIGN_OR_RETURN(auto card, context->Connect(reader));
    DESFIRED_ASSIGN_OR_RETURN(start_value, CreditValue(*card, credit_key, 0));
    if (start_value < static_cast<uint32_t>(kRecorded)) {
      return absl::FailedPreconditionError("the value file cannot cover the recording");
    }
    // Record the full sequences, then put the value back.
    full.resize(kRecorded);
    for (Transcript& t : full) {
      RecordingTransport recorder(*card, t);
      DESFIRED_RETURN_IF_ERROR(FullSequence(recorder, debit_key));
      ++debits;
    }
    DESFIRED_RETURN_IF_ERROR(Restore(*card));
    RecordingTransport recorder(*card, plain);
    DESFIRED_RETURN_IF_ERROR(PlainSequence(recorder));
    // The plain transcript for pyscard_plain.py: "command reply" in hex, one a line.
    plain_transcript_path = sandbox->dir() + "/plain-transcript.txt";
    std::ofstream out(plain_transcript_path);
    for (const Exchange& e : plain)
      out << HexEncode(e.command) << ' ' << HexEncode(e.reply) << '\n';
    return out.good() ? absl::OkStatus() : absl::InternalError("cannot write the transcript");
  }

  // Untimed: the value must be `debits` below the start; credits them back.
  absl::Status Restore(apdu::CardTransport& card) {
    const uint32_t n = static_cast<uint32_t>(debits);
    DESFIRED_ASSIGN_OR_RETURN(uint32_t value, CreditValue(card, credit_key, n));
    if (value + n != start_value) {
      return absl::InternalError(
          absl::StrCat("value ", value, " after ", n, " debits, expected ", start_value - n));
    }
    debits = 0;
    return absl::OkStatus();
  }
  // Untimed: puts the value back when `sequences` more would run past the recording.
  absl::Status MakeRoom(int sequences) {
    if (debits + sequences <= kRecorded) return absl::OkStatus();
    DESFIRED_ASSIGN_OR_RETURN(auto card, context->Connect(reader));
    return Restore(*card);
  }
};

// The bench, set up on first use; StopBench() tears the sandbox down (pcscd and the card are
// child processes: they must not outlive the program).
std::unique_ptr<Bench>& BenchSlot() {
  static std::unique_ptr<Bench>* slot = new std::unique_ptr<Bench>();
  return *slot;
}
Bench& GetBench() {
  std::unique_ptr<Bench>& slot = BenchSlot();
  if (slot == nullptr) {
    slot = std::make_unique<Bench>();
    absl::Status s = slot->Start();
    if (!s.ok()) slot->error = std::string(s.message());
  }
  return *slot;
}
void StopBench() { BenchSlot().reset(); }  // the context first, then the sandbox

double Micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

// Nearest-rank percentile of `v` (copied: callers keep their order).
double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t rank = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(rank, v.size() - 1)];
}
double Mean(const std::vector<double>& v) {
  return v.empty() ? 0 : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

void SetCounters(benchmark::State& state, const std::vector<double>& times) {
  state.counters["p50_us"] = Percentile(times, 0.5);
  state.counters["p90_us"] = Percentile(times, 0.9);
}

// Runs the loop: `body` is one sequence, timed (manual time: the benchmark's time is the sum
// of the sequences'); `before`, untimed, runs ahead of each. The times go to `path` and the
// counters.
template <typename Body, typename Before>
void TimedLoop(benchmark::State& state, Path path, Body body, Before before) {
  std::vector<double> times;
  times.reserve(static_cast<size_t>(state.max_iterations));
  for (auto _ : state) {
    before();
    const Clock::time_point t0 = Clock::now();
    const bool ok = body();
    const Clock::duration elapsed = Clock::now() - t0;
    state.SetIterationTime(std::chrono::duration<double>(elapsed).count());
    times.push_back(Micros(elapsed));
    if (!ok) {
      state.SkipWithError("the sequence failed or a reply differed from the recording");
      break;
    }
  }
  SetCounters(state, times);
  std::vector<double>& all = GetBench().samples[path];
  all.insert(all.end(), times.begin(), times.end());
}
template <typename Body>
void TimedLoop(benchmark::State& state, Path path, Body body) {
  TimedLoop(state, path, body, [] {});
}

// Evicts core's code and data from the CPU caches (L1, L2; most of the shared L3 too on
// small machines) by writing 32 MiB, as other processes do between two APDUs on a busy host.
void EvictCaches() {
  static std::vector<uint8_t>* junk = new std::vector<uint8_t>(32 << 20);
  for (size_t i = 0; i < junk->size(); i += 64) ++(*junk)[i];
  benchmark::ClobberMemory();
}

void BM_CoreSequence(benchmark::State& state) {
  Bench& b = GetBench();
  if (!b.error.empty()) return state.SkipWithError(b.error.c_str());
  if (!b.MakeRoom(static_cast<int>(state.max_iterations)).ok()) {
    return state.SkipWithError("the value did not drop by one per sequence");
  }
  auto card = b.context->Connect(b.reader);
  if (!card.ok()) return state.SkipWithError("connect failed");
  TimedLoop(state, Path::kCoreFull, [&]() {
    const bool ok = FullSequence(**card, b.debit_key).ok();
    ++b.debits;
    return ok;
  });
}

void BM_RawSequence(benchmark::State& state) {
  Bench& b = GetBench();
  if (!b.error.empty()) return state.SkipWithError(b.error.c_str());
  if (!b.MakeRoom(static_cast<int>(state.max_iterations)).ok()) {
    return state.SkipWithError("the value did not drop by one per sequence");
  }
  auto raw = RawCard::Connect(b.reader);
  if (!raw.ok()) return state.SkipWithError("raw connect failed");
  TimedLoop(state, Path::kRawFull, [&]() {
    const bool ok = (*raw)->Replay(b.full[static_cast<size_t>(b.debits)]);
    ++b.debits;
    return ok;
  });
}

// Replays the recorded full sequences on `path`; with `cold_cache`, the caches are evicted
// before each.
void CoreOnlySequence(benchmark::State& state, Path path, bool cold_cache) {
  Bench& b = GetBench();
  if (!b.error.empty()) return state.SkipWithError(b.error.c_str());
  ReplayTransport replay;
  size_t i = 0;
  TimedLoop(
      state, path, [&]() { return FullSequence(replay, b.debit_key).ok() && replay.done(); },
      [&]() {
        if (cold_cache) EvictCaches();
        replay.Start(b.full[i++ % b.full.size()]);
      });
}

// Core alone: the full sequences against their recordings (no pcscd, no card). Its time is
// core's CPU cost per sequence, the floor of its overhead through pcscd.
void BM_CoreOnlySequence(benchmark::State& state) {
  CoreOnlySequence(state, Path::kCoreOnlyFull, /*cold_cache=*/false);
}

// The same with the caches evicted before every sequence.
void BM_CoreOnlySequenceColdCache(benchmark::State& state) {
  CoreOnlySequence(state, Path::kCoreOnlyFullCold, /*cold_cache=*/true);
}

void BM_CoreOnlyPlain(benchmark::State& state) {
  Bench& b = GetBench();
  if (!b.error.empty()) return state.SkipWithError(b.error.c_str());
  ReplayTransport replay;
  TimedLoop(
      state, Path::kCoreOnlyPlain, [&]() { return PlainSequence(replay).ok() && replay.done(); },
      [&]() { replay.Start(b.plain); });
}

void BM_CorePlain(benchmark::State& state) {
  Bench& b = GetBench();
  if (!b.error.empty()) return state.SkipWithError(b.error.c_str());
  auto card = b.context->Connect(b.reader);
  if (!card.ok()) return state.SkipWithError("connect failed");
  TimedLoop(state, Path::kCorePlain, [&]() { return PlainSequence(**card).ok(); });
}

void BM_RawPlain(benchmark::State& state) {
  Bench& b = GetBench();
  if (!b.error.empty()) return state.SkipWithError(b.error.c_str());
  auto raw = RawCard::Connect(b.reader);
  if (!raw.ok()) return state.SkipWithError("raw connect failed");
  TimedLoop(state, Path::kRawPlain, [&]() { return (*raw)->Replay(b.plain); });
}

// Runs bench/pyscard_plain.py once (it times each sequence itself with perf_counter); the
// reported time is its median sequence.
void BM_PyscardPlain(benchmark::State& state) {
  Bench& b = GetBench();
  if (!b.error.empty()) return state.SkipWithError(b.error.c_str());
  const std::string samples_path = b.sandbox->dir() + "/pyscard-samples.txt";
  const std::string command =
      absl::StrCat(kPython, " '", SOURCE_DIR, "/bench/pyscard_plain.py' --reader '", b.reader,
                   "' --sequences ", kPyscardSequences, " --warmup 10 --transcript '",
                   b.plain_transcript_path, "' --samples-out '", samples_path, "' 2>&1");
  for (auto _ : state) {
    std::FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) return state.SkipWithError("cannot run python3");
    std::string output;
    char buf[512];
    while (std::fgets(buf, sizeof(buf), pipe) != nullptr) output += buf;
    if (pclose(pipe) != 0) {
      std::fputs(output.c_str(), stderr);
      return state.SkipWithError("pyscard_plain.py failed");
    }
    while (!output.empty() && output.back() == '\n') output.pop_back();
    b.pyscard_line = output;
    std::vector<double> times;
    std::ifstream in(samples_path);
    for (double us; in >> us;) times.push_back(us);
    if (times.empty()) return state.SkipWithError("pyscard_plain.py wrote no samples");
    state.SetIterationTime(Percentile(times, 0.5) / 1e6);
    SetCounters(state, times);
    std::vector<double>& all = b.samples[Path::kPyscardPlain];
    all.insert(all.end(), times.begin(), times.end());
  }
}

void PrintRow(const char* name, size_t apdus, const std::vector<double>& v) {
  if (v.empty()) return;
  std::printf("  %-10s %6zu sequences  p50 %8.1f  mean %8.1f  p90 %8.1f  (p50 per APDU %.1f)\n",
              name, v.size(), Percentile(v, 0.5), Mean(v), Percentile(v, 0.9),
              Percentile(v, 0.5) / static_cast<double>(apdus));
}

// core − raw at the median and the mean, against both targets.
void PrintOverhead(const std::vector<double>& core, const std::vector<double>& raw) {
  if (core.empty() || raw.empty()) return;
  const double raw_p50 = Percentile(raw, 0.5);
  const double p50 = Percentile(core, 0.5) - raw_p50;
  const double mean = Mean(core) - Mean(raw);
  const double budget = 0.10 * raw_p50 + 50;
  std::printf("  core overhead: p50 %.1f µs (%.1f %% of raw), mean %.1f µs\n", p50,
              100 * p50 / raw_p50, mean);
  std::printf("    target ≤ 10 %% of raw + 50 µs = %.1f µs: %s;  DESIGN.md ≤ 150 µs p50: %s\n",
              budget, p50 <= budget ? "met" : "NOT met", p50 <= 150 ? "met" : "NOT met");
}

void PrintSummary() {
  if (BenchSlot() == nullptr) return;  // no benchmark ran
  Bench& b = GetBench();
  if (!b.error.empty()) {
    std::printf("card_ops_bench: %s\n", b.error.c_str());
    return;
  }
  auto& s = b.samples;
  std::printf("\n== per sequence, all repetitions (µs)\n");
  std::printf("full: select, authenticate AES, GetValue, Debit, Commit (%zu APDUs)\n",
              b.full.empty() ? size_t{0} : b.full[0].size());
  PrintRow("core", b.full.empty() ? 1 : b.full[0].size(), s[Path::kCoreFull]);
  PrintRow("raw", b.full.empty() ? 1 : b.full[0].size(), s[Path::kRawFull]);
  PrintRow("core alone", b.full.empty() ? 1 : b.full[0].size(), s[Path::kCoreOnlyFull]);
  PrintRow("  cold", b.full.empty() ? 1 : b.full[0].size(), s[Path::kCoreOnlyFullCold]);
  PrintOverhead(s[Path::kCoreFull], s[Path::kRawFull]);
  if (auto card = b.context->Connect(b.reader); card.ok()) {
    const int debits = b.debits;
    const absl::Status check = b.Restore(**card);
    std::printf("  value check: %d debits since the last credit, %s\n", debits,
                check.ok() ? "the card agrees" : std::string(check.message()).c_str());
  }
  std::printf(
      "plain: select, GetVersion, GetApplicationIDs, select, GetFileIDs, "
      "GetFileSettings (%zu APDUs)\n",
      b.plain.size());
  PrintRow("core", b.plain.size(), s[Path::kCorePlain]);
  PrintRow("raw", b.plain.size(), s[Path::kRawPlain]);
  PrintRow("pyscard", b.plain.size(), s[Path::kPyscardPlain]);
  PrintRow("core alone", b.plain.size(), s[Path::kCoreOnlyPlain]);
  PrintOverhead(s[Path::kCorePlain], s[Path::kRawPlain]);
  if (!b.pyscard_line.empty()) std::printf("  (last run: %s)\n", b.pyscard_line.c_str());
  if (!s[Path::kPyscardPlain].empty() && !s[Path::kRawPlain].empty()) {
    std::printf("  pyscard overhead: p50 %.1f µs over raw\n",
                Percentile(s[Path::kPyscardPlain], 0.5) - Percentile(s[Path::kRawPlain], 0.5));
  }
}

}  // namespace
}  // namespace desfired

int main(int argc, char** argv) {
  using namespace desfired;  // NOLINT: the registrations below
  // Random interleaving unless the command line says otherwise (a later flag wins).
  std::vector<char*> args(argv, argv + argc);
  char interleave[] = "--benchmark_enable_random_interleaving=true";
  args.insert(args.begin() + 1, interleave);
  int args_count = static_cast<int>(args.size());
  benchmark::Initialize(&args_count, args.data());
  if (benchmark::ReportUnrecognizedArguments(args_count, args.data())) return 1;
  auto sequences = [](const char* name, void (*fn)(benchmark::State&), int repetitions,
                      int iterations) {
    benchmark::RegisterBenchmark(name, fn)
        ->Iterations(iterations)
        ->Repetitions(repetitions)
        ->ReportAggregatesOnly()
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
  };
  sequences("BM_CoreSequence", BM_CoreSequence, kRepetitions, kSequencesPerRepetition);
  sequences("BM_RawSequence", BM_RawSequence, kRepetitions, kSequencesPerRepetition);
  sequences("BM_CoreOnlySequence", BM_CoreOnlySequence, kCoreOnlyRepetitions, kCoreOnlySequences);
  sequences("BM_CoreOnlySequenceColdCache", BM_CoreOnlySequenceColdCache, kCoreOnlyRepetitions,
            kCoreOnlySequences);
  sequences("BM_CorePlain", BM_CorePlain, kRepetitions, kSequencesPerRepetition);
  sequences("BM_RawPlain", BM_RawPlain, kRepetitions, kSequencesPerRepetition);
  sequences("BM_CoreOnlyPlain", BM_CoreOnlyPlain, kCoreOnlyRepetitions, kCoreOnlySequences);
  benchmark::RegisterBenchmark("BM_PyscardPlain", BM_PyscardPlain)
      ->Iterations(1)
      ->Repetitions(kPyscardRepetitions)
      ->ReportAggregatesOnly()
      ->UseManualTime()
      ->Unit(benchmark::kMicrosecond);
  benchmark::RunSpecifiedBenchmarks();
  PrintSummary();
  StopBench();
  benchmark::Shutdown();
  return 0;
}
