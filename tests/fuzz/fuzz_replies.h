// FuzzReplies: a CardTransport for the fuzz targets that answers each APDU with the next reply
// cut from the fuzzer's input — one length byte, then that many bytes (a short tail is the
// last reply) — and fails with UNAVAILABLE ("card gone") when the input is used up.
//
// Thread-compatible.
#ifndef DESFIRED_TESTS_FUZZ_FUZZ_REPLIES_H_
#define DESFIRED_TESTS_FUZZ_FUZZ_REPLIES_H_

#include <cstddef>

#include "core/apdu/transport.h"
#include "core/util/bytes.h"

namespace desfired::fuzz {

class FuzzReplies : public apdu::CardTransport {
 public:
  // `in` must outlive the transport.
  explicit FuzzReplies(ByteSpan in) : in_(in) {}
  absl::StatusOr<Bytes> Transmit(ByteSpan) override {
    if (pos_ >= in_.size()) return absl::UnavailableError("card gone");
    const size_t len = in_[pos_++];
    const size_t n = len < in_.size() - pos_ ? len : in_.size() - pos_;
    Bytes out(in_.begin() + pos_, in_.begin() + pos_ + n);
    pos_ += n;
    return out;
  }

 private:
  ByteSpan in_;
  size_t pos_ = 0;
};

}  // namespace desfired::fuzz

#endif  // DESFIRED_TESTS_FUZZ_FUZZ_REPLIES_H_
