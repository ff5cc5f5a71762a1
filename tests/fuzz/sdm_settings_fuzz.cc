// Fuzz target: the SDM settings parsers of both sides — the host's (core/desfire/sdm_settings.h:
// DecodeSdmSettings, and DecodeFileSettings, which reads them from a GetFileSettings answer)
// and the card's (sim/card/sdm.h: ParseSdmConfig of ChangeFileSettings). Whatever decodes must
// encode back to the same settings (host: when the encoder accepts them; card: byte for byte).
//
// Input: byte 0: bit 0 LRP, the rest of it the file size in 8-byte units; then the settings.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "core/desfire/card_types.h"
#include "core/desfire/sdm_settings.h"
#include "core/util/bytes.h"
#include "sim/card/sdm.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool lrp = (data[0] & 1) != 0;
  const uint32_t file_size = (data[0] >> 1) * 8u;
  const desfired::ByteSpan rest(data + 1, size - 1);
  namespace desfire = desfired::desfire;

  (void)desfire::DecodeFileSettings(rest);
  absl::StatusOr<desfire::SdmSettings> host = desfire::DecodeSdmSettings(rest);
  if (host.ok()) {
    absl::StatusOr<desfired::Bytes> again =
        desfire::EncodeSdmSettings(*host, {.file_size = file_size, .lrp = lrp});
    if (again.ok()) {
      absl::StatusOr<desfire::SdmSettings> back = desfire::DecodeSdmSettings(*again);
      if (!back.ok() || !(*back == *host)) std::abort();
    }
  }

  desfired::sim::SdmConfig card;
  if (desfired::sim::ParseSdmConfig(rest, file_size, lrp, card) == desfired::sim::Sw::kOk) {
    const desfired::Bytes again = desfired::sim::EncodeSdmConfig(card);
    if (desfired::Bytes(rest.begin(), rest.end()) != again) std::abort();
  }
  return 0;
}
