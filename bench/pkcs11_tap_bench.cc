// Tap MAC verification with the keys in a PKCS#11 token (SoftHSM2) against the same keys in the
// file, in one run: the batched parse that desfirectl and the server run (TapParser::ParseBatch,
// 256 records per call), every record valid. Targets (issue 18), per core: >= 2 M records/s with
// a static token key (batched), >= 1 M records/s with per-card AN10922 keys from a master in the
// token and recurring cards.
//
//   build/bench/pkcs11_tap_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only
//
// Pairs (the file-key run of each pair is its reference, BM_*File):
//   Static          tap static key=k (AES128_CMAC); records of 64 cards
//   CardRecurring   tap card key=m (AN10922 master in the token), 64 cards that recur: their
//                   per-card keys are diversified once (in the token) and kept on the host
//   CardEveryNew    the same, every record from a new card: one batched diversification in the
//                   token per 256 records (the worst case; no target)
// Wall-clock rates (the token runs in this thread). The summary gives the medians, the ratios
// token / file and whether the targets are met. Bench/tap_core_vs_loop.sh relates the file-key
// rates to the simple loop of the shared reference. Needs SoftHSM2 (scripts/setup); says so and
// exits 1 without it.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench/median_reporter.h"
#include "bench/tap_records.h"
#include "core/keys/key_store.h"
#include "core/pkcs11/bind.h"
#include "core/tap/mac_verifier.h"
#include "core/tap/parser.h"
#include "tests/testing/softhsm.h"

namespace desfired::tap {
namespace {

constexpr size_t kRecords = 1 << 16;
constexpr size_t kBatch = MacVerifier::kMaxBatch;
const std::string kKeyLines =
    std::string("key k AES128 ") + bench::kKeyHex + "\nkey m AES128 " + bench::kMasterHex + "\n";
const std::string kStaticRule = "tap static key=k\n";
const std::string kCardRule = std::string("tap card key=m system=") + bench::kSystemHex + "\n";

struct World {
  std::unique_ptr<desfired::testing::SoftHsmToken> hsm;
  std::string token_keys;  // kKeyLines with both keys in the token (and the pkcs11 line)
  pkcs11::TokenKeyBinder binder;
};

World* TheWorld() {
  static World* world = [] {
    auto* w = new World();
    auto hsm = desfired::testing::SoftHsmToken::CreateTemp();
    if (!hsm.ok()) return static_cast<World*>(nullptr);
    w->hsm = *std::move(hsm);
    auto text = w->hsm->ImportKeys(kKeyLines);
    if (!text.ok()) return static_cast<World*>(nullptr);
    w->token_keys = *std::move(text);
    return w;
  }();
  return world;
}

const std::vector<uint8_t>& Records(bool diversified, bool distinct_cards) {
  static std::map<std::pair<bool, bool>, std::vector<uint8_t>> cache;
  std::vector<uint8_t>& out = cache[{diversified, distinct_cards}];
  if (out.empty()) {
    out.resize(kRecords * kRecordSize);
    bench::RecordMaker({diversified, distinct_cards, false}).Make(0, kRecords, out.data());
  }
  return out;
}

void Run(benchmark::State& state, bool token, const std::string& rule, bool diversified,
         bool distinct_cards) {
  World* w = TheWorld();
  if (w == nullptr) {
    state.SkipWithError("no SoftHSM2 token (install softhsm2: scripts/setup)");
    return;
  }
  absl::StatusOr<keys::KeyStore> store =
      keys::KeyStore::Parse((token ? w->token_keys : kKeyLines) + rule, "bench");
  if (!store.ok() || (token && !w->binder.Bind(*store).ok())) {
    state.SkipWithError("cannot load the keys");
    return;
  }
  const std::vector<uint8_t>& recs = Records(diversified, distinct_cards);
  std::vector<ByteSpan> spans;
  for (size_t i = 0; i < kRecords; ++i) spans.emplace_back(&recs[i * kRecordSize], kRecordSize);
  MacVerifier verifier = *MacVerifier::Create(*store);
  TapParser parser(ParserOptions{}, &verifier);
  std::vector<TapResult> out(kBatch);
  size_t i = 0;
  uint64_t bad = 0;
  for (auto _ : state) {
    parser.ParseBatch(i, &spans[i], kBatch, out.data());
    for (const TapResult& r : out) bad += r.status != TapStatus::kValid;
    i = (i + kBatch) & (kRecords - 1);
  }
  if (bad != 0) state.SkipWithError("a record did not verify");
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBatch));
}

void BM_StaticFile(benchmark::State& s) { Run(s, false, kStaticRule, false, false); }
void BM_StaticToken(benchmark::State& s) { Run(s, true, kStaticRule, false, false); }
void BM_CardRecurringFile(benchmark::State& s) { Run(s, false, kCardRule, true, false); }
void BM_CardRecurringToken(benchmark::State& s) { Run(s, true, kCardRule, true, false); }
void BM_CardEveryNewFile(benchmark::State& s) { Run(s, false, kCardRule, true, true); }
void BM_CardEveryNewToken(benchmark::State& s) { Run(s, true, kCardRule, true, true); }
BENCHMARK(BM_StaticFile)->UseRealTime();
BENCHMARK(BM_StaticToken)->UseRealTime();
BENCHMARK(BM_CardRecurringFile)->UseRealTime();
BENCHMARK(BM_CardRecurringToken)->UseRealTime();
BENCHMARK(BM_CardEveryNewFile)->UseRealTime();
BENCHMARK(BM_CardEveryNewToken)->UseRealTime();

// The summary after the runs: median rates and the ratio token / file per pair.
class Summary : public desfired::bench::MedianReporter {
 public:
  void Print() const {
    const struct {
      const char* pair;
      double target;  // M records/s with the token key; 0: none
    } kPairs[] = {{"Static", 2.0}, {"CardRecurring", 1.0}, {"CardEveryNew", 0}};
    for (const auto& p : kPairs) {
      const double file = MillionItemsPerSecond(std::string("BM_") + p.pair + "File");
      const double token = MillionItemsPerSecond(std::string("BM_") + p.pair + "Token");
      if (file == 0 || token == 0) continue;
      std::printf("%s: file key %.2f M rec/s, token key %.2f M rec/s: ratio token/file %.2f",
                  p.pair, file, token, token / file);
      if (p.target > 0) {
        std::printf("; target >= %.1f M rec/s: %s", p.target,
                    token >= p.target ? "met" : "NOT met");
      }
      std::printf("\n");
    }
  }
};

}  // namespace
}  // namespace desfired::tap

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (!desfired::testing::SoftHsmToken::Available()) {
    std::fprintf(stderr, "pkcs11_tap_bench: SoftHSM2 is not installed (scripts/setup)\n");
    return 1;
  }
  desfired::tap::Summary reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.Print();
  benchmark::Shutdown();
  return 0;
}
