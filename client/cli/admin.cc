// desfirectl format, create-app, delete-app, create-file, change-file-settings, delete-file,
// change-key, change-key-settings: issuing cards. Keys are named (the server's key store holds
// them). Each command adds its options, parses them and hands RunChange its request's own fields,
// its call and the sentence that says what was done.
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "client/cli/commands.h"
#include "client/cli/sdm_options.h"
#include "client/cli/server_command.h"
#include "core/util/status_macros.h"

namespace desfired::cli {
namespace {

constexpr bool kKeyRequired = true;
constexpr bool kKeyOptional = false;

// Target, optional key, request id: what every admin request has.
template <typename Request>
absl::Status FillCommon(const ServerCommand& cmd, Request* req, bool key_required) {
  if (absl::Status s = cmd.Target(req->mutable_target()); !s.ok()) return s;
  absl::StatusOr<bool> key = cmd.Key(req->mutable_auth());
  if (!key.ok()) return key.status();
  if (!*key) {
    if (key_required) return absl::InvalidArgumentError("--key NAME is required");
    req->clear_auth();
  }
  req->set_request_id(cmd.request_id());
  return absl::OkStatus();
}

// An admin change once its options are parsed: the request's common fields (FillCommon), then
// its own (`fill(request)`, an absl::Status) — an error in either is a usage error — the call,
// and its outcome: the response as JSON, or `describe(request)` (what was done) with the
// request id.
template <typename Request, typename Response, typename Fill, typename Describe>
int RunChange(const ServerCommand& cmd, absl::StatusOr<Response> (client::Client::*call)(Request),
              bool key_required, Fill fill, Describe describe) {
  Request req;
  if (absl::Status s = FillCommon(cmd, &req, key_required); !s.ok()) return cmd.UsageError(s);
  if (absl::Status s = fill(req); !s.ok()) return cmd.UsageError(s);
  return cmd.Call(req, call, [&](const Response& response) {
    cmd.PrintChangeOutcome(describe(req), response.replayed());
    return kExitOk;
  });
}

// The key settings byte (hex): bits 0..3 the flags, bits 4..7 the change key access.
absl::StatusOr<v1::KeySettings> KeySettingsOption(const ServerCommand& cmd,
                                                  std::optional<uint32_t> fallback) {
  std::optional<std::string> v = cmd.args().Value("key-settings");
  uint32_t byte = 0;
  if (!v) {
    if (!fallback) return absl::InvalidArgumentError("--key-settings HEX is required");
    byte = *fallback;
  } else {
    absl::string_view text = *v;
    if (!absl::ConsumePrefix(&text, "0x")) absl::ConsumePrefix(&text, "0X");
    if (text.empty() || text.size() > 2 || !absl::SimpleHexAtoi(text, &byte) ||
        text.find_first_of("+- ") != absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("--key-settings must be one byte of hex (e.g. 0F), got '", *v, "'"));
    }
  }
  v1::KeySettings k;
  k.set_master_key_changeable(byte & 0x01);
  k.set_free_directory_list(byte & 0x02);
  k.set_free_create_delete(byte & 0x04);
  k.set_configuration_changeable(byte & 0x08);
  k.set_change_key_access(byte >> 4);
  return k;
}

absl::StatusOr<std::optional<uint32_t>> IsoFid(const ServerCommand& cmd) {
  std::optional<std::string> v = cmd.args().Value("iso-fid");
  if (!v) return std::nullopt;
  uint32_t fid = 0;
  if (v->empty() || v->size() > 4 || !absl::SimpleHexAtoi(*v, &fid) ||
      v->find_first_of("+- x") != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("--iso-fid must be 1 to 4 hex digits, got '", *v, "'"));
  }
  return fid;
}

void AddKeySettingsOption(ServerCommand& cmd, absl::string_view fallback) {
  cmd.args().Option(
      "key-settings", "HEX",
      absl::StrCat("key settings byte: 01 master key changeable, 02 free listing, 04 free "
                   "create/delete, 08 settings changeable, high nibble change key access",
                   fallback));
}

// create-app's own fields; *family: the --key-family given (lower case).
absl::Status FillCreateApp(const ServerCommand& cmd, v1::CreateApplicationRequest& req,
                           std::string* family) {
  DESFIRED_ASSIGN_OR_RETURN(const uint32_t aid, cmd.Aid());
  req.set_aid(aid);
  DESFIRED_ASSIGN_OR_RETURN(const int64_t count, cmd.Int("key-count", 1, 14));
  req.set_key_count(static_cast<uint32_t>(count));
  *family = absl::AsciiStrToLower(cmd.args().Value("key-family").value_or(""));
  if (*family == "des" || *family == "2tdea") {
    req.set_key_family(v1::KEY_FAMILY_DES);
  } else if (*family == "3tdea" || *family == "3des") {
    req.set_key_family(v1::KEY_FAMILY_3TDEA);
  } else if (*family == "aes") {
    req.set_key_family(v1::KEY_FAMILY_AES);
  } else {
    return absl::InvalidArgumentError("--key-family must be des, 3tdea or aes");
  }
  DESFIRED_ASSIGN_OR_RETURN(*req.mutable_key_settings(), KeySettingsOption(cmd, 0x0B));
  DESFIRED_ASSIGN_OR_RETURN(const std::optional<uint32_t> fid, IsoFid(cmd));
  DESFIRED_ASSIGN_OR_RETURN(const Bytes df_name, cmd.HexBytes("df-name"));
  if (fid.has_value() != !df_name.empty()) {
    return absl::InvalidArgumentError("--iso-fid and --df-name go together");
  }
  if (fid.has_value()) req.set_iso_file_id(*fid);
  req.set_df_name(AsString(df_name));
  return absl::OkStatus();
}

// The application and file of a file call (--aid, --file).
template <typename Request>
absl::Status FillAidAndFile(const ServerCommand& cmd, Request& req) {
  DESFIRED_ASSIGN_OR_RETURN(const uint32_t aid, cmd.Aid());
  req.set_aid(aid);
  DESFIRED_ASSIGN_OR_RETURN(const uint32_t file, cmd.FileNo());
  req.set_file_no(file);
  return absl::OkStatus();
}

void AddModeAndAccessOptions(ServerCommand& cmd) {
  cmd.args().Option("comm", "MODE", "plain, mac or full");
  cmd.args().Option("access", "R,W,RW,CHANGE", "access rights");
}

// --comm: plain, mac or full.
absl::StatusOr<v1::CommunicationMode> CommOption(const ServerCommand& cmd) {
  const std::string comm = absl::AsciiStrToLower(cmd.args().Value("comm").value_or(""));
  if (comm == "plain") return v1::COMMUNICATION_MODE_PLAIN;
  if (comm == "mac") return v1::COMMUNICATION_MODE_MAC;
  if (comm == "full") return v1::COMMUNICATION_MODE_FULL;
  return absl::InvalidArgumentError("--comm must be plain, mac or full");
}

// --access R,W,RW,CHANGE: key numbers, free or never.
absl::Status AccessOption(const ServerCommand& cmd, v1::AccessRights* ar) {
  const std::vector<std::string> access =
      absl::StrSplit(cmd.args().Value("access").value_or(""), ',');
  if (access.size() != 4) {
    return absl::InvalidArgumentError(
        "--access needs four keys: read,write,read+write,change (e.g. 1,2,3,0)");
  }
  uint32_t keys[4];
  for (int i = 0; i < 4; ++i) {
    const std::string a = absl::AsciiStrToLower(access[i]);
    if (a == "free") {
      keys[i] = 14;
    } else if (a == "never") {
      keys[i] = 15;
    } else if (!absl::SimpleAtoi(a, &keys[i]) || keys[i] > 15) {
      return absl::InvalidArgumentError(
          absl::StrCat("--access: '", access[i], "' is not a key number (0..13), free or never"));
    }
  }
  ar->set_read(keys[0]);
  ar->set_write(keys[1]);
  ar->set_read_write(keys[2]);
  ar->set_change_settings(keys[3]);
  return absl::OkStatus();
}

// create-file's own fields; *type: the --type given (lower case), *details: the size or the
// limits and value, or the records, as said after "created".
absl::Status FillCreateFile(const ServerCommand& cmd, v1::CreateFileRequest& req, std::string* type,
                            std::string* details) {
  DESFIRED_RETURN_IF_ERROR(FillAidAndFile(cmd, req));
  DESFIRED_ASSIGN_OR_RETURN(const std::optional<uint32_t> fid, IsoFid(cmd));
  if (fid.has_value()) req.set_iso_file_id(*fid);

  v1::FileSettings* s = req.mutable_settings();
  *type = absl::AsciiStrToLower(cmd.args().Value("type").value_or(""));
  if (*type == "standard") {
    s->set_file_type(v1::FILE_TYPE_STANDARD);
  } else if (*type == "backup") {
    s->set_file_type(v1::FILE_TYPE_BACKUP);
  } else if (*type == "value") {
    s->set_file_type(v1::FILE_TYPE_VALUE);
  } else if (*type == "linear") {
    s->set_file_type(v1::FILE_TYPE_LINEAR_RECORD);
  } else if (*type == "cyclic") {
    s->set_file_type(v1::FILE_TYPE_CYCLIC_RECORD);
  } else if (*type == "tmac") {
    s->set_file_type(v1::FILE_TYPE_TRANSACTION_MAC);
  } else {
    return absl::InvalidArgumentError(
        "--type must be standard, backup, value, linear, cyclic or tmac");
  }
  DESFIRED_ASSIGN_OR_RETURN(const v1::CommunicationMode mode, CommOption(cmd));
  s->set_communication_mode(mode);
  DESFIRED_RETURN_IF_ERROR(AccessOption(cmd, s->mutable_access_rights()));
  DESFIRED_ASSIGN_OR_RETURN(const bool sdm, SdmOptions(cmd, s->mutable_sdm()));
  if (!sdm) s->clear_sdm();

  switch (s->file_type()) {
    case v1::FILE_TYPE_STANDARD:
    case v1::FILE_TYPE_BACKUP: {
      DESFIRED_ASSIGN_OR_RETURN(const int64_t size, cmd.Int("size", 1, 0xFFFFFF));
      s->mutable_data()->set_size(static_cast<uint32_t>(size));
      *details = absl::StrCat(size, " bytes");
      break;
    }
    case v1::FILE_TYPE_VALUE: {
      DESFIRED_ASSIGN_OR_RETURN(const int64_t lower, cmd.Int("lower", INT32_MIN, INT32_MAX, 0));
      DESFIRED_ASSIGN_OR_RETURN(const int64_t upper, cmd.Int("upper", INT32_MIN, INT32_MAX));
      DESFIRED_ASSIGN_OR_RETURN(const int64_t initial, cmd.Int("initial", INT32_MIN, INT32_MAX, 0));
      v1::ValueFileSettings* v = s->mutable_value();
      v->set_lower_limit(static_cast<int32_t>(lower));
      v->set_upper_limit(static_cast<int32_t>(upper));
      v->set_limited_credit_enabled(cmd.args().Has("limited-credit"));
      v->set_free_get_value(cmd.args().Has("free-get-value"));
      req.set_initial_value(static_cast<int32_t>(initial));
      *details = absl::StrCat("limits ", lower, "..", upper, ", value ", initial);
      break;
    }
    case v1::FILE_TYPE_TRANSACTION_MAC: {
      const std::string key = cmd.args().Value("tmac-key").value_or("");
      if (key.empty()) return absl::InvalidArgumentError("--tmac-key NAME is required");
      DESFIRED_ASSIGN_OR_RETURN(const int64_t version, cmd.Int("tmac-key-version", 0, 255, 0));
      s->mutable_transaction_mac()->set_key_name(key);
      s->mutable_transaction_mac()->set_key_version(static_cast<uint32_t>(version));
      *details = absl::StrCat("key ", key, ", version ", version);
      break;
    }
    default: {
      DESFIRED_ASSIGN_OR_RETURN(const int64_t size, cmd.Int("record-size", 1, 0xFFFFFF));
      DESFIRED_ASSIGN_OR_RETURN(const int64_t max, cmd.Int("max-records", 1, 0xFFFFFF));
      s->mutable_record()->set_record_size(static_cast<uint32_t>(size));
      s->mutable_record()->set_max_records(static_cast<uint32_t>(max));
      *details = absl::StrCat(max, " records of ", size, " bytes");
      break;
    }
  }
  return absl::OkStatus();
}

// change-key's own fields.
absl::Status FillChangeKey(const ServerCommand& cmd, v1::ChangeKeyRequest& req) {
  DESFIRED_ASSIGN_OR_RETURN(const uint32_t aid, cmd.Aid(/*allow_card_level=*/true));
  req.set_aid(aid);
  DESFIRED_ASSIGN_OR_RETURN(const int64_t changed,
                            cmd.Int("changed-key-no", 0, 13, req.auth().key_number()));
  req.set_key_number(static_cast<uint32_t>(changed));
  std::optional<std::string> new_key = cmd.args().Value("new-key");
  if (!new_key || new_key->empty()) {
    return absl::InvalidArgumentError("--new-key NAME is required");
  }
  req.set_new_key_name(*new_key);
  req.set_old_key_name(cmd.args().Value("old-key").value_or(""));
  if (req.key_number() != req.auth().key_number() && req.old_key_name().empty()) {
    return absl::InvalidArgumentError(
        "--old-key NAME is required when --changed-key-no differs from --key-no");
  }
  return absl::OkStatus();
}

// "the card" for AID 0, else the AID.
std::string AidOrCard(uint32_t aid) { return aid == 0 ? "the card" : AidText(aid); }

}  // namespace

int Format(int argc, char** argv) {
  ServerCommand cmd("format",
                    "Erase every application and file of a card (the card master key stays).\n"
                    "--expected-uid is required: it names the card to erase.");
  cmd.AddTarget();
  cmd.AddKey("the card master key");
  cmd.AddRequestId();
  if (std::optional<int> done = cmd.Parse(argc, argv)) return *done;
  return RunChange(
      cmd, &client::Client::FormatCard, kKeyRequired,
      [](v1::FormatCardRequest& req) {
        if (req.target().expected_uid().empty()) {
          return absl::InvalidArgumentError(
              "--expected-uid HEX is required (see 'desfirectl info')");
        }
        return absl::OkStatus();
      },
      [](const v1::FormatCardRequest& req) {
        return absl::StrCat("formatted the card ", HexOrDash(req.target().expected_uid()));
      });
}

int CreateApp(int argc, char** argv) {
  ServerCommand cmd("create-app", "Create an application.");
  cmd.AddTarget();
  cmd.AddAid("the new application's id, hex (e.g. F51001)");
  cmd.AddKey("the card master key (omit when creation is free)");
  cmd.args().Option("key-count", "N", "number of keys (1..14)");
  cmd.args().Option("key-family", "FAMILY", "des, 3tdea or aes");
  AddKeySettingsOption(cmd, " (default 0B)");
  cmd.args().Option("iso-fid", "HEX", "ISO/IEC 7816-4 DF identifier (with --df-name)");
  cmd.args().Option("df-name", "HEX", "ISO/IEC 7816-4 DF name, 1..16 bytes (with --iso-fid)");
  cmd.AddRequestId();
  if (std::optional<int> done = cmd.Parse(argc, argv)) return *done;
  std::string family;
  return RunChange(
      cmd, &client::Client::CreateApplication, kKeyOptional,
      [&](v1::CreateApplicationRequest& req) { return FillCreateApp(cmd, req, &family); },
      [&](const v1::CreateApplicationRequest& req) {
        return absl::StrCat("created application ", AidText(req.aid()), " with ", req.key_count(),
                            " ", family, " keys");
      });
}

int DeleteApp(int argc, char** argv) {
  ServerCommand cmd("delete-app", "Delete an application and its files.");
  cmd.AddTarget();
  cmd.AddAid();
  cmd.AddKey("the card master key or the application's master key");
  cmd.AddRequestId();
  if (std::optional<int> done = cmd.Parse(argc, argv)) return *done;
  return RunChange(
      cmd, &client::Client::DeleteApplication, kKeyOptional,
      [&](v1::DeleteApplicationRequest& req) -> absl::Status {
        DESFIRED_ASSIGN_OR_RETURN(const uint32_t aid, cmd.Aid());
        req.set_aid(aid);
        return absl::OkStatus();
      },
      [](const v1::DeleteApplicationRequest& req) {
        return absl::StrCat("deleted application ", AidText(req.aid()));
      });
}

int CreateFile(int argc, char** argv) {
  ServerCommand cmd("create-file",
                    "Create a file in an application. --access gives the key (0..13, free or\n"
                    "never) for read, write, read+write and change, e.g. 1,2,3,0.");
  cmd.AddFileOptions("the application master key (omit when creation is free)",
                     "the new file's number (0..31)");
  cmd.args().Option("type", "TYPE", "standard, backup, value, linear, cyclic or tmac");
  AddModeAndAccessOptions(cmd);
  cmd.args().Option("size", "N", "data files: size in bytes");
  cmd.args().Option("lower", "N", "value files: lower limit (default 0)");
  cmd.args().Option("upper", "N", "value files: upper limit");
  cmd.args().Option("initial", "N", "value files: initial value (default 0)");
  cmd.args().Flag("limited-credit", "value files: allow LimitedCredit");
  cmd.args().Flag("free-get-value", "value files: GetValue without authentication");
  cmd.args().Option("record-size", "N", "record files: bytes per record");
  cmd.args().Option("max-records", "N", "record files: most records");
  cmd.args().Option("iso-fid", "HEX", "ISO/IEC 7816-4 file identifier");
  cmd.args().Option("tmac-key", "NAME",
                    "tmac files: the Transaction MAC key's name in the server's key store\n"
                    "(--access: read = who reads TMC and TMV; write never; read+write =\n"
                    "the key that sends CommitReaderID, free, or never to disable it)");
  cmd.args().Option("tmac-key-version", "N", "tmac files: the key's version (default 0)");
  AddSdmOptions(cmd);
  cmd.AddRequestId();
  if (std::optional<int> done = cmd.Parse(argc, argv)) return *done;
  std::string type, details;
  return RunChange(
      cmd, &client::Client::CreateFile, kKeyOptional,
      [&](v1::CreateFileRequest& req) { return FillCreateFile(cmd, req, &type, &details); },
      [&](const v1::CreateFileRequest& req) {
        return absl::StrCat("created ", type, " file ", req.file_no(), " in ", AidText(req.aid()),
                            " (", details, ")");
      });
}

int ChangeFileSettings(int argc, char** argv) {
  ServerCommand cmd("change-file-settings",
                    "Change a file's communication mode and access rights (--access as for\n"
                    "create-file), and its SDM settings with --sdm (without: SDM off).");
  cmd.AddFileOptions("the file's change key (omit when changing is free)");
  AddModeAndAccessOptions(cmd);
  AddSdmOptions(cmd);
  cmd.AddRequestId();
  if (std::optional<int> done = cmd.Parse(argc, argv)) return *done;
  bool sdm = false;
  return RunChange(
      cmd, &client::Client::ChangeFileSettings, kKeyOptional,
      [&](v1::ChangeFileSettingsRequest& req) -> absl::Status {
        DESFIRED_RETURN_IF_ERROR(FillAidAndFile(cmd, req));
        DESFIRED_ASSIGN_OR_RETURN(const v1::CommunicationMode mode, CommOption(cmd));
        req.set_communication_mode(mode);
        DESFIRED_RETURN_IF_ERROR(AccessOption(cmd, req.mutable_access_rights()));
        DESFIRED_ASSIGN_OR_RETURN(sdm, SdmOptions(cmd, req.mutable_sdm()));
        if (!sdm) req.clear_sdm();
        return absl::OkStatus();
      },
      [&](const v1::ChangeFileSettingsRequest& req) {
        return absl::StrCat("changed the settings of file ", req.file_no(), " of ",
                            AidText(req.aid()), sdm ? " (SDM on)" : "");
      });
}

int DeleteFile(int argc, char** argv) {
  ServerCommand cmd("delete-file", "Delete a file of an application.");
  cmd.AddFileOptions("the application master key (omit when deletion is free)");
  cmd.AddRequestId();
  if (std::optional<int> done = cmd.Parse(argc, argv)) return *done;
  return RunChange(
      cmd, &client::Client::DeleteFile, kKeyOptional,
      [&](v1::DeleteFileRequest& req) { return FillAidAndFile(cmd, req); },
      [](const v1::DeleteFileRequest& req) {
        return absl::StrCat("deleted file ", req.file_no(), " of ", AidText(req.aid()));
      });
}

int ChangeKey(int argc, char** argv) {
  ServerCommand cmd("change-key",
                    "Change a key of an application (or the card master key with --aid 0) to a\n"
                    "key of the server's key store. Authenticates with --key / --key-no.");
  cmd.AddTarget();
  cmd.AddAid("application id, hex; 0 or absent: the card master key");
  cmd.AddKey("the key that may change keys (per the application's change key access)");
  cmd.args().Option("changed-key-no", "N", "number of the key to change (default: --key-no)");
  cmd.args().Option("new-key", "NAME", "key store name of the new key");
  cmd.args().Option("old-key", "NAME",
                    "key store name of the key's current value (needed when changing another "
                    "key than the one authenticated with)");
  cmd.AddRequestId();
  if (std::optional<int> done = cmd.Parse(argc, argv)) return *done;
  return RunChange(
      cmd, &client::Client::ChangeKey, kKeyRequired,
      [&](v1::ChangeKeyRequest& req) { return FillChangeKey(cmd, req); },
      [](const v1::ChangeKeyRequest& req) {
        return absl::StrCat("changed key ", req.key_number(), " of ", AidOrCard(req.aid()), " to '",
                            req.new_key_name(), "'");
      });
}

int ChangeKeySettings(int argc, char** argv) {
  ServerCommand cmd("change-key-settings",
                    "Change the key settings of an application (or of the card with --aid 0).");
  cmd.AddTarget();
  cmd.AddAid("application id, hex; 0 or absent: the card");
  cmd.AddKey("the master key of the application (or of the card)");
  AddKeySettingsOption(cmd, "");
  cmd.AddRequestId();
  if (std::optional<int> done = cmd.Parse(argc, argv)) return *done;
  return RunChange(
      cmd, &client::Client::ChangeKeySettings, kKeyRequired,
      [&](v1::ChangeKeySettingsRequest& req) -> absl::Status {
        DESFIRED_ASSIGN_OR_RETURN(const uint32_t aid, cmd.Aid(/*allow_card_level=*/true));
        req.set_aid(aid);
        DESFIRED_ASSIGN_OR_RETURN(*req.mutable_key_settings(),
                                  KeySettingsOption(cmd, std::nullopt));
        return absl::OkStatus();
      },
      [](const v1::ChangeKeySettingsRequest& req) {
        return absl::StrCat("changed the key settings of ", AidOrCard(req.aid()));
      });
}

}  // namespace desfired::cli
