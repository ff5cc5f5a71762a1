// watch_apps: prints a card's applications each time a card is inserted (WatchCards, then
// ListApplications for every card that arrives; a card already on a reader at the start
// counts as arriving).
//
//   watch_apps [--server HOST:PORT] [--reader NAME] [--key NAME --key-no N]
//              [--max-cards N] [--timeout SECONDS]
//
// --reader watches one reader (default $DESFIRED_READER; none: all readers). --key names the
// card master key in the server's key store when listing is not free. Stops after
// --max-cards cards (exit 0), or after --timeout seconds (exit 0 without --max-cards; 1 when
// fewer cards came).
#include <iostream>
#include <string>

#include "absl/strings/str_format.h"
#include "common.h"

namespace v1 = desfired::v1;

namespace {

std::string Hex(const std::string& bytes) {
  std::string out;
  for (unsigned char c : bytes) out += absl::StrFormat("%02x", c);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<examples::Args> args = examples::Args::Parse(argc, argv);
  if (!args) return 2;
  if (args->Has("help")) {
    std::cout << "usage: watch_apps [--reader NAME] [--key NAME --key-no N] [--max-cards N]"
                 " [--timeout SECONDS] [connection options]\n"
              << examples::ConnectionUsage();
    return 0;
  }
  auto client = examples::Connect(*args);
  if (!client.ok()) return examples::Fail("connect", client.status());
  const int max_cards = static_cast<int>(args->Number("max-cards", 0));
  const double timeout = args->Number("timeout", 0);

  v1::WatchCardsRequest watch;
  if (std::string reader = args->Get("reader", "", "DESFIRED_READER"); !reader.empty()) {
    watch.add_readers(reader);
  }
  int cards = 0;
  // Lists the applications of the card that just arrived on `reader`.
  auto on_card = [&](const std::string& reader, const std::string& uid) {
    v1::ListApplicationsRequest list;
    list.mutable_target()->set_reader(reader);
    if (args->Has("key")) {
      list.mutable_auth()->set_key_name(args->Get("key"));
      list.mutable_auth()->set_key_number(static_cast<uint32_t>(args->Number("key-no", 0)));
    }
    std::vector<uint32_t> aids;
    absl::Status error;
    do {
      absl::StatusOr<v1::ListApplicationsResponse> page = (*client)->ListApplications(list);
      if (!page.ok()) {
        error = page.status();
        break;
      }
      for (const v1::Application& app : page->applications()) aids.push_back(app.aid());
      list.set_page_token(page->next_page_token());
    } while (!list.page_token().empty());
    ++cards;
    if (!error.ok()) {
      std::cout << "+ card " << Hex(uid) << " on " << reader << ": applications not listed ("
                << examples::Reason(error) << ")\n";
    } else {
      std::cout << "+ card " << Hex(uid) << " on " << reader << ": " << aids.size()
                << " application(s)\n";
      for (uint32_t aid : aids) std::cout << absl::StrFormat("  %06X\n", aid);
    }
    std::cout.flush();
    return max_cards == 0 || cards < max_cards;  // false: stop watching
  };

  absl::Status s = (*client)->WatchCards(
      watch,
      [&](const v1::WatchCardsResponse& item) {
        if (item.has_snapshot()) {
          for (const v1::Reader& r : item.snapshot().readers()) {
            if (r.card_present() && !on_card(r.name(), r.uid())) return false;
          }
          return true;
        }
        const v1::CardEvent& e = item.event();
        if (e.kind() == v1::CardEvent::CARD_INSERTED) return on_card(e.reader(), e.uid());
        if (e.kind() == v1::CardEvent::CARD_REMOVED) {
          std::cout << "- card " << Hex(e.uid()) << " left " << e.reader() << "\n";
          std::cout.flush();
        }
        return true;
      },
      nullptr, timeout > 0 ? absl::Seconds(timeout) : absl::InfiniteDuration());
  if (s.code() == absl::StatusCode::kDeadlineExceeded && !desfired::apdu::GetReason(s)) {
    std::cout << "timed out after " << cards << " card(s)\n";
    return max_cards > 0 && cards < max_cards ? 1 : 0;
  }
  if (!s.ok()) return examples::Fail("WatchCards", s);
  return 0;
}
