// TapParser: decodes one tap record and checks its CRC8, MAC, padding and clock window.
//
// Stateless per record apart from the verifier's key cache; allocation-free.
//
//   TapParser parser(ParserOptions{}, &verifier);   // verifier may be nullptr
//   TapResult r;
//   parser.Parse(index, record_bytes, &r);
//
// Thread-compatible: one parser (and its verifier) per thread. The verifier, if any, must
// outlive the parser.
#ifndef DESFIRED_CORE_TAP_PARSER_H_
#define DESFIRED_CORE_TAP_PARSER_H_

#include <cstdint>

#include "core/tap/mac_verifier.h"
#include "core/tap/result.h"
#include "core/util/bytes.h"

namespace desfired::tap {

struct ParserOptions {
  // Plausibility window for the terminal clock, in UTC calendar years (inclusive).
  int min_year = 2020;
  int max_year = 2035;
};

class TapParser {
 public:
  explicit TapParser(const ParserOptions& options, MacVerifier* verifier = nullptr);

  // Fills *out for the record `raw` (the view is kept in out->raw). Never fails: undecodable
  // input gives a REJECTED result.
  void Parse(uint64_t index, ByteSpan raw, TapResult* out);

  // Parses `count` records (raws[i] gets the index first_index + i) into out[0..count); every
  // result equals Parse()'s. The MACs of the batch are verified together
  // (MacVerifier::VerifyBatch), which is several times faster per record than Parse().
  void ParseBatch(uint64_t first_index, const ByteSpan* raws, size_t count, TapResult* out);

  // A REJECTED result for an input that could not even be read as bytes; `error` must
  // outlive the result.
  static void Unreadable(uint64_t index, ByteSpan raw, absl::string_view error, TapResult* out);

 private:
  // The decoding steps before the MAC; false when the record is REJECTED.
  static bool Decode(uint64_t index, ByteSpan raw, TapResult* out);
  // The steps after the MAC (`mac` is nullptr without a verifier); `crc` is the CRC-8 of the
  // record's first kCrcCoveredLength bytes.
  void Finish(const MacVerifier::Outcome* mac, uint8_t crc, TapResult* out) const;

  int64_t min_time_;
  int64_t max_time_;
  MacVerifier* verifier_;
};

// Unix time of 1 January of `year`, 00:00:00 UTC.
int64_t StartOfYearUtc(int year);

}  // namespace desfired::tap

#endif  // DESFIRED_CORE_TAP_PARSER_H_
