// Synthetic tap records for the benchmarks: AES-128 CMAC under a static key, or per-card keys
// diversified (AN10922) from a master key; optionally with duplicates, clock jumps and bad
// records mixed in, as a large real input has them.
#ifndef DESFIRED_BENCH_TAP_RECORDS_H_
#define DESFIRED_BENCH_TAP_RECORDS_H_

#include <cstdint>
#include <cstring>
#include <memory>

#include "core/crypto/an10922.h"
#include "core/crypto/cmac.h"
#include "core/crypto/crc.h"
#include "core/tap/format.h"
#include "core/tap/mac_verifier.h"
#include "core/util/bytes.h"

namespace desfired::tap::bench {

inline constexpr char kKeyHex[] = "2b7e151628aed2a6abf7158809cf4f3c";
inline constexpr char kMasterHex[] = "00112233445566778899aabbccddeeff";
inline constexpr char kSystemHex[] = "4e585020416275";

struct RecordShape {
  bool diversified = false;     // per-card keys (else the static key)
  bool distinct_cards = false;  // a new card for every record (else 64 cards)
  bool mixed = false;           // duplicates, clock jumps, bad MACs and bad types mixed in
};

// Writes records first..first+count-1 (record i depends only on i and the shape) to `out`
// (count * kRecordSize bytes). Every record has its own dedup key unless `mixed`.
class RecordMaker {
 public:
  explicit RecordMaker(RecordShape shape)
      : shape_(shape),
        static_(*crypto::Cmac::Create(crypto::KeyType::kAes128, *HexDecode(kKeyHex))),
        master_(*crypto::Cmac::Create(crypto::KeyType::kAes128, *HexDecode(kMasterHex))),
        system_(*HexDecode(kSystemHex)) {}

  void Make(uint64_t first, uint64_t count, uint8_t* out) const {
    for (uint64_t k = 0; k < count; ++k) {
      const uint64_t i = first + k;
      // Mixed: every 50th record repeats the one 7 before it (a duplicate).
      One(shape_.mixed && i % 50 == 49 ? i - 7 : i, out + k * kRecordSize);
    }
  }

 private:
  void One(uint64_t i, uint8_t* r) const {
    std::memset(r, kPaddingByte, kRecordSize);
    r[kTypeOffset] = static_cast<uint8_t>(1 + i % 3);
    // Mixed: the clock jumps two days ahead every 100,000 records.
    const uint64_t jump = shape_.mixed ? (i / 100000) * 172800 : 0;
    StoreLe32(static_cast<uint32_t>(1700000000 + i + jump), r + kTimestampOffset);
    StoreLe24(static_cast<uint32_t>(0x1000 + i % 50), r + kTerminalOffset);
    StoreLe16(static_cast<uint32_t>(i % 20), r + kFareOffset);
    r[kZoneOffset] = static_cast<uint8_t>(i % 8);
    const uint64_t card = shape_.distinct_cards ? i : i % 64;
    const uint8_t uid[8] = {0x04,
                            0x11,
                            static_cast<uint8_t>(card >> 32),
                            static_cast<uint8_t>(card >> 24),
                            static_cast<uint8_t>(card >> 16),
                            static_cast<uint8_t>(card >> 8),
                            static_cast<uint8_t>(card),
                            0x80};
    std::memcpy(r + kUidOffset, uid, 8);
    if (shape_.diversified) {
      uint8_t input[32];
      std::memcpy(input, uid, kUidDiversifyLength);
      std::memcpy(input + kUidDiversifyLength, system_.data(), system_.size());
      uint8_t key[16];
      (void)crypto::DiversifyKeyWith(master_, crypto::KeyType::kAes128,
                                     ByteSpan(input, kUidDiversifyLength + system_.size()), key);
      auto card_cmac = *crypto::Cmac::Create(crypto::KeyType::kAes128, ByteSpan(key, 16));
      MacVerifier::ComputeTapMac(card_cmac, crypto::MacAlgorithm::kAes128Cmac, r, r + kMacOffset);
    } else {
      MacVerifier::ComputeTapMac(static_, crypto::MacAlgorithm::kAes128Cmac, r, r + kMacOffset);
    }
    if (shape_.mixed && i % 97 == 0) r[kMacOffset] ^= 1;  // a bad MAC
    r[kCrcOffset] = crypto::Crc8(ByteSpan(r, kCrcCoveredLength));
    if (shape_.mixed && i % 211 == 0) r[kTypeOffset] = 0x7f;  // REJECTED
  }

  RecordShape shape_;
  crypto::Cmac static_;
  crypto::Cmac master_;
  Bytes system_;
};

}  // namespace desfired::tap::bench

#endif  // DESFIRED_BENCH_TAP_RECORDS_H_
