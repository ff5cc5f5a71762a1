// Channel: the one path every DESFire native command takes to the card.
//
//   caller (Session / command code)
//      │  Transceive(ins, payload)             payload = header ‖ data, already MACed or
//      ▼                                        enciphered by the session
//   Channel ── split payload into ≤ 54-byte frames:
//      │         90 INS 00 00 Lc frame0 00      ← 91 AF (card wants more)
//      │         90 AF  00 00 Lc frame1 00 ...
//      │      ── collect the reply while the card answers 91 AF:
//      │         ... data0 91 AF  → 90 AF 00 00 00 → data1 91 00
//      │      ── log every frame in hex through the FrameLogger (redacted on request)
//      │      ── map the final status byte through the DESFire table (status.h)
//      ▼
//   CardTransport::Transmit(raw APDU bytes)
//
//   Channel channel(transport);
//   channel.set_frame_logger([](FrameDirection d, absl::string_view hex) { ... });
//   DESFIRED_ASSIGN_OR_RETURN(NativeResponse r, channel.Transceive(Ins::kGetVersion, {}));
//
// Errors from Transceive:
//   UNAVAILABLE / CARD_REMOVED  a reply shorter than 2 bytes, or the transport says so
//   the DESFire status table's code (status.h) for a final status other than 00, 0C, AF
//   the ISO status table's code (core/apdu/apdu.h) for a reply not of the form 91 xx
//   INTERNAL / PROTOCOL_ERROR   data or a final status in the middle of command chaining,
//                               or a reply longer than kMaxResponseBytes
//   anything the transport returns
//
// The channel never sees plaintext of enciphered payloads or keys: the session enciphers
// before calling it. Authentication frames are logged with `redact` so that card
// cryptograms do not end up in logs either.
//
// Thread-compatible: one worker owns the channel; `transport` must outlive it.
#ifndef DESFIRED_CORE_DESFIRE_CHANNEL_H_
#define DESFIRED_CORE_DESFIRE_CHANNEL_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/apdu/transport.h"
#include "core/desfire/ins.h"
#include "core/util/bytes.h"

namespace desfired::desfire {

// Most data bytes in one wrapped command frame (see DESIGN.md "Protocol facts").
inline constexpr size_t kMaxFrameData = 54;
// Largest reply assembled from 91 AF frames before the channel gives up.
inline constexpr size_t kMaxResponseBytes = 64 * 1024;

enum class FrameDirection { kToCard, kFromCard };

// Receives one frame as lower-case hex. Called synchronously on the worker's thread.
using FrameLogger = std::function<void(FrameDirection, absl::string_view hex)>;

struct TransceiveOptions {
  // Fetch further reply frames with 90 AF 00 00 00 while the card answers 91 AF. Off for
  // the authentication steps, where 91 AF is part of the protocol.
  bool fetch_additional_frames = true;
  // Log only the 5-byte header and the length of each frame.
  bool redact = false;
  // A final status besides 00, 0C and AF returned as success (ReadSig answers 91 90).
  std::optional<uint8_t> extra_success_status = std::nullopt;
};

struct NativeResponse {
  uint8_t status = 0;               // 00, 0C or AF (the only statuses returned as success)
  Bytes data;                       // the data of all reply frames, concatenated
  std::vector<size_t> frame_sizes;  // data bytes of each reply frame (GetDFNames splits by them)
};

class Channel {
 public:
  explicit Channel(apdu::CardTransport& transport) : transport_(transport) {}

  void set_frame_logger(FrameLogger logger) { logger_ = std::move(logger); }

  // Sends `ins` with `payload` (chained in ≤ 54-byte frames) and returns the reply.
  absl::StatusOr<NativeResponse> Transceive(Ins ins, ByteSpan payload,
                                            const TransceiveOptions& options = {});
  // Sends one ISO/IEC 7816-4 APDU (CLA 00) as it is, logged like the native frames, and
  // returns the raw answer (data ‖ SW1 SW2): iso_apdu.h decodes it.
  absl::StatusOr<Bytes> TransmitIso(ByteSpan apdu) { return Exchange(apdu, false); }

 private:
  absl::StatusOr<Bytes> Exchange(ByteSpan frame, bool redact);
  void Log(FrameDirection direction, ByteSpan frame, bool redact, size_t keep) const;

  apdu::CardTransport& transport_;
  FrameLogger logger_;
};

}  // namespace desfired::desfire

#endif  // DESFIRED_CORE_DESFIRE_CHANNEL_H_
