// Card authentication with a key in a PKCS#11 token (SoftHSM2) against the same key in the file:
// the same APDU sequence on the in-process emulated transit card (desfire-sim's card model, no
// PC/SC), so the difference is what the token adds. Target (issue 18): a token key adds at
// most 100 µs at the median over a file key for the same APDU sequence.
//
//   build/bench/pkcs11_auth_bench --benchmark_repetitions=10 --benchmark_report_aggregates_only
//
// Sequences, each on application F51001 (AES keys):
//   AES   AuthenticateAES key 1 (2 APDUs) + GetKeyVersion 1 under the session's CMAC (1 APDU)
//   EV2   AuthenticateEV2First key 1 (2 APDUs) + GetKeyVersion 1 (1 APDU)
// The reference is the file-key run of the same sequence in the same process and run
// (BM_*File); the summary printed at the end gives the medians, the difference in µs and the
// ratio. Each process makes its own SoftHSM2 token in a temporary directory (SOFTHSM2_CONF).
// Needs SoftHSM2 (scripts/setup); says so and exits 1 without it.
//
// Thread-compatible: Google Benchmark runs everything on the main thread.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "bench/median_reporter.h"
#include "core/desfire/card.h"
#include "core/keys/key_store.h"
#include "core/pkcs11/bind.h"
#include "sim/image/image.h"
#include "tests/testing/emulator_transport.h"
#include "tests/testing/softhsm.h"

namespace desfired {
namespace {

constexpr char kKeys[] = "key app_read AES128 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf\n";
constexpr uint32_t kAid = 0xF51001;

struct World {
  std::unique_ptr<testing::SoftHsmToken> hsm;
  keys::KeyStore file_keys;
  keys::KeyStore token_keys;
  pkcs11::TokenKeyBinder binder;
  std::unique_ptr<testing::EmulatorTransport> transport;
  std::unique_ptr<desfire::DesfireCard> card;
};

World* TheWorld() {
  static World* world = [] {
    auto* w = new World();
    auto hsm = testing::SoftHsmToken::CreateTemp();
    if (!hsm.ok()) return static_cast<World*>(nullptr);
    w->hsm = *std::move(hsm);
    auto token_file = w->hsm->ImportKeys(kKeys);
    auto file = keys::KeyStore::Parse(kKeys, "file");
    auto token =
        token_file.ok() ? keys::KeyStore::Parse(*token_file, "token") : token_file.status();
    if (!file.ok() || !token.ok()) return static_cast<World*>(nullptr);
    w->file_keys = *std::move(file);
    w->token_keys = *std::move(token);
    if (!w->binder.Bind(w->token_keys).ok()) return static_cast<World*>(nullptr);
    auto state = sim::LoadImage(std::string(SOURCE_DIR) + "/sim/images/transit.json");
    if (!state.ok()) return static_cast<World*>(nullptr);
    w->transport = std::make_unique<testing::EmulatorTransport>(*std::move(state));
    w->card = std::make_unique<desfire::DesfireCard>(*w->transport);
    if (!w->card->SelectApplication(kAid).ok()) return static_cast<World*>(nullptr);
    return w;
  }();
  return world;
}

void Sequence(benchmark::State& state, bool token, desfire::AuthScheme scheme) {
  World* w = TheWorld();
  if (w == nullptr) {
    state.SkipWithError("no SoftHSM2 token (install softhsm2: scripts/setup)");
    return;
  }
  const keys::Key& key = *(token ? w->token_keys : w->file_keys).Find("app_read");
  const desfire::CardKey card_key = token ? desfire::CardKey{key.type, {}, 0, key.cipher.get()}
                                          : desfire::CardKey{key.type, key.value.view(), 0};
  for (auto _ : state) {
    if (!w->card->Authenticate(1, card_key, scheme).ok() || !w->card->GetKeyVersion(1).ok()) {
      state.SkipWithError("authentication failed");
      return;
    }
  }
}

void BM_AesFile(benchmark::State& s) { Sequence(s, false, desfire::AuthScheme::kAes); }
void BM_AesToken(benchmark::State& s) { Sequence(s, true, desfire::AuthScheme::kAes); }
void BM_Ev2File(benchmark::State& s) { Sequence(s, false, desfire::AuthScheme::kEv2); }
void BM_Ev2Token(benchmark::State& s) { Sequence(s, true, desfire::AuthScheme::kEv2); }
BENCHMARK(BM_AesFile)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_AesToken)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Ev2File)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Ev2Token)->Unit(benchmark::kMicrosecond);

// The summary after the runs: medians, difference and ratio per sequence.
class Summary : public bench::MedianReporter {
 public:
  void Print() const {
    for (const char* seq : {"Aes", "Ev2"}) {
      const Run* f = Find(std::string("BM_") + seq + "File");
      const Run* t = Find(std::string("BM_") + seq + "Token");
      if (f == nullptr || t == nullptr) continue;
      const double file_us = f->GetAdjustedRealTime(), token_us = t->GetAdjustedRealTime();
      std::printf(
          "%s: file key %.1f us, token key %.1f us: the token adds %.1f us (x%.2f); "
          "target <= 100 us: %s\n",
          seq, file_us, token_us, token_us - file_us, token_us / file_us,
          token_us - file_us <= 100 ? "met" : "NOT met");
    }
  }
};

}  // namespace
}  // namespace desfired

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (!desfired::testing::SoftHsmToken::Available()) {
    std::fprintf(stderr, "pkcs11_auth_bench: SoftHSM2 is not installed (scripts/setup)\n");
    return 1;
  }
  desfired::Summary reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.Print();
  benchmark::Shutdown();
  return 0;
}
