#include "core/fleet/tap_dedup.h"

#include <algorithm>
#include <numeric>
#include <utility>

#include "absl/base/internal/endian.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "core/ledger/postgres_db.h"
#include "core/util/status_macros.h"

namespace desfired::fleet {
namespace pg = ledger::postgres;
namespace {

// The type OIDs of the parameters (pg_type.h): text, int8 and their arrays.
constexpr unsigned int kTextOid = 25, kInt8Oid = 20, kTextArrayOid = 1009, kInt8ArrayOid = 1016;

constexpr char kSchema[] =
    "CREATE TABLE IF NOT EXISTS tap_dedup (dedup_key TEXT PRIMARY KEY, tap_time BIGINT NOT NULL, "
    "claimed_by TEXT NOT NULL, claimed_at TIMESTAMPTZ NOT NULL DEFAULT now());\n"
    "CREATE INDEX IF NOT EXISTS tap_dedup_tap_time ON tap_dedup (tap_time);\n"
    "REVOKE ALL ON tap_dedup FROM PUBLIC;\n";

// The keys in key order (the lock order), each once: the first of equal keys inserts, the
// others find it. RETURNING names the keys this statement inserted.
constexpr char kClaim[] =
    "INSERT INTO tap_dedup (dedup_key, tap_time, claimed_by) "
    "SELECT k, t, $3 FROM unnest($1::text[], $2::int8[]) AS u(k, t) ORDER BY k "
    "ON CONFLICT (dedup_key) DO NOTHING RETURNING dedup_key";

// The binary form of a one-dimensional array parameter of `count` elements of type `element`
// (PostgreSQL's array_send): its header; the elements follow, each as its length and bytes.
void ArrayHeader(unsigned int element, size_t count, std::string* out) {
  char b[20];
  absl::big_endian::Store32(b, 1);      // dimensions
  absl::big_endian::Store32(b + 4, 0);  // no NULLs
  absl::big_endian::Store32(b + 8, element);
  absl::big_endian::Store32(b + 12, static_cast<uint32_t>(count));
  absl::big_endian::Store32(b + 16, 1);  // lower bound
  out->append(b, sizeof(b));
}
void ArrayElement(absl::string_view bytes, std::string* out) {
  char len[4];
  absl::big_endian::Store32(len, static_cast<uint32_t>(bytes.size()));
  out->append(len, sizeof(len));
  out->append(bytes.data(), bytes.size());
}

// A Claim's failure as the caller should act on it: the table missing or not insertable is
// the operator's to fix; anything else may pass (retry later).
absl::Status Classify(const absl::Status& s, const std::string& sqlstate,
                      const std::string& where) {
  if (sqlstate == "42P01") {  // undefined_table
    return absl::FailedPreconditionError(absl::StrCat(
        where,
        " has no table tap_dedup: its owner runs the migration (docs/fleet.md): ", s.message()));
  }
  if (sqlstate == "42501") {  // insufficient_privilege
    return absl::FailedPreconditionError(absl::StrCat(
        where,
        ": this role may not record taps in tap_dedup (the migration grants INSERT and "
        "SELECT): ",
        s.message()));
  }
  return absl::UnavailableError(absl::StrCat(where, ": ", s.message()));
}

}  // namespace

struct TapDedupClaims::Connection {
  pg::Conn conn;
};

absl::Status MigrateTapDedup(const std::string& conninfo, absl::string_view role) {
  DESFIRED_ASSIGN_OR_RETURN(pg::Conn c, pg::Connect(conninfo));
  std::string grant;
  if (!role.empty()) {
    char* quoted = PQescapeIdentifier(c.get(), role.data(), role.size());
    if (quoted == nullptr) return absl::InvalidArgumentError("bad role name");
    grant = absl::StrCat("GRANT INSERT, SELECT ON tap_dedup TO ", quoted, ";\n");
    PQfreemem(quoted);
  }
  // One migration at a time (a lock of its own: the ledger's migration takes another).
  const std::string sql = absl::StrCat(
      "BEGIN;\nSET LOCAL client_min_messages = warning;\nSELECT "
      "pg_advisory_xact_lock(7305546042348240487);\n",
      kSchema, grant, "COMMIT;");
  // Several statements: the simple protocol (PQexec).
  pg::Result r(PQexec(c.get(), sql.c_str()));
  if (r == nullptr || PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
    const std::string message(absl::StripTrailingAsciiWhitespace(
        r == nullptr ? PQerrorMessage(c.get()) : PQresultErrorMessage(r.get())));
    pg::Result rollback(PQexec(c.get(), "ROLLBACK"));
    return absl::UnavailableError(
        absl::StrCat("cannot migrate tap_dedup in ", pg::Where(c.get()), ": ", message));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<TapDedupClaims>> TapDedupClaims::Connect(const std::string& conninfo,
                                                                        std::string claimed_by) {
  DESFIRED_ASSIGN_OR_RETURN(pg::Conn c, pg::Connect(conninfo));
  std::string where = pg::Where(c.get());
  std::string sqlstate;
  // The table is there and this role may insert into it: an empty claim checks both.
  absl::StatusOr<pg::Result> probe =
      pg::Run(c.get(),
              "INSERT INTO tap_dedup (dedup_key, tap_time, claimed_by) SELECT '', 0, '' WHERE "
              "false",
              nullptr, true, &sqlstate);
  if (!probe.ok()) return Classify(probe.status(), sqlstate, where);
  return std::unique_ptr<TapDedupClaims>(
      new TapDedupClaims(std::make_unique<Connection>(Connection{std::move(c)}),
                         std::move(claimed_by), std::move(where)));
}

TapDedupClaims::TapDedupClaims(std::unique_ptr<Connection> conn, std::string claimed_by,
                               std::string where)
    : conn_(std::move(conn)), claimed_by_(std::move(claimed_by)), where_(std::move(where)) {}

TapDedupClaims::~TapDedupClaims() = default;

absl::StatusOr<std::vector<bool>> TapDedupClaims::Claim(absl::Span<const absl::string_view> keys,
                                                        absl::Span<const int64_t> tap_times) {
  if (keys.size() != tap_times.size()) {
    return absl::InvalidArgumentError("a tap time for every key");
  }
  if (keys.empty()) return std::vector<bool>();
  std::string sqlstate;
  absl::StatusOr<std::vector<bool>> first = ClaimOnce(keys, tap_times, &sqlstate);
  // A deadlock or serialization failure is PostgreSQL's "try again": key order makes them
  // unlikely (other writers of the table), and the statement left nothing behind.
  if (!first.ok() && (sqlstate == "40P01" || sqlstate == "40001")) {
    sqlstate.clear();
    first = ClaimOnce(keys, tap_times, &sqlstate);
  }
  if (!first.ok()) return Classify(first.status(), sqlstate, where_);
  return first;
}

absl::StatusOr<std::vector<bool>> TapDedupClaims::ClaimOnce(
    absl::Span<const absl::string_view> keys, absl::Span<const int64_t> tap_times,
    std::string* sqlstate) {
  PGconn* c = conn_->conn.get();
  if (!pg::EnsureConnected(c)) {
    return absl::UnavailableError(absl::StrCat("cannot reach the database: ", PQerrorMessage(c)));
  }
  // Each key once, in key order: the first of equal keys is the one that may be first.
  std::vector<size_t> order(keys.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return keys[a] < keys[b]; });
  std::string key_array, time_array;
  size_t unique = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    if (i == 0 || keys[order[i]] != keys[order[i - 1]]) ++unique;
  }
  ArrayHeader(kTextOid, unique, &key_array);
  ArrayHeader(kInt8Oid, unique, &time_array);
  for (size_t i = 0; i < order.size(); ++i) {
    if (i > 0 && keys[order[i]] == keys[order[i - 1]]) continue;
    ArrayElement(keys[order[i]], &key_array);
    char t[8];
    absl::big_endian::Store64(t, static_cast<uint64_t>(tap_times[order[i]]));
    ArrayElement(absl::string_view(t, sizeof(t)), &time_array);
  }
  const unsigned int types[] = {kTextArrayOid, kInt8ArrayOid, kTextOid};
  const char* values[] = {key_array.data(), time_array.data(), claimed_by_.data()};
  const int lengths[] = {static_cast<int>(key_array.size()), static_cast<int>(time_array.size()),
                         static_cast<int>(claimed_by_.size())};
  const int formats[] = {1, 1, 1};
  pg::Result r(PQexecParams(c, kClaim, 3, types, values, lengths, formats, 1));
  DESFIRED_ASSIGN_OR_RETURN(pg::Result done, pg::Checked(c, std::move(r), sqlstate));
  absl::flat_hash_set<absl::string_view> inserted;
  const int rows = PQntuples(done.get());
  inserted.reserve(rows);
  for (int row = 0; row < rows; ++row) inserted.insert(pg::GetBytes(done.get(), row, 0));
  std::vector<bool> first(keys.size(), false);
  for (size_t i = 0; i < order.size(); ++i) {
    const bool first_of_equal = i == 0 || keys[order[i]] != keys[order[i - 1]];
    first[order[i]] = first_of_equal && inserted.contains(keys[order[i]]);
  }
  return first;
}

}  // namespace desfired::fleet
