#include "core/ledger/verify.h"

#include <memory>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace desfired::ledger {
namespace {

std::string SeqRange(int64_t from, int64_t to) {
  return from == to ? absl::StrCat("row ", from, " is")
                    : absl::StrCat("rows ", from, " to ", to, " are");
}

bool TypeFits(ColumnKind kind, Value::Type type) {
  switch (kind) {
    case ColumnKind::kInteger:
      return type == Value::Type::kInteger;
    case ColumnKind::kOptionalInteger:
      return type == Value::Type::kInteger || type == Value::Type::kNull;
    case ColumnKind::kText:
      return type == Value::Type::kText;
    case ColumnKind::kBytes:
      return type == Value::Type::kBlob;
  }
  return false;
}

}  // namespace

std::string Malformed(const StoredRow& s) {
  for (int col = 0; col < kColumnCount; ++col) {
    const auto c = static_cast<Column>(col);
    if (!TypeFits(KindOf(c), s[c].type)) {
      return absl::StrCat("column ", ColumnName(c), " holds ", TypeName(s[c].type));
    }
  }
  const int64_t seq = s[Column::kSeq].integer;
  if (seq < 1) return absl::StrCat("seq ", seq, " is not positive");
  if (!ParseLedgerTime(s[Column::kTime].bytes)) {
    return absl::StrCat("time '", absl::CHexEscape(s[Column::kTime].bytes),
                        "' is not RFC 3339 UTC with microseconds (YYYY-MM-DDTHH:MM:SS.ffffffZ)");
  }
  if (!ParseEvent(s[Column::kEvent].bytes)) {
    return absl::StrCat("event '", absl::CHexEscape(s[Column::kEvent].bytes),
                        "' is not a ledger event");
  }
  if (s[Column::kAid].integer < -1) return "aid is below -1";
  if (s[Column::kFileNo].integer < -1) return "file_no is below -1";
  const int64_t pending = s[Column::kPendingSeq].integer;
  if (pending < 0 || pending >= seq) {
    return absl::StrCat("pending_seq ", pending, " does not name an earlier row");
  }
  if (!ParseHashHex(s[Column::kPrevHash].bytes)) {
    return "prev_hash is not 64 lower-case hex digits";
  }
  if (!ParseHashHex(s[Column::kHash].bytes)) return "hash is not 64 lower-case hex digits";
  return "";
}

VerifyResult Verify(Snapshot& snapshot, const std::optional<Head>& expected, int64_t from_seq) {
  VerifyResult r;
  auto fail = [&r](int64_t seq, std::string problem) {
    r.ok = false;
    r.bad_seq = seq;
    r.problem = std::move(problem);
    return r;
  };
  auto read_error = [&](int64_t seq, const absl::Status& status) {
    r.read_error = true;
    return fail(seq, absl::StrCat("cannot read the ledger: ", status.message()));
  };

  // The last row's hash, reported whatever the outcome.
  {
    absl::StatusOr<std::optional<std::string>> last = snapshot.LastHash();
    if (!last.ok()) return read_error(0, last.status());
    r.head_hash = last->has_value() ? **last : HashHex(kGenesisHash);
  }

  const bool tail = from_seq > 1;
  absl::StatusOr<std::unique_ptr<RowCursor>> rows =
      tail ? snapshot.RowsFrom(from_seq - 1) : snapshot.Rows();
  if (!rows.ok()) return read_error(0, rows.status());

  Hash prev = kGenesisHash;
  int64_t prev_seq = 0;
  bool anchor = tail;  // the next row is the tail's anchor
  while (true) {
    absl::StatusOr<bool> more = (*rows)->Next();
    if (!more.ok()) return read_error(prev_seq + 1, more.status());
    if (!*more) break;
    const StoredRow& s = (*rows)->row();
    if (anchor) {
      anchor = false;
      const Value& seq = s[Column::kSeq];
      std::optional<Hash> h;
      if (s[Column::kHash].type == Value::Type::kText) h = ParseHashHex(s[Column::kHash].bytes);
      if (seq.type != Value::Type::kInteger || seq.integer != from_seq - 1 || !h) {
        return fail(from_seq - 1, absl::StrCat("row ", from_seq - 1,
                                               " (where the checked tail starts) is missing or "
                                               "malformed"));
      }
      prev = *h;
      prev_seq = seq.integer;
      continue;
    }
    ++r.rows;
    const int64_t seq = s[Column::kSeq].integer;
    if (std::string why = Malformed(s); !why.empty()) {
      return fail(seq, absl::StrCat("row ", seq, " is malformed: ", why));
    }
    if (seq != prev_seq + 1) {
      return fail(seq, absl::StrCat(SeqRange(prev_seq + 1, seq - 1), " missing (deleted): row ",
                                    seq, " follows ", prev_seq == 0 ? "the start" : "row ",
                                    prev_seq == 0 ? "" : absl::StrCat(prev_seq)));
    }
    const std::string& prev_hex = s[Column::kPrevHash].bytes;
    const Hash stored_prev = *ParseHashHex(prev_hex);
    const Hash stored = *ParseHashHex(s[Column::kHash].bytes);
    const bool content_ok = ChainHash(stored_prev, s) == stored;
    if (stored_prev != prev) {
      const std::string prev_name = prev_seq == 0 ? "the start of the chain (32 zero bytes)"
                                                  : absl::StrCat("row ", prev_seq, "'s hash");
      // Which row has this hash tells a reordered row from a replaced one.
      if (const int64_t q = snapshot.SeqOfHash(prev_hex); q != 0 && q != prev_seq) {
        return fail(seq, absl::StrCat("row ", seq,
                                      " is out of order (rows reordered): its "
                                      "prev_hash is the hash of row ",
                                      q, ", not ", prev_name));
      }
      if (!content_ok) {
        return fail(seq, absl::StrCat("row ", seq,
                                      " was edited (hash mismatch), and its prev_hash "
                                      "is not ",
                                      prev_name));
      }
      return fail(seq, absl::StrCat("row ", seq, " does not follow row ", prev_seq,
                                    ": its prev_hash is not ", prev_name, " (row ", prev_seq,
                                    " was replaced, or rows before it were deleted and the rest "
                                    "renumbered)"));
    }
    if (!content_ok) {
      return fail(seq, absl::StrCat("row ", seq,
                                    " was edited (hash mismatch): its hash does not "
                                    "match its content"));
    }
    prev = stored;
    prev_seq = seq;
  }
  if (anchor) {
    return fail(from_seq - 1,
                absl::StrCat("row ", from_seq - 1, " (where the checked tail starts) is missing"));
  }

  // The head.
  absl::StatusOr<std::optional<StoredHead>> stored_head = snapshot.HeadAsStored();
  if (absl::IsNotFound(stored_head.status())) return fail(0, "the chain_head table is missing");
  if (!stored_head.ok()) return read_error(0, stored_head.status());
  if (!stored_head->has_value()) {
    return fail(0, "the chain head row is missing (chain_head is empty)");
  }
  const StoredHead& h = **stored_head;
  std::optional<Hash> head_hash;
  if (h.hash.type == Value::Type::kText) head_hash = ParseHashHex(h.hash.bytes);
  if (h.seq.type != Value::Type::kInteger || !head_hash) {
    return fail(0, "the chain head is malformed");
  }
  const Head head{h.seq.integer, *head_hash};
  if (head.seq > prev_seq) {
    return fail(
        0, absl::StrCat("the head names row ", head.seq, " but the last row is ", prev_seq, ": ",
                        SeqRange(prev_seq + 1, head.seq), " missing (deleted from the end)"));
  }
  if (head.seq < prev_seq) {
    return fail(0, absl::StrCat("the head names row ", head.seq, " but rows go on to ", prev_seq,
                                " (the head was rolled back, or rows were added without it)"));
  }
  if (head.hash != prev) {
    return fail(0, absl::StrCat("the head's hash is not row ", prev_seq,
                                "'s hash (the head was tampered with, or the last row replaced)"));
  }
  if (expected && *expected != head) {
    return fail(0, absl::StrCat("the file's head (row ", head.seq, ", ", HashHex(head.hash),
                                ") is not the head this process wrote last (row ", expected->seq,
                                ", ", HashHex(expected->hash), "): the file was changed under it"));
  }
  return r;
}

}  // namespace desfired::ledger
