// desfirectl sun verify: one SUN message (what a tag's URL carries) verified by desfired
// (TapService.VerifySun) with keys of its key store.
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "client/cli/commands.h"
#include "client/cli/server_command.h"

namespace desfired::cli {
namespace {

std::string StatusText(const v1::SunResult& r) {
  std::string out = v1::TapResult::Status_Name(r.status());
  for (int w : r.warnings()) {
    absl::StrAppend(
        &out, " ",
        absl::StripPrefix(v1::SunWarning_Name(static_cast<v1::SunWarning>(w)), "SUN_WARNING_"));
  }
  return out;
}

int PrintSun(const v1::VerifySunResponse& resp) {
  for (const v1::SunResult& r : resp.results()) {
    const std::vector<std::vector<std::string>> rows = {
        {"status", StatusText(r)},
        {"uid", HexOrDash(r.uid())},
        {"counter", r.has_counter() ? std::to_string(r.counter()) : "-"},
        {"file data", HexOrDash(r.file_data())},
        {"error", r.error().empty() ? "-" : r.error()},
    };
    for (const auto& row : rows) {
      std::string label = row[0];
      label.resize(11, ' ');
      std::cout << label << row[1] << "\n";
    }
  }
  return resp.valid() == static_cast<uint64_t>(resp.results_size()) ? kExitOk : kExitFailed;
}

}  // namespace

int SunVerify(int argc, char** argv) {
  ServerCommand cmd("sun verify",
                    "Verify a SUN message (the PICC data, counter and MAC of a tag's URL) "
                    "with desfired's keys. Exit 0 when VALID, 1 otherwise.");
  ArgParser& a = cmd.args();
  a.Option("cipher", "aes|lrp", "the tag's SDM cipher (default aes)");
  a.Option("meta-key", "NAME", "key store name of K_SDMMetaRead (for --picc-data)");
  a.Option("file-key", "NAME", "key store name of K_SDMFileRead (required)");
  cmd.AddAid("application id in the AN10922 input of a diversified file key (default 0)");
  a.Option("picc-data", "HEX", "encrypted PICC data (e=)");
  a.Option("uid", "HEX", "plain mirrored UID (uid=)");
  a.Option("counter", "HEX", "plain mirrored read counter, 6 hex digits as in the URL (ctr=)");
  a.Option("enc-file-data", "HEX", "encrypted file data");
  a.Option("mac-input", "TEXT", "the URL characters the MAC covers (default: none)");
  a.Option("mac", "HEX", "SDMMAC (c= / cmac=), 16 hex digits");
  if (std::optional<int> done = cmd.Parse(argc, argv)) return *done;
  v1::VerifySunRequest req;
  const std::string cipher = absl::AsciiStrToLower(a.Value("cipher").value_or("aes"));
  if (cipher != "aes" && cipher != "lrp") {
    return cmd.UsageError(absl::InvalidArgumentError("--cipher must be aes or lrp"));
  }
  req.set_cipher(cipher == "lrp" ? v1::SUN_CIPHER_LRP : v1::SUN_CIPHER_AES);
  req.set_meta_key_name(a.Value("meta-key").value_or(""));
  req.set_file_key_name(a.Value("file-key").value_or(""));
  if (req.file_key_name().empty()) {
    return cmd.UsageError(absl::InvalidArgumentError("--file-key NAME is required"));
  }
  if (a.Has("aid")) {
    absl::StatusOr<uint32_t> aid = cmd.Aid(/*allow_card_level=*/true);
    if (!aid.ok()) return cmd.UsageError(aid.status());
    req.set_aid(*aid);
  }
  v1::SunMessage* m = req.add_messages();
  m->set_picc_data(a.Value("picc-data").value_or(""));
  m->set_uid(a.Value("uid").value_or(""));
  m->set_counter(a.Value("counter").value_or(""));
  m->set_enc_file_data(a.Value("enc-file-data").value_or(""));
  m->set_mac_input(a.Value("mac-input").value_or(""));
  m->set_mac(a.Value("mac").value_or(""));
  return cmd.Call(req, &client::Client::VerifySun, PrintSun);
}

}  // namespace desfired::cli
