#include "client/cli/sdm_options.h"

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/util/status_macros.h"

namespace desfired::cli {
namespace {

constexpr int64_t kMax24 = 0xFFFFFF;

// A key number 0..13 or one of the two words for 14 and 15.
absl::StatusOr<uint32_t> RightOption(const ServerCommand& cmd, const char* option,
                                     const char* word14, uint32_t fallback) {
  std::optional<std::string> v = cmd.args().Value(option);
  if (!v) return fallback;
  const std::string a = absl::AsciiStrToLower(*v);
  uint32_t key = 0;
  if (word14 != nullptr && a == word14) return 14u;
  if (a == "none" || a == "never") return 15u;
  if (!absl::SimpleAtoi(a, &key) || key > 13) {
    return absl::InvalidArgumentError(absl::StrCat("--", option, " must be a key number 0..13",
                                                   word14 ? absl::StrCat(", ", word14) : "",
                                                   " or none, not '", *v, "'"));
  }
  return key;
}

}  // namespace

void AddSdmOptions(ServerCommand& cmd) {
  static constexpr const char* kFlags[][2] = {
      {"sdm", "standard files: enable Secure Dynamic Messaging with the --sdm-* settings"},
      {"sdm-uid", "SDM: mirror the UID"},
      {"sdm-counter", "SDM: mirror the read counter"},
      {"sdm-file-data", "SDM: encipher --sdm-enc-length characters at --sdm-enc-offset"}};
  for (const auto& [name, help] : kFlags) cmd.args().Flag(name, help);
  static constexpr const char* kOptions[][3] = {
      {"sdm-meta-read", "KEY", "SDM: key 0..13 (PICCData enciphered), plain, or none"},
      {"sdm-file-read", "KEY", "SDM: key 0..13 for the MAC (and file data), or none"},
      {"sdm-counter-read", "KEY", "SDM: GetFileCounters key 0..13, free, or none"},
      {"sdm-uid-offset", "N", "SDM, plain: where the UID goes (14 characters)"},
      {"sdm-counter-offset", "N", "SDM, plain: where the counter goes (6 characters)"},
      {"sdm-picc-offset", "N", "SDM, enciphered: where the PICCData goes"},
      {"sdm-mac-input-offset", "N", "SDM: where the MAC input starts"},
      {"sdm-mac-offset", "N", "SDM: where the MAC goes (16 characters)"},
      {"sdm-enc-offset", "N", "SDM: where the enciphered file data goes"},
      {"sdm-enc-length", "N", "SDM: enciphered file data, characters (multiple of 32)"},
      {"sdm-counter-limit", "N", "SDM: reads stop when the counter reaches N"}};
  for (const auto& [name, value, help] : kOptions) cmd.args().Option(name, value, help);
}

absl::StatusOr<bool> SdmOptions(const ServerCommand& cmd, v1::SdmSettings* out) {
  if (!cmd.args().Has("sdm")) return false;
  out->set_uid_mirror(cmd.args().Has("sdm-uid"));
  out->set_read_counter_mirror(cmd.args().Has("sdm-counter"));
  out->set_encrypted_file_data(cmd.args().Has("sdm-file-data"));
  const bool mirrors = out->uid_mirror() || out->read_counter_mirror();
  DESFIRED_ASSIGN_OR_RETURN(const uint32_t meta,
                            RightOption(cmd, "sdm-meta-read", "plain", mirrors ? 14u : 15u));
  DESFIRED_ASSIGN_OR_RETURN(const uint32_t file, RightOption(cmd, "sdm-file-read", nullptr, 15));
  DESFIRED_ASSIGN_OR_RETURN(const uint32_t ctr, RightOption(cmd, "sdm-counter-read", "free", 15));
  out->set_meta_read(meta);
  out->set_file_read(file);
  out->set_counter_retrieval(ctr);
  const struct {
    const char* option;
    void (v1::SdmSettings::*set)(uint32_t);
  } offsets[] = {{"sdm-uid-offset", &v1::SdmSettings::set_uid_offset},
                 {"sdm-counter-offset", &v1::SdmSettings::set_read_counter_offset},
                 {"sdm-picc-offset", &v1::SdmSettings::set_picc_data_offset},
                 {"sdm-mac-input-offset", &v1::SdmSettings::set_mac_input_offset},
                 {"sdm-mac-offset", &v1::SdmSettings::set_mac_offset},
                 {"sdm-enc-offset", &v1::SdmSettings::set_encrypted_data_offset},
                 {"sdm-enc-length", &v1::SdmSettings::set_encrypted_data_length}};
  for (const auto& o : offsets) {
    DESFIRED_ASSIGN_OR_RETURN(const int64_t v, cmd.Int(o.option, 0, kMax24, 0));
    (out->*o.set)(static_cast<uint32_t>(v));
  }
  if (cmd.args().Has("sdm-counter-limit")) {
    DESFIRED_ASSIGN_OR_RETURN(const int64_t limit, cmd.Int("sdm-counter-limit", 0, kMax24));
    out->set_read_counter_limit(static_cast<uint32_t>(limit));
  }
  return true;
}

}  // namespace desfired::cli
