// dump_file: writes a standard (or backup) data file of a card to disk (ReadData). Without a
// card on the reader it waits for one (WatchCards) for up to --card-wait seconds.
//
//   dump_file --out PATH [--server HOST:PORT] [--reader NAME] [--aid F51001] [--file 4]
//             [--key NAME --key-no N] [--card-wait 60]
//
// --key names a key with read access in the server's key store (omit for a free-read file).
#include <fstream>
#include <iostream>
#include <string>

#include "common.h"

namespace v1 = desfired::v1;

int main(int argc, char** argv) {
  std::optional<examples::Args> args = examples::Args::Parse(argc, argv);
  if (!args) return 2;
  if (args->Has("help") || !args->Has("out")) {
    std::cout << "usage: dump_file --out PATH [--reader NAME] [--aid HEX] [--file N]"
                 " [--key NAME --key-no N] [--card-wait SECONDS] [connection options]\n"
              << examples::ConnectionUsage();
    return args->Has("help") ? 0 : 2;
  }
  auto client = examples::Connect(*args);
  if (!client.ok()) return examples::Fail("connect", client.status());
  absl::StatusOr<std::string> reader = examples::PickReader(**client, *args);
  if (!reader.ok()) return examples::Fail("readers", reader.status());

  v1::ReadDataRequest read;
  read.mutable_target()->set_reader(*reader);
  read.set_aid(args->Hex("aid", 0xF51001));
  read.set_file_no(static_cast<uint32_t>(args->Number("file", 4)));
  if (args->Has("key")) {
    read.mutable_auth()->set_key_name(args->Get("key"));
    read.mutable_auth()->set_key_number(static_cast<uint32_t>(args->Number("key-no", 0)));
  }
  absl::StatusOr<v1::ReadDataResponse> data = (*client)->ReadData(read);
  if (!data.ok() && desfired::apdu::GetReason(data.status()) == "NO_CARD") {
    std::cout << "no card on " << *reader << ": present one\n";
    std::cout.flush();
    v1::WatchCardsRequest watch;
    watch.add_readers(*reader);
    absl::Status watched = (*client)->WatchCards(
        watch,
        [](const v1::WatchCardsResponse& item) {
          if (item.has_snapshot()) {
            return item.snapshot().readers().empty() || !item.snapshot().readers(0).card_present();
          }
          return item.event().kind() != v1::CardEvent::CARD_INSERTED;  // false: stop
        },
        nullptr, absl::Seconds(args->Number("card-wait", 60)));
    if (!watched.ok()) return examples::Fail("waiting for a card", watched);
    data = (*client)->ReadData(read);
  }
  if (!data.ok()) return examples::Fail("ReadData", data.status());

  const std::string out = args->Get("out");
  std::ofstream file(out, std::ios::binary | std::ios::trunc);
  file.write(data->data().data(), static_cast<std::streamsize>(data->data().size()));
  file.close();
  if (!file) {
    std::cerr << "cannot write " << out << "\n";
    return 1;
  }
  std::cout << "wrote " << data->data().size() << " bytes of file " << read.file_no() << " of "
            << std::hex << std::uppercase << read.aid() << std::dec << " to " << out << "\n";
  return 0;
}
