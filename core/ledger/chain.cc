#include "core/ledger/chain.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "core/util/bytes.h"

namespace desfired::ledger {
namespace {

static_assert(kHashSize == SHA256_DIGEST_LENGTH);

// Appends `n` to `out` as 8 bytes, big-endian.
void AppendBigEndian64(uint64_t n, std::string& out) {
  char be[8];
  for (int i = 7; i >= 0; --i) {
    be[i] = static_cast<char>(n & 0xff);
    n >>= 8;
  }
  out.append(be, 8);
}

// The canonical encoding's writer: length-prefixed fields appended to one buffer.
class Canonical {
 public:
  explicit Canonical(std::string* buf) : buf_(*buf) {}
  void Bytes(absl::string_view b) {
    AppendBigEndian64(b.size(), buf_);
    buf_.append(b.data(), b.size());
  }
  void Int(int64_t v) {
    std::string be;
    AppendBigEndian64(static_cast<uint64_t>(v), be);
    Bytes(be);
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
  // The columns in their order, up to pending_seq, each written as its kind.
  for (int i = 0; i <= static_cast<int>(Column::kPendingSeq); ++i) {
    const Column column = static_cast<Column>(i);
    switch (KindOf(column)) {
      case ColumnKind::kInteger:
        c.Int(r[column].integer);
        break;
      case ColumnKind::kOptionalInteger:
        c.Optional(r[column]);
        break;
      default:
        c.Bytes(r[column].bytes);
        break;
    }
  }
  c.Bytes(AsChars(prev));
  // Format version 2: the Transaction MAC columns, only when set (old rows hash as before).
  if (r[Column::kTmc].type != Value::Type::kNull || !r[Column::kTmv].bytes.empty() ||
      !r[Column::kReaderId].bytes.empty()) {
    c.Optional(r[Column::kTmc]);
    c.Bytes(r[Column::kTmv].bytes);
    c.Bytes(r[Column::kReaderId].bytes);
  }
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
  // One buffer per thread, reused: a verify hashes every row.
  thread_local std::string buf;
  buf.clear();
  buf.append(reinterpret_cast<const char*>(prev.data()), prev.size());
  AppendCanonical(prev, row, &buf);
  Hash h{};
  // SHA-256 fetched once (OpenSSL 3's SHA256() looks the algorithm up at every call).
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  unsigned int size = 0;
  EVP_Digest(buf.data(), buf.size(), h.data(), &size, sha256, nullptr);
  return h;
}

}  // namespace desfired::ledger
