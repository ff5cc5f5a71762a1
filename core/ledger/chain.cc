#include "core/ledger/chain.h"

#include <openssl/sha.h>

#include "core/util/bytes.h"

namespace desfired::ledger {
namespace {

static_assert(kHashSize == SHA256_DIGEST_LENGTH);

// The canonical encoding's writer: length-prefixed fields appended to one buffer.
class Canonical {
 public:
  explicit Canonical(std::string* buf) : buf_(*buf) {}
  void Bytes(absl::string_view b) {
    uint64_t n = b.size();
    char len[8];
    for (int i = 7; i >= 0; --i) {
      len[i] = static_cast<char>(n & 0xff);
      n >>= 8;
    }
    buf_.append(len, 8);
    buf_.append(b.data(), b.size());
  }
  void Int(int64_t v) {
    char be[8];
    uint64_t u = static_cast<uint64_t>(v);
    for (int i = 7; i >= 0; --i) {
      be[i] = static_cast<char>(u & 0xff);
      u >>= 8;
    }
    Bytes(absl::string_view(be, 8));
  }
  void Optional(const Value& v) {
    if (v.type != Value::Type::kNull) {
      Int(v.integer);
    } else {
      Bytes("");
    }
  }

 private:
  std::string& buf_;
};

absl::string_view AsChars(const Hash& h) {
  return absl::string_view(reinterpret_cast<const char*>(h.data()), h.size());
}

// Appends canonical(row) to `buf`.
void AppendCanonical(const Hash& prev, const StoredRow& r, std::string* buf) {
  Canonical c(buf);
  c.Int(r[Column::kSeq].integer);
  c.Bytes(r[Column::kTime].bytes);
  c.Bytes(r[Column::kEvent].bytes);
  c.Bytes(r[Column::kRequestId].bytes);
  c.Bytes(r[Column::kRequestHash].bytes);
  c.Bytes(r[Column::kCaller].bytes);
  c.Bytes(r[Column::kMethod].bytes);
  c.Bytes(r[Column::kUid].bytes);
  c.Bytes(r[Column::kReader].bytes);
  c.Int(r[Column::kAid].integer);
  c.Int(r[Column::kFileNo].integer);
  c.Optional(r[Column::kAmount]);
  c.Optional(r[Column::kValueBefore]);
  c.Optional(r[Column::kValueAfter]);
  c.Bytes(r[Column::kOutcome].bytes);
  c.Bytes(r[Column::kReason].bytes);
  c.Bytes(r[Column::kCommitState].bytes);
  c.Bytes(r[Column::kDetail].bytes);
  c.Bytes(r[Column::kPayload].bytes);
  c.Int(r[Column::kPendingSeq].integer);
  c.Bytes(AsChars(prev));
}

}  // namespace

std::string HashHex(const Hash& hash) { return HexEncode(ByteSpan(hash.data(), hash.size())); }

std::optional<Hash> ParseHashHex(absl::string_view hex) {
  if (hex.size() != 2 * kHashSize) return std::nullopt;
  Hash h{};
  for (size_t i = 0; i < kHashSize; ++i) {
    const char a = hex[2 * i], b = hex[2 * i + 1];
    if ((a >= 'A' && a <= 'F') || (b >= 'A' && b <= 'F')) return std::nullopt;  // lower case only
    const int hi = HexDigitValue(a), lo = HexDigitValue(b);
    if (hi < 0 || lo < 0) return std::nullopt;
    h[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return h;
}

std::string CanonicalBytes(const Hash& prev, const StoredRow& row) {
  std::string buf;
  AppendCanonical(prev, row, &buf);
  return buf;
}

Hash ChainHash(const Hash& prev, const StoredRow& row) {
  std::string buf;
  buf.reserve(512);
  buf.append(reinterpret_cast<const char*>(prev.data()), prev.size());
  AppendCanonical(prev, row, &buf);
  Hash h{};
  SHA256(reinterpret_cast<const unsigned char*>(buf.data()), buf.size(), h.data());
  return h;
}

}  // namespace desfired::ledger
