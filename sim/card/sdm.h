// The card side of Secure Dynamic Messaging (NTAG 424 DNA, DESFire EV3 / Light): the SDM part
// of ChangeFileSettings and GetFileSettings, and the SUN message a read of an SDM file returns
// (the file's content with the UID, read counter, enciphered file data and SDMMAC mirrored in
// as ASCII hex). Written from the NT4H2421 data sheet rules as AN12196 describes them, apart
// from the host side (core/tap/sun.h, core/desfire/sdm_settings.h): only core/crypto is shared.
//
//   SdmConfig config;
//   if (ParseSdmConfig(tail, file_size, lrp, config) != Sw::kOk) ...
//   Bytes shown = file.data;
//   Sw sw = MirrorSdm(config, {.uid = uid, .counter = 7, .meta_key = k2, .file_key = k1,
//                              .lrp = false}, random, shown);
//
// Session keys and MACs (AES): SV1 = C3 3C 00 01 00 80 ‖ UID ‖ SDMReadCtr (LSB first) and
// SV2 = 3C C3 …, zero-padded to 16 bytes, the fields present when mirrored; KSesSDMFileReadENC
// = CMAC(K_SDMFileRead; SV1), KSesSDMFileReadMAC = CMAC(K_SDMFileRead; SV2); SDMMAC = the odd
// bytes of CMAC(KSesSDMFileReadMAC; the file's characters from SDMMACInputOffset to
// SDMMACOffset). LRP: SV = 00 01 00 80 ‖ UID ‖ SDMReadCtr ‖ zeros ‖ 1E E1 (16 bytes),
// SesSDMFileReadMasterKey = CMAC_LRP(K_SDMFileRead; SV), SDMMAC = odd bytes of its CMAC_LRP,
// file data LRICB under its second updated key with counter SDMReadCtr ‖ 00 00 00.
//
// Thread-safe: pure functions (the random source is the caller's).
#ifndef DESFIRED_SIM_CARD_SDM_H_
#define DESFIRED_SIM_CARD_SDM_H_

#include <cstdint>
#include <functional>
#include <optional>

#include "core/util/bytes.h"
#include "sim/card/protocol.h"

namespace desfired::sim {

inline constexpr uint8_t kFileOptionSdmEnabled = 0x40;

// The card's random source (the same type as auth.h's RandomSource).
using SdmRandom = std::function<void(MutableByteSpan)>;

struct SdmConfig {
  uint8_t options = 0x01;    // SDMOptions: 80 UID, 40 counter, 20 limit, 10 file data, 01 ASCII
  uint8_t meta_read = 0x0F;  // key, 0xE plain, 0xF none
  uint8_t file_read = 0x0F;  // key or 0xF
  uint8_t ctr_ret = 0x0F;
  uint32_t uid_offset = 0;
  uint32_t ctr_offset = 0;
  uint32_t picc_offset = 0;
  uint32_t mac_input_offset = 0;
  uint32_t enc_offset = 0;
  uint32_t enc_length = 0;
  uint32_t mac_offset = 0;
  std::optional<uint32_t> ctr_limit;

  bool MirrorsUid() const { return (options & 0x80) != 0; }
  bool MirrorsCounter() const { return (options & 0x40) != 0; }
  bool EncryptsFileData() const { return (options & 0x10) != 0 && file_read <= 0x0D; }
  bool EncryptsPiccData() const { return meta_read <= 0x0D; }
  bool Macs() const { return file_read <= 0x0D; }
};

// Parses SDMOptions ‖ SDMAccessRights ‖ offsets for a standard file of `file_size` bytes
// (`lrp`: PICCData takes 48 characters). kParameterError for settings the card refuses
// (unknown option bits, binary encoding, a mirror beyond the file or overlapping another, a MAC
// input after the MAC, enciphered data outside it), kLengthError for a missing or extra byte.
Sw ParseSdmConfig(ByteSpan data, uint32_t file_size, bool lrp, SdmConfig& out);
// The same bytes back (GetFileSettings).
Bytes EncodeSdmConfig(const SdmConfig& config);

struct SdmInputs {
  ByteSpan uid;          // 7 bytes
  uint32_t counter = 0;  // the counter after this read's increment
  ByteSpan meta_key;     // K_SDMMetaRead (AES-128), when meta_read is a key
  ByteSpan file_key;     // K_SDMFileRead, when file_read is a key
  bool lrp = false;
};

// Fills the mirrors of `config` into `content` (the file's data; the enciphered data's
// plaintext is the first enc_length / 2 bytes at enc_offset). kOk, or kPermissionDenied when
// a key is missing.
Sw MirrorSdm(const SdmConfig& config, const SdmInputs& in, const SdmRandom& random, Bytes& content);

// The pieces, for the published vectors (ev3_vectors.md §4). `uid` / `counter` empty when not
// mirrored; `counter` 3 bytes least significant first.
// AES: PICCData (16 bytes) enciphered under K_SDMMetaRead, IV 0.
Bytes SdmPiccEncAes(ByteSpan meta_key, ByteSpan picc_data);
// LRP: PICCRand ‖ LRICB(K_SDMMetaRead, counter PICCRand)(PICCData).
Bytes SdmPiccEncLrp(ByteSpan meta_key, ByteSpan picc_rand, ByteSpan picc_data);
// KSesSDMFileReadENC ‖ KSesSDMFileReadMAC (32 bytes) under AES, SesSDMFileReadMasterKey
// (16 bytes) under LRP.
Bytes SdmSessionKeys(ByteSpan file_key, ByteSpan uid, ByteSpan counter, bool lrp);
// The 8-byte SDMMAC over `mac_input`.
Bytes SdmMac(ByteSpan file_key, ByteSpan uid, ByteSpan counter, ByteSpan mac_input, bool lrp);
// The enciphered file data (whole 16-byte blocks).
Bytes SdmEncFileData(ByteSpan file_key, ByteSpan uid, ByteSpan counter, ByteSpan plain, bool lrp);

}  // namespace desfired::sim

#endif  // DESFIRED_SIM_CARD_SDM_H_
