// The hash chain of the ledger (docs/ledger.md, "The chain"): the canonical encoding of a row
// and the SHA-256 link from each row to the one before it.
//
//   hash(row n) = SHA-256(prev_hash_bytes ‖ canonical(row n))
//   prev_hash(row 1) = kGenesisHash (32 zero bytes);  prev_hash(row n) = hash(row n-1)
//
// canonical(row) covers every column but `hash` (seq and prev_hash included), each field as an
// 8-byte big-endian length and that many bytes: text and payload as stored, integers as 8
// bytes big-endian two's complement, an absent optional integer as length 0, prev_hash as its
// 32 bytes. The Transaction MAC columns of format version 2 (tmc, tmv, reader_id) follow
// prev_hash only when one of them is set, so every row written before them (and every row
// without them) hashes as it did: ledgers of version 1 verify unchanged after the migration.
//
//   Hash h = ChainHash(head.hash, stored_row);   // the row's `hash`, as bytes
//   std::string hex = HashHex(h);                // as stored: 64 lower-case hex digits
//
// Thread-safe: pure functions.
#ifndef DESFIRED_CORE_LEDGER_CHAIN_H_
#define DESFIRED_CORE_LEDGER_CHAIN_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "core/ledger/row.h"

namespace desfired::ledger {

inline constexpr size_t kHashSize = 32;  // SHA-256
using Hash = std::array<uint8_t, kHashSize>;

// The prev_hash of row 1 (and the head of an empty ledger): 32 zero bytes.
inline constexpr Hash kGenesisHash{};

// 64 lower-case hex digits.
std::string HashHex(const Hash& hash);
// 64 lower-case hex digits -> 32 bytes; nullopt for anything else (upper case included).
std::optional<Hash> ParseHashHex(absl::string_view hex);

// canonical(row): the 21 fields in column order (and the 3 Transaction MAC fields when set).
// Integer columns are read from Value::integer, an optional one is absent when null, text and
// payload are Value::bytes; the `prev_hash` and `hash` columns of `row` are not read (prev_hash is
// `prev`).
std::string CanonicalBytes(const Hash& prev, const StoredRow& row);
// SHA-256(prev ‖ CanonicalBytes(prev, row)): the row's hash.
Hash ChainHash(const Hash& prev, const StoredRow& row);

// The chain head: the seq and hash of the last row ({0, kGenesisHash} for an empty ledger).
// Stored beside the rows and moved with every append, so that removing the newest rows shows.
struct Head {
  int64_t seq = 0;
  Hash hash = kGenesisHash;
};
inline bool operator==(const Head& a, const Head& b) { return a.seq == b.seq && a.hash == b.hash; }
inline bool operator!=(const Head& a, const Head& b) { return !(a == b); }

}  // namespace desfired::ledger

#endif  // DESFIRED_CORE_LEDGER_CHAIN_H_
