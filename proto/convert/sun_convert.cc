#include "proto/convert/sun_convert.h"

namespace desfired {

tap::SunCipher SunCipherFromProto(v1::SunCipher cipher) {
  return cipher == v1::SUN_CIPHER_LRP ? tap::SunCipher::kLrp : tap::SunCipher::kAes;
}

tap::SunInput SunInputFromProto(v1::SunCipher cipher, const v1::SunMessage& in) {
  return {.cipher = SunCipherFromProto(cipher),
          .picc_data = in.picc_data(),
          .uid = in.uid(),
          .counter = in.counter(),
          .enc_file_data = in.enc_file_data(),
          .mac_input = in.mac_input(),
          .mac = in.mac()};
}

void SunResultToProto(const tap::SunResult& in, uint64_t index, v1::SunResult* out) {
  static_assert(static_cast<int>(tap::SunStatus::kRejected) == v1::TapResult::REJECTED);
  static_assert(static_cast<int>(tap::SunWarning::kCounterNotNewer) ==
                v1::SUN_WARNING_COUNTER_NOT_NEWER);
  out->set_status(static_cast<v1::TapResult::Status>(in.status));
  for (tap::SunWarning w :
       {tap::SunWarning::kMacVerificationFailed, tap::SunWarning::kCounterNotNewer}) {
    if (in.has(w)) out->add_warnings(static_cast<v1::SunWarning>(w));
  }
  out->set_error(in.error);
  if (in.uid.has_value()) out->set_uid(in.uid->data(), in.uid->size());
  if (in.counter.has_value()) out->set_counter(*in.counter);
  out->set_file_data(in.file_data.data(), in.file_data.size());
  out->set_index(index);
}

}  // namespace desfired
