// Fuzz target: SUN message handling (core/tap/sun.h): the text fields of a tag URL through
// ParseSunInput, then DecryptPiccData and VerifySunMac with zero keys (the keys of the AN12196
// examples, so seeds can reach the MAC and file-data paths).
//
// Input: byte 0 bit 0 picks the cipher (0 AES, 1 LRP); the rest is six fields separated by
// '|': picc_data, uid, counter, enc_file_data, mac_input, mac (missing fields are empty).
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "core/tap/sun.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace tap = desfired::tap;
  if (size < 1) return 0;
  const absl::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  tap::SunInput in;
  in.cipher = (data[0] & 1) != 0 ? tap::SunCipher::kLrp : tap::SunCipher::kAes;
  std::string* const fields[] = {&in.picc_data,     &in.uid,       &in.counter,
                                 &in.enc_file_data, &in.mac_input, &in.mac};
  size_t i = 0;
  for (absl::string_view field : absl::StrSplit(text, absl::MaxSplits('|', 5))) {
    *fields[i++] = std::string(field);
  }
  absl::StatusOr<tap::SunMessage> msg = tap::ParseSunInput(in);
  if (!msg.ok()) return 0;
  const uint8_t zero[16] = {};
  if (!tap::DecryptPiccData(*msg, desfired::ByteSpan(zero, 16)).ok()) return 0;
  (void)tap::VerifySunMac(*msg, desfired::ByteSpan(zero, 16));
  return 0;
}
