// EV3 host-side costs (bench/results/ev3.md), each beside its reference in the same run:
//   originality   VerifyOriginality (core/desfire/originality.h) vs one raw OpenSSL 3 ECDSA
//                 P-224 verify of the same signature (EVP_PKEY and DER signature prepared
//                 once): the floor of any check;
//   SUN           a SUN message parsed, decrypted and its MAC verified (core/tap/sun.h), AES and
//                 LRP, on one thread: per message with the free functions (keys prepared per
//                 call), and batched as VerifySun runs it (SunVerifier::VerifyMany over
//                 kSunBatch messages, keys from a key store prepared once per batch); the
//                 reference for the AES rate is the shared simple loop
//                 ../shared/bench/ceiling_taps.cc (AES-CMAC per record), run by
//                 bench/ev3_bench.sh.
// Samples: ev3_vectors.md §5 orig-an12196-8.2 (NTAG 424 DNA) and §4 sdm-an12196-p12 /
// sdm-lrp-sdmbackend-2.
#include <benchmark/benchmark.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "core/desfire/originality.h"
#include "core/keys/key_store.h"
#include "core/tap/sun.h"
#include "core/tap/sun_verifier.h"
#include "core/util/bytes.h"

namespace {

using desfired::Bytes;
namespace desfire = desfired::desfire;
namespace tap = desfired::tap;

constexpr char kUid[] = "04518DFAA96180";
constexpr char kSig[] =
    "D1940D17CFEDA4BFF80359AB975F9F6514313E8F90C1D3CAAF5941AD744A1CDF9A83F883CAFE0FE95D1939B1B7E4"
    "7113993324473B785D21";
constexpr char kNtagKey[] =
    "048A9B380AF2EE1B98DC417FECC263F8449C7625CECE82D9B916C992DA209D68422B81EC20B65A66B5102A6159"
    "6AF3379200599316A00A1410";

Bytes H(const char* hex) {
  absl::StatusOr<Bytes> b = desfired::HexDecode(hex);
  if (!b.ok()) std::abort();
  return *b;
}

// The reference: one EVP_PKEY_verify per iteration (context made per call, as any caller
// holding a parsed key does), key and DER signature prepared outside the loop.
void BM_RawOpenSslEcdsaP224Verify(benchmark::State& state) {
  const Bytes point = H(kNtagKey);
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "secp224r1", 0);
  OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX* kctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
  EVP_PKEY* key = nullptr;
  EVP_PKEY_fromdata_init(kctx);
  EVP_PKEY_fromdata(kctx, &key, EVP_PKEY_PUBLIC_KEY, params);
  const Bytes sig = H(kSig);
  ECDSA_SIG* s = ECDSA_SIG_new();
  ECDSA_SIG_set0(s, BN_bin2bn(sig.data(), 28, nullptr), BN_bin2bn(sig.data() + 28, 28, nullptr));
  unsigned char* der = nullptr;
  const int der_len = i2d_ECDSA_SIG(s, &der);
  Bytes digest = desfire::OriginalityDigest(H(kUid));
  for (auto _ : state) {
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new(key, nullptr);
    EVP_PKEY_verify_init(ctx);
    int ok = EVP_PKEY_verify(ctx, der, static_cast<size_t>(der_len), digest.data(), digest.size());
    if (ok != 1) state.SkipWithError("reference verify failed");
    EVP_PKEY_CTX_free(ctx);
    benchmark::DoNotOptimize(ok);
  }
  OPENSSL_free(der);
  ECDSA_SIG_free(s);
  EVP_PKEY_free(key);
  EVP_PKEY_CTX_free(kctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
}
BENCHMARK(BM_RawOpenSslEcdsaP224Verify)->MeasureProcessCPUTime()->UseRealTime();

// VerifyOriginality of the AN12196 sample on a card naming itself `product`, the signature's
// last byte XORed with `flip`, expecting `verdict`.
void Originality(benchmark::State& state, desfire::CardProduct product, uint8_t flip,
                 desfire::OriginalityVerdict verdict) {
  const Bytes uid = H(kUid);
  Bytes sig = H(kSig);
  sig[55] ^= flip;
  (void)desfire::NxpOriginalityKeys();  // the table is parsed once, outside the loop
  for (auto _ : state) {
    desfire::OriginalityResult r = desfire::VerifyOriginality(product, uid, sig);
    if (r.verdict != verdict) state.SkipWithError("unexpected verdict");
    benchmark::DoNotOptimize(r);
  }
}

// A genuine NTAG 424 DNA: its first key verifies.
void BM_VerifyOriginalityGenuine(benchmark::State& state) {
  Originality(state, desfire::CardProduct::kNtag424Dna, 0, desfire::OriginalityVerdict::kGenuine);
}
BENCHMARK(BM_VerifyOriginalityGenuine)->MeasureProcessCPUTime()->UseRealTime();

// The worst case: a forged signature on a DESFire Light, all three keys of its family tried.
void BM_VerifyOriginalityForgedLight(benchmark::State& state) {
  Originality(state, desfire::CardProduct::kDesfireLight, 1,
              desfire::OriginalityVerdict::kNotGenuine);
}
BENCHMARK(BM_VerifyOriginalityForgedLight)->MeasureProcessCPUTime()->UseRealTime();

void SunOne(benchmark::State& state, const tap::SunInput& in) {
  const Bytes zero(16, 0);
  for (auto _ : state) {
    absl::StatusOr<tap::SunMessage> msg = tap::ParseSunInput(in);
    if (!msg.ok() || !tap::DecryptPiccData(*msg, zero).ok()) state.SkipWithError("parse");
    tap::SunResult r = tap::VerifySunMac(*msg, zero);
    if (r.status != tap::SunStatus::kValid) state.SkipWithError("not valid");
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}

// The samples: AN12196 p.12 (AES) and sdm-backend test_sdm_lrp2 (LRP), both with zero keys.
const tap::SunInput kAesSample{.cipher = tap::SunCipher::kAes,
                               .picc_data = "EF963FF7828658A599F3041510671E88",
                               .mac = "94EED9EE65337086"};
const tap::SunInput kLrpSample{.cipher = tap::SunCipher::kLrp,
                               .picc_data = "1FCBE61B3E4CAD980CBFDD333E7A4AC4A579569BAFD22C5F",
                               .mac = "4231608BA7B02BA9"};

void BM_SunAes(benchmark::State& state) { SunOne(state, kAesSample); }
BENCHMARK(BM_SunAes)->MeasureProcessCPUTime()->UseRealTime();

void BM_SunLrp(benchmark::State& state) { SunOne(state, kLrpSample); }
BENCHMARK(BM_SunLrp)->MeasureProcessCPUTime()->UseRealTime();

// Messages per VerifyMany call (a VerifySun request of this many messages).
constexpr size_t kSunBatch = 256;

// SunVerifier::VerifyMany over kSunBatch copies of `in` (zero keys from a key store; no counter
// store, so every copy verifies); the counter "batch" gives the messages per iteration.
void SunBatch(benchmark::State& state, const tap::SunInput& in) {
  absl::StatusOr<desfired::keys::KeyStore> store = desfired::keys::KeyStore::Parse(
      "key meta AES128 00000000000000000000000000000000\n"
      "key file AES128 00000000000000000000000000000000\n",
      "bench");
  if (!store.ok()) std::abort();
  const std::vector<tap::SunInput> inputs(kSunBatch, in);
  std::vector<tap::SunResult> results(kSunBatch);
  for (auto _ : state) {
    tap::SunVerifier v(*store, {.meta_key = "meta", .file_key = "file"}, nullptr);
    v.VerifyMany(inputs, absl::MakeSpan(results));
    if (results.back().status != tap::SunStatus::kValid) state.SkipWithError("not valid");
    benchmark::DoNotOptimize(results.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kSunBatch));
  state.counters["batch"] = static_cast<double>(kSunBatch);
}

void BM_SunAesBatch(benchmark::State& state) { SunBatch(state, kAesSample); }
BENCHMARK(BM_SunAesBatch)->MeasureProcessCPUTime()->UseRealTime();

void BM_SunLrpBatch(benchmark::State& state) { SunBatch(state, kLrpSample); }
BENCHMARK(BM_SunLrpBatch)->MeasureProcessCPUTime()->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
