#include "core/desfire/lrp_messaging.h"

#include <utility>

#include "absl/status/status.h"
#include "core/apdu/status_payload.h"
#include "core/crypto/random.h"
#include "core/desfire/status.h"
#include "core/util/status_macros.h"

namespace desfired::desfire {
namespace {

constexpr size_t kCounterNibbles = 8;
constexpr uint8_t kIsoPadMarker = 0x80;
constexpr size_t kUpdatedKeyEnc = 1;  // SesAuthENCKey: UK1 of the master key

}  // namespace

LrpMessaging::LrpMessaging(crypto::LrpCmac mac, crypto::Lrp enc, uint32_t enc_counter)
    : mac_(std::move(mac)),
      enc_(std::move(enc)),
      counter_{static_cast<uint8_t>(enc_counter >> 24), static_cast<uint8_t>(enc_counter >> 16),
               static_cast<uint8_t>(enc_counter >> 8), static_cast<uint8_t>(enc_counter)} {}

absl::StatusOr<LrpMessaging> LrpMessaging::Create(ByteSpan master_key, uint32_t enc_counter) {
  DESFIRED_ASSIGN_OR_RETURN(crypto::LrpCmac mac, crypto::LrpCmac::Create(master_key));
  DESFIRED_ASSIGN_OR_RETURN(crypto::Lrp enc, crypto::Lrp::Create(master_key, kUpdatedKeyEnc));
  return LrpMessaging(std::move(mac), std::move(enc), enc_counter);
}

void LrpMessaging::Mac(ByteSpan message, uint8_t* out) const { mac_.Compute(message, out); }

absl::Status LrpMessaging::Encrypt(Bytes& data) {
  data.push_back(kIsoPadMarker);
  while (data.size() % crypto::kLrpBlock != 0) data.push_back(0);
  DESFIRED_RETURN_IF_ERROR(CheckCounter(data.size()));
  DESFIRED_RETURN_IF_ERROR(
      enc_.LricbEncrypt(absl::MakeSpan(counter_), kCounterNibbles, absl::MakeSpan(data)));
  exhausted_ = enc_counter() == 0;  // FFFFFFFF was the last value
  return absl::OkStatus();
}

absl::Status LrpMessaging::CheckCounter(size_t bytes) const {
  // EncCtr must not wrap within a session: a counter value used twice under one key would
  // repeat the keystream.
  const uint64_t left = exhausted_ ? 0 : uint64_t{0xFFFFFFFF} - enc_counter() + 1;
  if (bytes / crypto::kLrpBlock > left) {
    return apdu::WithReason(
        absl::FailedPreconditionError(
            "the LRP session's encryption counter is used up: authenticate again"),
        kReasonNotAuthenticated);
  }
  return absl::OkStatus();
}

absl::Status LrpMessaging::Decrypt(MutableByteSpan data) {
  if (data.empty() || data.size() % crypto::kLrpBlock != 0) {
    return IntegrityError("enciphered response is not a whole number of blocks");
  }
  DESFIRED_RETURN_IF_ERROR(CheckCounter(data.size()));
  DESFIRED_RETURN_IF_ERROR(enc_.LricbDecrypt(absl::MakeSpan(counter_), kCounterNibbles, data));
  exhausted_ = enc_counter() == 0;
  return absl::OkStatus();
}

uint32_t LrpMessaging::enc_counter() const {
  return uint32_t{counter_[0]} << 24 | uint32_t{counter_[1]} << 16 | uint32_t{counter_[2]} << 8 |
         counter_[3];
}

absl::Status StripIsoPadding(Bytes& data, std::optional<size_t> expected) {
  size_t len = data.size();
  while (len > 0 && data[len - 1] == 0) --len;
  if (len == 0 || data[len - 1] != kIsoPadMarker || data.size() - len >= crypto::kLrpBlock) {
    return IntegrityError("deciphered response: bad padding");
  }
  --len;
  if (expected.has_value() && *expected != len) {
    return IntegrityError("deciphered response has an unexpected length");
  }
  crypto::SecureWipe(absl::MakeSpan(data).subspan(len));
  data.resize(len);
  return absl::OkStatus();
}

}  // namespace desfired::desfire
