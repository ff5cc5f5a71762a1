// desfirectl readers, desfirectl watch: the server's readers and their card events.
#include <algorithm>
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/cli/commands.h"
#include "client/cli/server_command.h"
#include "core/util/enum_table.h"

namespace desfired::cli {
namespace {

constexpr EnumRow<v1::CardEvent::Kind, absl::string_view> kKindNames[] = {
    {v1::CardEvent::READER_ADDED, "READER_ADDED"},
    {v1::CardEvent::READER_REMOVED, "READER_REMOVED"},
    {v1::CardEvent::CARD_INSERTED, "CARD_INSERTED"},
    {v1::CardEvent::CARD_REMOVED, "CARD_REMOVED"},
    {v1::CardEvent::CARD_UPDATED, "CARD_UPDATED"},
    {v1::CardEvent::PCSC_UNAVAILABLE, "PCSC_UNAVAILABLE"},
    {v1::CardEvent::PCSC_AVAILABLE, "PCSC_AVAILABLE"},
};

std::string KindName(v1::CardEvent::Kind kind) {
  return std::string(ValueOf(kKindNames, kind).value_or("UNKNOWN"));
}

// One line per reader of a snapshot, then one per event:
//   #12  SNAPSHOT        2024-05-01T09:58:00Z  Test PCD 00 00  uid=04a1b2c3d4e5f6 atr=3b81...
//   #12  SNAPSHOT        -                     Test PCD 00 01  no card
//   #13  CARD_REMOVED    2024-05-01T10:00:00Z  Test PCD 00 00  uid=04a1b2c3d4e5f6 atr=3b81...
std::string WatchLine(uint64_t sequence, absl::string_view kind, std::string time,
                      absl::string_view reader, absl::string_view details) {
  std::string kind_column(kind);
  kind_column.resize(std::max<size_t>(kind_column.size(), 14), ' ');
  time.resize(std::max<size_t>(time.size(), 20), ' ');
  return absl::StrCat("#", sequence, "  ", kind_column, "  ", time, "  ", reader,
                      details.empty() ? "" : "  ", details, "\n");
}

std::string CardDetails(const std::string& uid, const std::string& atr) {
  return absl::StrCat("uid=", HexOrDash(uid), " atr=", HexOrDash(atr));
}

void PrintWatchItem(const v1::WatchCardsResponse& item) {
  if (item.has_snapshot()) {
    const v1::WatchCardsSnapshot& snap = item.snapshot();
    if (snap.readers().empty()) {
      std::cout << WatchLine(snap.sequence(), "SNAPSHOT", "-", "(no readers)", "");
    }
    for (const v1::Reader& r : snap.readers()) {
      std::cout << WatchLine(snap.sequence(), "SNAPSHOT",
                             TimeText(r.card_inserted_time(), r.has_card_inserted_time()), r.name(),
                             r.card_present() ? CardDetails(r.uid(), r.atr()) : "no card");
    }
  } else if (item.has_event()) {
    const v1::CardEvent& e = item.event();
    const bool card_event = !e.uid().empty() || !e.atr().empty();
    std::cout << WatchLine(e.sequence(), KindName(e.kind()), TimeText(e.time(), e.has_time()),
                           e.reader(), card_event ? CardDetails(e.uid(), e.atr()) : "");
  }
  std::cout.flush();
}

}  // namespace

int Readers(int argc, char** argv) {
  ServerCommand cmd("readers", "List the server's readers and the cards on them.");
  if (std::optional<int> done = cmd.Parse(argc, argv)) return *done;
  auto client = cmd.Connect();
  if (!client.ok()) return cmd.UsageError(client.status());
  absl::StatusOr<v1::ListReadersResponse> resp = (*client)->ListReaders();
  if (!resp.ok()) return cmd.Failed(resp.status());
  if (cmd.json()) {
    cmd.PrintJson(*resp);
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const v1::Reader& r : resp->readers()) {
    rows.push_back({r.name(), r.card_present() ? "yes" : "no", HexOrDash(r.uid()),
                    HexOrDash(r.atr()),
                    TimeText(r.card_inserted_time(), r.has_card_inserted_time())});
  }
  if (rows.empty()) {
    std::cout << "no readers\n";
    return kExitOk;
  }
  PrintTable({"READER", "CARD", "UID", "ATR", "CARD SINCE (UTC)"}, rows);
  return kExitOk;
}

int Watch(int argc, char** argv) {
  ServerCommand cmd("watch",
                    "Print reader and card events as they happen, one line each: first the\n"
                    "current state (SNAPSHOT lines, unless resuming), then events with their\n"
                    "sequence numbers. Runs until interrupted, or until --count events.");
  cmd.args().Option("reader", "NAME", "watch only this reader");
  cmd.args().Option("resume-after", "SEQ",
                    "resume after this sequence number (no snapshot; the events since)");
  cmd.args().Option("count", "N", "stop after N events (the snapshot does not count)");
  if (std::optional<int> done = cmd.Parse(argc, argv)) return *done;
  v1::WatchCardsRequest req;
  if (auto reader = cmd.args().Value("reader")) req.add_readers(*reader);
  if (cmd.args().Has("resume-after")) {
    absl::StatusOr<int64_t> seq = cmd.Int("resume-after", 0, INT64_MAX);
    if (!seq.ok()) return cmd.UsageError(seq.status());
    req.set_resume_after_sequence(static_cast<uint64_t>(*seq));
  }
  absl::StatusOr<int64_t> count = cmd.Int("count", 1, INT64_MAX, 0);
  if (!count.ok()) return cmd.UsageError(count.status());
  auto client = cmd.Connect();
  if (!client.ok()) return cmd.UsageError(client.status());

  int64_t events = 0;
  absl::Status s = (*client)->WatchCards(
      req,
      [&](const v1::WatchCardsResponse& item) {
        if (cmd.json()) {
          cmd.PrintJson(item);
          std::cout.flush();
        } else {
          PrintWatchItem(item);
        }
        if (item.has_event()) ++events;
        return *count == 0 || events < *count;
      },
      nullptr, cmd.explicit_timeout().value_or(absl::InfiniteDuration()));
  if (!s.ok()) return cmd.Failed(s);
  return kExitOk;
}

}  // namespace desfired::cli
