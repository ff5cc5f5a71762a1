// SUN (Secure Unique NFC) messages: verifying what an NTAG 424 DNA / DESFire EV3 / DESFire
// Light tag with Secure Dynamic Messaging (SDM) put in its URL, with AES or LRP keys.
//
//   SunInput in{.cipher = SunCipher::kAes, .picc_data = "EF963FF7828658A599F3041510671E88",
//               .mac = "94EED9EE65337086"};                // from ?e=...&c=...
//   DESFIRED_ASSIGN_OR_RETURN(SunMessage msg, ParseSunInput(in));   // INVALID_ARGUMENT
//   DESFIRED_RETURN_IF_ERROR(DecryptPiccData(msg, meta_key));       // uid, counter
//   SunResult r = VerifySunMac(msg, file_key_for(msg.uid));          // VALID / FLAGGED
//
// The rules (NT4H2421 / AN12196, as ev3_vectors.md §4 states them and its vectors confirm):
//   PICCData   PICCDataTag ‖ [UID(7)] ‖ [SDMReadCtr(3, LSB first)] ‖ random pad (16 bytes).
//              Tag bit 7: UID mirrored, bit 6: counter mirrored, bits 5-4 zero, bits 3-0: the
//              UID length (7 with the UID, 0 without). Anything else is refused.
//   AES        e = AES-CBC-Enc(K_SDMMetaRead, IV 0, PICCData) (16 bytes);
//              SV1 = C3 3C 00 01 00 80 ‖ UID ‖ ctr, SV2 = 3C C3 00 01 00 80 ‖ UID ‖ ctr (zero
//              padded to 16; absent fields left out); KSesENC = CMAC(K_SDMFileRead; SV1),
//              KSesMAC = CMAC(K_SDMFileRead; SV2); SDMMAC = odd bytes of CMAC(KSesMAC; MAC
//              input); file data = AES-CBC-Dec(KSesENC, IV = E(KSesENC, ctr ‖ 00×13)).
//   LRP        e = PICCRand(8) ‖ LRICB-Enc(K_SDMMetaRead, UK0, counter PICCRand)(PICCData);
//              SV = 00 01 00 80 ‖ UID ‖ ctr ‖ 00.. ‖ 1E E1 (16 bytes); master =
//              CMAC_LRP(K_SDMFileRead; SV); SDMMAC = odd bytes of CMAC_LRP(master; MAC
//              input); file data = LRICB-Dec(master, UK1, counter ctr ‖ 00 00 00).
//   MAC input  the ASCII characters of the URL between SDMMACInputOffset and SDMMACOffset
//              (empty when they are equal), given literally.
//   Plain      `uid=` (7 bytes) and `ctr=` (3 bytes, the URL shows it most significant byte
//              first) instead of PICCData.
//
// Many messages: prepare each key once (SunKey: the AES key schedule and CMAC subkeys; with
// LRP the AN12304 plaintexts and updated key, which depend on the key only) and verify with
// DecryptPiccDataWith / VerifySunMacs, which batch the session-key derivations of all messages
// (one CMAC pass over all their SV blocks with AES). Every session key is derived once per
// message and serves both the MAC and the file data.
//
// MACs are compared in constant time. Keys and session keys are wiped after use; none is ever
// put in an error or a result.
//
// Thread-safe: pure functions; a const SunKey may be used from several threads at once.
#ifndef DESFIRED_CORE_TAP_SUN_H_
#define DESFIRED_CORE_TAP_SUN_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/crypto/cmac.h"
#include "core/crypto/lrp.h"
#include "core/crypto/random.h"
#include "core/util/bytes.h"

namespace desfired::tap {

enum class SunCipher { kAes, kLrp };

inline constexpr size_t kSunUidLength = 7;
inline constexpr size_t kSunMacLength = 8;
inline constexpr uint32_t kSunMaxCounter = 0xFFFFFF;  // SDMReadCtr is 24 bits
inline constexpr size_t kSunMaxPiccBytes = 24;        // LRP: PICCRand(8) ‖ 16

// What a tag's URL carries, as text. Hex fields take upper or lower case.
struct SunInput {
  SunCipher cipher = SunCipher::kAes;
  // Encrypted PICCData (`e=` / `picc_data=`): 32 hex digits with AES, 48 with LRP. Empty: the
  // UID and counter come in plain (`uid`, `counter`).
  std::string picc_data = {};
  std::string uid = {};      // plain mirroring: 14 hex digits
  std::string counter = {};  // plain mirroring: 6 hex digits, most significant first
  // SDMEncFileData, a multiple of 32 hex digits; empty: none.
  std::string enc_file_data = {};
  // The characters the MAC covers, literally (often empty, `<enc>&cmac=`, ...).
  std::string mac_input = {};
  std::string mac = {};  // SDMMAC: 16 hex digits
};

// A parsed SunInput (and, after DecryptPiccData, what the PICCData holds).
struct SunMessage {
  SunCipher cipher = SunCipher::kAes;
  std::array<uint8_t, kSunMaxPiccBytes> picc_enc = {};
  size_t picc_enc_size = 0;  // 16 (AES) or 24 (LRP); 0 with plain mirroring
  std::optional<std::array<uint8_t, kSunUidLength>> uid;
  std::optional<uint32_t> counter;
  Bytes enc_file = {};
  std::string mac_input = {};
  std::array<uint8_t, kSunMacLength> mac = {};
};

enum class SunStatus : uint8_t { kValid = 1, kFlagged = 2, kRejected = 3 };
// Numbered as desfired.v1.SunWarning; a result holds a set of them as a bit mask.
enum class SunWarning : uint8_t {
  kMacVerificationFailed = 1,
  kCounterNotNewer = 2,  // a counter store saw this UID with this counter or a later one
};

struct SunResult {
  SunStatus status = SunStatus::kRejected;
  uint16_t warnings = 0;   // bit (1 << SunWarning)
  std::string error = {};  // REJECTED: why (names the field, never a key)
  std::optional<std::array<uint8_t, kSunUidLength>> uid;
  std::optional<uint32_t> counter;
  Bytes file_data = {};  // the decrypted SDMEncFileData (MAC valid only)

  bool has(SunWarning w) const { return (warnings >> static_cast<int>(w)) & 1; }
  void add(SunWarning w) { warnings |= static_cast<uint16_t>(1u << static_cast<int>(w)); }
};

// Checks and decodes the text: INVALID_ARGUMENT naming the field for non-hex, a wrong length
// (PICCData, UID, counter, file data, MAC), PICCData together with plain fields, a counter
// without a UID or over 24 bits (6 hex digits), or neither PICCData nor a UID.
absl::StatusOr<SunMessage> ParseSunInput(const SunInput& in);

// An SDM key (K_SDMMetaRead or a static K_SDMFileRead) prepared for `cipher`: with AES its key
// schedule and CMAC subkeys, with LRP its CMAC_LRP (plaintexts, updated key 0, subkeys).
class SunKey {
 public:
  // INVALID_ARGUMENT naming `what` for a key that is not 16 bytes.
  static absl::StatusOr<SunKey> Create(SunCipher cipher, ByteSpan key,
                                       absl::string_view what = "key");
  SunCipher cipher() const { return cipher_; }

 private:
  friend absl::Status DecryptPiccDataWith(SunMessage& msg, const SunKey& meta_read_key);
  friend void VerifySunMacs(absl::Span<const SunMessage* const> msgs, const SunKey& file_read_key,
                            absl::Span<SunResult> results);
  explicit SunKey(SunCipher cipher) : cipher_(cipher) {}
  SunCipher cipher_;
  std::optional<crypto::Aes128Cmac> aes_;
  std::optional<crypto::LrpCmac> lrp_;
};

// Decrypts msg.picc_enc with K_SDMMetaRead (16 bytes) and fills msg.uid and msg.counter.
// INVALID_ARGUMENT for a PICCDataTag that is not a valid one (a wrong key gives one almost
// always). Nothing to do with plain mirroring.
absl::Status DecryptPiccData(SunMessage& msg, ByteSpan meta_read_key);
// The same with the key prepared (its cipher must be msg.cipher, else INVALID_ARGUMENT).
absl::Status DecryptPiccDataWith(SunMessage& msg, const SunKey& meta_read_key);

// Verifies the SDMMAC with K_SDMFileRead (16 bytes, already diversified for the tag) and, when
// it verifies, decrypts the file data: VALID, or FLAGGED with kMacVerificationFailed. The UID
// and counter are those of `msg` (DecryptPiccData first). INVALID_ARGUMENT for a key of the
// wrong length; file data without a counter is REJECTED (its IV needs the counter).
SunResult VerifySunMac(const SunMessage& msg, ByteSpan file_read_key);

// VerifySunMac for every message of `msgs` with one prepared K_SDMFileRead into `results`
// (msgs.size() of them; result i is VerifySunMac(*msgs[i], key)'s). A message whose cipher is
// not the key's is REJECTED. With AES the SV blocks of all messages go through one batched
// CMAC.
void VerifySunMacs(absl::Span<const SunMessage* const> msgs, const SunKey& file_read_key,
                   absl::Span<SunResult> results);

// The AES session keys (KSesSDMFileReadENC, KSesSDMFileReadMAC) for `uid` (7 bytes or empty)
// and the counter (absent: not mirrored); for tests against AN12196 Table 1.
struct SunAesSessionKeys {
  crypto::Wiped<16> enc;
  crypto::Wiped<16> mac;
};
absl::StatusOr<SunAesSessionKeys> DeriveSunAesSessionKeys(ByteSpan file_read_key, ByteSpan uid,
                                                          std::optional<uint32_t> counter);
// SDMEncFileData of the tag `uid` (7 bytes or empty) at read counter `counter`, decrypted
// (VerifySunMac does it once the MAC verifies). INVALID_ARGUMENT for a key of the wrong length
// or data that is not whole 16-byte blocks.
absl::StatusOr<Bytes> DecryptSunFileData(SunCipher cipher, ByteSpan file_read_key, ByteSpan uid,
                                         uint32_t counter, ByteSpan enc_file);
// LRP's SesSDMFileReadMasterKey.
absl::StatusOr<crypto::Wiped<16>> DeriveSunLrpMasterKey(ByteSpan file_read_key, ByteSpan uid,
                                                        std::optional<uint32_t> counter);

}  // namespace desfired::tap

#endif  // DESFIRED_CORE_TAP_SUN_H_
