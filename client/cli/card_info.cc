// desfirectl info, apps, files: what is on a card.
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "client/cli/commands.h"
#include "client/cli/server_command.h"
#include "core/util/enum_table.h"

namespace desfired::cli {
namespace {

constexpr EnumRow<v1::CardGeneration, absl::string_view> kGenerationTexts[] = {
    {v1::CARD_GENERATION_EV0, "DESFire EV0 (MF3ICD40)"},
    {v1::CARD_GENERATION_EV1, "DESFire EV1"},
    {v1::CARD_GENERATION_EV2, "DESFire EV2"},
    {v1::CARD_GENERATION_EV3, "DESFire EV3"},
    {v1::CARD_GENERATION_LIGHT, "DESFire Light"},
};

constexpr EnumRow<v1::KeyFamily, absl::string_view> kKeyFamilyTexts[] = {
    {v1::KEY_FAMILY_DES, "DES/2K3DES"},
    {v1::KEY_FAMILY_3TDEA, "3K3DES"},
    {v1::KEY_FAMILY_AES, "AES-128"},
};

std::string GenerationText(v1::CardGeneration g) {
  return std::string(ValueOf(kGenerationTexts, g).value_or("unrecognised card"));
}

std::string KeyFamilyText(v1::KeyFamily f) {
  return std::string(ValueOf(kKeyFamilyTexts, f).value_or("unknown"));
}

std::string KeySettingsText(const v1::KeySettings& k, bool application) {
  std::vector<std::string> parts;
  parts.push_back(k.master_key_changeable() ? "master key changeable" : "master key frozen");
  parts.push_back(k.free_directory_list() ? "free listing" : "listing needs the master key");
  parts.push_back(k.free_create_delete() ? "free create/delete"
                                         : "create/delete needs the master key");
  parts.push_back(k.configuration_changeable() ? "settings changeable" : "settings frozen");
  if (application) parts.push_back(absl::StrCat("change key access ", k.change_key_access()));
  return absl::StrJoin(parts, ", ");
}

std::string Access(uint32_t key) {
  if (key == 14) return "free";
  if (key == 15) return "never";
  return absl::StrCat("key ", key);
}

std::string Enum(absl::string_view name, absl::string_view prefix) {
  absl::ConsumePrefix(&name, prefix);
  return std::string(name);
}

std::string FileDetails(const v1::FileSettings& s) {
  switch (s.type_settings_case()) {
    case v1::FileSettings::kData:
      return absl::StrCat(s.data().size(), " bytes");
    case v1::FileSettings::kValue: {
      const v1::ValueFileSettings& v = s.value();
      std::string out = absl::StrCat("limits ", v.lower_limit(), "..", v.upper_limit());
      if (v.limited_credit_enabled()) {
        absl::StrAppend(&out, ", limited credit ", v.limited_credit_value());
      }
      if (v.free_get_value()) absl::StrAppend(&out, ", free get value");
      return out;
    }
    case v1::FileSettings::kRecord:
      return absl::StrCat(s.record().current_records(), "/", s.record().max_records(),
                          " records of ", s.record().record_size(), " bytes");
    case v1::FileSettings::kTransactionMac:
      return absl::StrCat("transaction MAC key version ", s.transaction_mac().key_version());
    default:
      return "-";
  }
}

// The card as a list of labelled lines.
int PrintCardInfo(const v1::GetCardInfoResponse& resp) {
  const v1::CardVersion& v = resp.version();
  std::vector<std::string> aids;
  for (uint32_t aid : resp.aids()) aids.push_back(AidText(aid));
  std::string storage =
      absl::StrCat(v.storage_size_exceeds() ? "more than " : "", v.storage_size_bytes(), " bytes");
  const std::vector<std::vector<std::string>> rows = {
      {"reader", resp.reader()},
      {"uid", absl::StrCat(HexOrDash(resp.uid()), resp.random_uid() ? " (random UID)" : "")},
      {"atr", HexOrDash(resp.atr())},
      {"card", absl::StrCat(GenerationText(v.generation()),
                            v.vendor().empty() ? "" : absl::StrCat(" by ", v.vendor()))},
      {"product", v.product_name().empty() ? "unrecognised" : v.product_name()},
      {"hardware",
       absl::StrFormat("type %02x/%02x, version %d.%d", v.hardware().type(), v.hardware().subtype(),
                       v.hardware().major_version(), v.hardware().minor_version())},
      {"software",
       absl::StrFormat("type %02x/%02x, version %d.%d", v.software().type(), v.software().subtype(),
                       v.software().major_version(), v.software().minor_version())},
      {"storage", storage},
      {"free memory", absl::StrCat(resp.free_memory(), " bytes")},
      {"production", absl::StrFormat("week %d of %d, batch %s", v.production_week(),
                                     v.production_year(), HexOrDash(v.batch_number()))},
      {"key settings", KeySettingsText(resp.key_settings(), false)},
      {"master key", absl::StrCat(KeyFamilyText(resp.master_key_family()), ", version ",
                                  resp.master_key_version())},
      {"applications", resp.aids_listed() ? (aids.empty() ? "none" : absl::StrJoin(aids, " "))
                                          : "not listed (listing needs the master key: add --key)"},
  };
  for (const auto& row : rows) {
    std::string label = row[0];
    label.resize(14, ' ');
    std::cout << label << row[1] << "\n";
  }
  return kExitOk;
}

// The applications as a table.
int PrintApplications(const v1::ListApplicationsResponse& all) {
  if (all.applications().empty()) {
    std::cout << "no applications\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const v1::Application& a : all.applications()) {
    rows.push_back({AidText(a.aid()),
                    a.has_iso_file_id() ? absl::StrFormat("%04X", a.iso_file_id()) : "-",
                    HexOrDash(a.df_name())});
  }
  PrintTable({"AID", "ISO FID", "DF NAME"}, rows);
  return kExitOk;
}

// The files as a table, with their settings when they were asked for.
int PrintFiles(const v1::ListFilesResponse& all, bool include_settings) {
  if (all.files().empty()) {
    std::cout << "no files\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const v1::FileEntry& f : all.files()) {
    std::vector<std::string> row = {
        absl::StrCat(f.file_no()),
        f.has_iso_file_id() ? absl::StrFormat("%04X", f.iso_file_id()) : "-"};
    if (f.has_settings()) {
      const v1::FileSettings& s = f.settings();
      const v1::AccessRights& ar = s.access_rights();
      row.insert(row.end(),
                 {Enum(v1::FileType_Name(s.file_type()), "FILE_TYPE_"),
                  Enum(v1::CommunicationMode_Name(s.communication_mode()), "COMMUNICATION_MODE_"),
                  Access(ar.read()), Access(ar.write()), Access(ar.read_write()),
                  Access(ar.change_settings()), FileDetails(s)});
    }
    rows.push_back(std::move(row));
  }
  if (include_settings) {
    PrintTable(
        {"FILE", "ISO FID", "TYPE", "COMM", "READ", "WRITE", "READ+WRITE", "CHANGE", "DETAILS"},
        rows);
  } else {
    PrintTable({"FILE", "ISO FID"}, rows);
  }
  return kExitOk;
}

}  // namespace

int Info(int argc, char** argv) {
  ServerCommand cmd("info",
                    "Show the version, UID, memory, key settings and applications of a card.");
  cmd.AddTarget();
  cmd.AddKey("the card master key (optional; gives the real UID of a random-UID card)");
  if (std::optional<int> done = cmd.Parse(argc, argv)) return *done;
  v1::GetCardInfoRequest req;
  if (absl::Status s = cmd.Target(req.mutable_target()); !s.ok()) return cmd.UsageError(s);
  if (absl::Status s = cmd.KeyInto(&req); !s.ok()) return cmd.UsageError(s);
  return cmd.Call(req, &client::Client::GetCardInfo, PrintCardInfo);
}

int Apps(int argc, char** argv) {
  ServerCommand cmd("apps", "List the applications on a card.");
  cmd.AddTarget();
  cmd.AddKey("the card master key, when listing is not free");
  if (std::optional<int> done = cmd.Parse(argc, argv)) return *done;
  v1::ListApplicationsRequest req;
  if (absl::Status s = cmd.Target(req.mutable_target()); !s.ok()) return cmd.UsageError(s);
  if (absl::Status s = cmd.KeyInto(&req); !s.ok()) return cmd.UsageError(s);
  return cmd.CallPages(
      req, &client::Client::ListApplications,
      [](const v1::ListApplicationsResponse& page, v1::ListApplicationsResponse& all) {
        for (const v1::Application& a : page.applications()) *all.add_applications() = a;
        return true;
      },
      PrintApplications);
}

int Files(int argc, char** argv) {
  ServerCommand cmd("files", "List the files of an application with their settings.");
  cmd.AddTarget();
  cmd.AddAid();
  cmd.AddKey("a key of the application, when listing is not free");
  cmd.args().Flag("no-settings", "list the file numbers only (one card exchange less per file)");
  if (std::optional<int> done = cmd.Parse(argc, argv)) return *done;
  v1::ListFilesRequest req;
  if (absl::Status s = cmd.Target(req.mutable_target()); !s.ok()) return cmd.UsageError(s);
  absl::StatusOr<uint32_t> aid = cmd.Aid();
  if (!aid.ok()) return cmd.UsageError(aid.status());
  req.set_aid(*aid);
  if (absl::Status s = cmd.KeyInto(&req); !s.ok()) return cmd.UsageError(s);
  req.set_include_settings(!cmd.args().Has("no-settings"));
  return cmd.CallPages(
      req, &client::Client::ListFiles,
      [](const v1::ListFilesResponse& page, v1::ListFilesResponse& all) {
        for (const v1::FileEntry& f : page.files()) *all.add_files() = f;
        return true;
      },
      [&](const v1::ListFilesResponse& all) { return PrintFiles(all, req.include_settings()); });
}

}  // namespace desfired::cli
