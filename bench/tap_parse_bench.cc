// Tap parsing throughput (docs/benchmarks.md has the command and the figures).
//
// Targets per core (DESIGN.md): 20 M records/s CRC only, 5 M records/s with AES-CMAC. The
// *Batch* benchmarks run the batched paths (TapParser::ParseBatch, TapPipeline::ProcessBatch)
// that desfirectl and the server use; bench/tap_core_vs_loop.sh compares them in one run with
// the simple loop of ../shared/bench/ceiling_taps.cc.
#include <benchmark/benchmark.h>

#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "bench/tap_records.h"
#include "core/crypto/an10922.h"
#include "core/crypto/cmac.h"
#include "core/crypto/crc.h"
#include "core/keys/key_store.h"
#include "core/tap/format.h"
#include "core/tap/mac_verifier.h"
#include "core/tap/parser.h"
#include "core/tap/pipeline.h"

namespace desfired::tap {
namespace {

constexpr size_t kRecords = 1 << 16;
using bench::kKeyHex;
using bench::kMasterHex;

// kRecords valid records; every record has its own UID when `distinct_cards`, else 64 cards.
std::vector<uint8_t> MakeRecords(bool diversified, bool distinct_cards) {
  std::vector<uint8_t> out(kRecords * kRecordSize);
  bench::RecordMaker({diversified, distinct_cards, false}).Make(0, kRecords, out.data());
  return out;
}

// The batched paths take 256 records per call (MacVerifier::kMaxBatch).
constexpr size_t kBatch = MacVerifier::kMaxBatch;

std::vector<ByteSpan> Spans(const std::vector<uint8_t>& recs) {
  std::vector<ByteSpan> spans;
  for (size_t i = 0; i < recs.size() / kRecordSize; ++i) {
    spans.emplace_back(&recs[i * kRecordSize], kRecordSize);
  }
  return spans;
}

// Parses `recs` round and round, one record per Parse() call or (kBatched) kBatch records per
// ParseBatch() call; every result must have status `expect`.
template <bool kBatched>
void RunParser(benchmark::State& state, TapParser& parser, const std::vector<uint8_t>& recs,
               TapStatus expect) {
  const std::vector<ByteSpan> spans = Spans(recs);
  const size_t step = kBatched ? kBatch : 1;
  std::vector<TapResult> out(step);
  size_t i = 0;
  uint64_t bad = 0;
  for (auto _ : state) {
    if (kBatched) {
      parser.ParseBatch(i, &spans[i], kBatch, out.data());
    } else {
      parser.Parse(i, spans[i], out.data());
    }
    for (const TapResult& r : out) bad += r.status != expect;
    benchmark::DoNotOptimize(out.data());
    i = (i + step) & (kRecords - 1);
  }
  if (bad != 0) state.SkipWithError("unexpected status");
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * step));
}

// Each parse benchmark runs one record per call as BM_Parse<What> and batched as
// BM_ParseBatch<What>.
#define DESFIRED_PARSE_BENCHMARK(what)                      \
  BENCHMARK(BM_Parse##what<false>)->Name("BM_Parse" #what); \
  BENCHMARK(BM_Parse##what<true>)->Name("BM_ParseBatch" #what)

template <bool kBatched>
void BM_ParseCrcOnly(benchmark::State& state) {
  static const std::vector<uint8_t> recs = MakeRecords(false, false);
  TapParser parser(ParserOptions{}, nullptr);
  RunParser<kBatched>(state, parser, recs, TapStatus::kFlagged);  // no key: MAC_NOT_VERIFIED
}
DESFIRED_PARSE_BENCHMARK(CrcOnly);

// Parses `recs` with the keys and tap rules of `key_file` (a key store); every record is valid.
template <bool kBatched>
void RunWithKeys(benchmark::State& state, const std::string& key_file,
                 const std::vector<uint8_t>& recs) {
  keys::KeyStore store = *keys::KeyStore::Parse(key_file, "b");
  MacVerifier verifier = *MacVerifier::Create(store);
  TapParser parser(ParserOptions{}, &verifier);
  RunParser<kBatched>(state, parser, recs, TapStatus::kValid);
}

// Per-card keys (AN10922) diversified from the master key.
std::string An10922Keys() {
  return std::string("key m AES128 ") + kMasterHex + "\ntap card key=m system=4e585020416275\n";
}

template <bool kBatched>
void BM_ParseAesCmacStaticKey(benchmark::State& state) {
  static const std::vector<uint8_t> recs = MakeRecords(false, false);
  RunWithKeys<kBatched>(state, std::string("key k AES128 ") + kKeyHex + "\ntap static key=k\n",
                        recs);
}
DESFIRED_PARSE_BENCHMARK(AesCmacStaticKey);

// Per-card keys (AN10922): 64 cards that recur, so their keys stay prepared.
template <bool kBatched>
void BM_ParseAn10922RecurringCards(benchmark::State& state) {
  static const std::vector<uint8_t> recs = MakeRecords(true, false);
  RunWithKeys<kBatched>(state, An10922Keys(), recs);
}
DESFIRED_PARSE_BENCHMARK(An10922RecurringCards);

// Per-card keys (AN10922), worst case: every record from a card not seen before.
template <bool kBatched>
void BM_ParseAn10922EveryCardNew(benchmark::State& state) {
  static const std::vector<uint8_t> recs = MakeRecords(true, true);
  RunWithKeys<kBatched>(state, An10922Keys(), recs);
}
DESFIRED_PARSE_BENCHMARK(An10922EveryCardNew);

// The whole pipeline as desfirectl and the server run it: parse with AES-CMAC, duplicate
// suppression, clock offsets (backend time on every record) and the summary.
void BM_PipelineAesCmacDedupClock(benchmark::State& state) {
  static const std::vector<uint8_t> recs = MakeRecords(false, false);
  keys::KeyStore store =
      *keys::KeyStore::Parse(std::string("key k AES128 ") + kKeyHex + "\ntap static key=k\n", "b");
  TapPipelineConfig config;
  config.keys = &store;
  auto pipeline = *TapPipeline::Create(config);
  TapResult r;
  size_t i = 0;
  uint32_t lap = 0;
  for (auto _ : state) {
    // Shift time every lap so that records are not duplicates of the previous lap.
    pipeline->Process(i, ByteSpan(&recs[i * kRecordSize], kRecordSize),
                      int64_t{1700000000} + static_cast<int64_t>(i) + lap, &r);
    benchmark::DoNotOptimize(r);
    if (++i == kRecords) {
      i = 0;
      ++lap;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_PipelineAesCmacDedupClock);

// The whole pipeline, batched, with every record a new dedup key: 2^20 distinct records (one
// second apart, 50 terminals, backend time on every record), a fresh pipeline per pass.
void BM_PipelineBatchEveryRecordNew(benchmark::State& state) {
  constexpr size_t kPass = 1 << 20;
  static const std::vector<uint8_t> recs = [] {
    std::vector<uint8_t> out(kPass * kRecordSize);
    bench::RecordMaker({false, true, false}).Make(0, kPass, out.data());
    return out;
  }();
  static const std::vector<ByteSpan> spans = Spans(recs);
  std::vector<std::optional<int64_t>> backend(kBatch);
  keys::KeyStore store =
      *keys::KeyStore::Parse(std::string("key k AES128 ") + kKeyHex + "\ntap static key=k\n", "b");
  TapPipelineConfig config;
  config.keys = &store;
  std::vector<TapResult> out(kBatch);
  uint64_t dups = 0;
  for (auto _ : state) {
    auto pipeline = *TapPipeline::Create(config);
    for (size_t i = 0; i < kPass; i += kBatch) {
      for (size_t k = 0; k < kBatch; ++k) backend[k] = int64_t{1700000000} + int64_t(i + k) - 2;
      pipeline->ProcessBatch(i, &spans[i], backend.data(), kBatch, out.data());
      benchmark::DoNotOptimize(out.data());
    }
    dups += pipeline->summary().warnings[static_cast<int>(TapWarning::kDuplicateTap)] +
            pipeline->summary().flagged;
  }
  if (dups != 0) state.SkipWithError("a record was not valid and new");
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kPass));
}
BENCHMARK(BM_PipelineBatchEveryRecordNew)->Unit(benchmark::kMillisecond);

void BM_Crc8Record(benchmark::State& state) {
  uint8_t rec[27] = {1, 2, 3};
  for (auto _ : state) {
    benchmark::DoNotOptimize(crypto::Crc8(ByteSpan(rec, sizeof(rec))));
    rec[0]++;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_Crc8Record);

void BM_AesCmac19Bytes(benchmark::State& state) {
  auto cmac = *crypto::Cmac::Create(crypto::KeyType::kAes128, *HexDecode(kKeyHex));
  uint8_t msg[19] = {1, 2, 3};
  uint8_t out[16];
  for (auto _ : state) {
    cmac.Compute(ByteSpan(msg, sizeof(msg)), out);
    msg[0] = out[0];
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_AesCmac19Bytes);

}  // namespace
}  // namespace desfired::tap

BENCHMARK_MAIN();
