// Tap parsing throughput (docs/benchmarks.md has the command and the figures).
//
// Targets per core (DESIGN.md): 20 M records/s CRC only, 5 M records/s with AES-CMAC.
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

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
constexpr char kKeyHex[] = "2b7e151628aed2a6abf7158809cf4f3c";
constexpr char kMasterHex[] = "00112233445566778899aabbccddeeff";

// kRecords valid records; every record has its own UID when `distinct_cards`, else 64 cards.
std::vector<uint8_t> MakeRecords(bool diversified, bool distinct_cards) {
  std::vector<uint8_t> out(kRecords * kRecordSize, kPaddingByte);
  auto static_cmac = *crypto::Cmac::Create(crypto::KeyType::kAes128, *HexDecode(kKeyHex));
  auto master = *crypto::Cmac::Create(crypto::KeyType::kAes128, *HexDecode(kMasterHex));
  const Bytes system = *HexDecode("4e585020416275");
  for (size_t i = 0; i < kRecords; ++i) {
    uint8_t* r = &out[i * kRecordSize];
    r[kTypeOffset] = static_cast<uint8_t>(1 + i % 3);
    StoreLe32(static_cast<uint32_t>(1700000000 + i), r + kTimestampOffset);
    StoreLe24(static_cast<uint32_t>(0x1000 + i % 50), r + kTerminalOffset);
    StoreLe16(static_cast<uint32_t>(i % 20), r + kFareOffset);
    r[kZoneOffset] = static_cast<uint8_t>(i % 8);
    const uint32_t card = distinct_cards ? static_cast<uint32_t>(i) : static_cast<uint32_t>(i % 64);
    const uint8_t uid[8] = {0x04,
                            0x11,
                            0x22,
                            static_cast<uint8_t>(card >> 24),
                            static_cast<uint8_t>(card >> 16),
                            static_cast<uint8_t>(card >> 8),
                            static_cast<uint8_t>(card),
                            0x80};
    std::memcpy(r + kUidOffset, uid, 8);
    if (diversified) {
      Bytes input(7 + system.size());
      std::memcpy(input.data(), uid, 7);
      std::memcpy(input.data() + 7, system.data(), system.size());
      uint8_t key[16];
      (void)crypto::DiversifyKeyWith(master, crypto::KeyType::kAes128, input, key);
      auto c = *crypto::Cmac::Create(crypto::KeyType::kAes128, ByteSpan(key, 16));
      MacVerifier::ComputeTapMac(c, crypto::MacAlgorithm::kAes128Cmac, r, r + kMacOffset);
    } else {
      MacVerifier::ComputeTapMac(static_cmac, crypto::MacAlgorithm::kAes128Cmac, r, r + kMacOffset);
    }
    r[kCrcOffset] = crypto::Crc8(ByteSpan(r, kCrcCoveredLength));
  }
  return out;
}

void RunParser(benchmark::State& state, TapParser& parser, const std::vector<uint8_t>& recs,
               TapStatus expect) {
  TapResult r;
  size_t i = 0;
  uint64_t bad = 0;
  for (auto _ : state) {
    parser.Parse(i, ByteSpan(&recs[i * kRecordSize], kRecordSize), &r);
    bad += r.status != expect;
    benchmark::DoNotOptimize(r);
    i = (i + 1) & (kRecords - 1);
  }
  if (bad != 0) state.SkipWithError("unexpected status");
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void BM_ParseCrcOnly(benchmark::State& state) {
  static const std::vector<uint8_t> recs = MakeRecords(false, false);
  TapParser parser(ParserOptions{}, nullptr);
  RunParser(state, parser, recs, TapStatus::kFlagged);  // no key: MAC_NOT_VERIFIED
}
BENCHMARK(BM_ParseCrcOnly);

// Parses `recs` with the keys and tap rules of `key_file` (a key store); every record is valid.
void RunWithKeys(benchmark::State& state, const std::string& key_file,
                 const std::vector<uint8_t>& recs) {
  keys::KeyStore store = *keys::KeyStore::Parse(key_file, "b");
  MacVerifier verifier = *MacVerifier::Create(store);
  TapParser parser(ParserOptions{}, &verifier);
  RunParser(state, parser, recs, TapStatus::kValid);
}

// Per-card keys (AN10922) diversified from the master key.
std::string An10922Keys() {
  return std::string("key m AES128 ") + kMasterHex + "\ntap card key=m system=4e585020416275\n";
}

void BM_ParseAesCmacStaticKey(benchmark::State& state) {
  static const std::vector<uint8_t> recs = MakeRecords(false, false);
  RunWithKeys(state, std::string("key k AES128 ") + kKeyHex + "\ntap static key=k\n", recs);
}
BENCHMARK(BM_ParseAesCmacStaticKey);

// Per-card keys (AN10922): 64 cards that recur, so their keys stay prepared.
void BM_ParseAn10922RecurringCards(benchmark::State& state) {
  static const std::vector<uint8_t> recs = MakeRecords(true, false);
  RunWithKeys(state, An10922Keys(), recs);
}
BENCHMARK(BM_ParseAn10922RecurringCards);

// Per-card keys (AN10922), worst case: every record from a card not seen before.
void BM_ParseAn10922EveryCardNew(benchmark::State& state) {
  static const std::vector<uint8_t> recs = MakeRecords(true, true);
  RunWithKeys(state, An10922Keys(), recs);
}
BENCHMARK(BM_ParseAn10922EveryCardNew);

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
