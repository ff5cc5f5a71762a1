// Fuzz target: the tap pipeline (parser, MAC verifier with all three rule kinds, reconciler,
// summary) over arbitrary record bytes. The first byte, when present, is a backend-time
// selector so that the clock code is reached too.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/keys/key_store.h"
#include "core/tap/pipeline.h"

namespace {

struct State {
  State() {
    store = *desfired::keys::KeyStore::Parse(
        "key s AES128 2b7e151628aed2a6abf7158809cf4f3c\n"
        "key t 2TDEA 0123456789abcdef23456789abcdef01\n"
        "key m AES128 00112233445566778899aabbccddeeff\n"
        "tap terminal 0x001234 key=t\n"
        "tap card key=m system=4e585020416275\n"
        "tap static key=s\n",
        "fuzz");
    desfired::tap::TapPipelineConfig config;
    config.keys = &store;
    pipeline = std::move(*desfired::tap::TapPipeline::Create(config));
  }
  desfired::keys::KeyStore store;
  std::unique_ptr<desfired::tap::TapPipeline> pipeline;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static State* state = new State();
  if (size == 0) return 0;
  std::optional<int64_t> backend;
  if (data[0] & 1) backend = 1700000000 + (data[0] >> 1);
  desfired::tap::TapResult r;
  state->pipeline->Process(0, desfired::ByteSpan(data + 1, size - 1), backend, &r);
  (void)r.ErrorText();
  if (r.status != desfired::tap::TapStatus::kRejected) {
    (void)r.RecordId();
    (void)r.DedupKey();
  }
  return 0;
}
