#include "core/desfire/card.h"

#include <string>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/apdu/status_payload.h"
#include "core/crypto/random.h"
#include "core/desfire/key_version.h"
#include "core/desfire/status.h"
#include "core/util/status_macros.h"

namespace desfired::desfire {
namespace {

constexpr uint32_t kMax24 = 0xFFFFFF;
constexpr size_t kAidLength = 3;
constexpr uint8_t kIsoFileIdFlag = 0x20;   // CreateApplication: ISO FID and DF name follow
constexpr uint8_t kPiccAesKeyFlag = 0x80;  // PICC ChangeKey: the new master key is AES
constexpr uint8_t kPicc3k3DesKeyFlag = 0x40;
constexpr size_t kMaxDfName = 16;
constexpr size_t kFileCountersLength = 5;  // SDMReadCtr (3) ‖ reserved (2)

void Put24(Bytes& out, uint32_t v) {
  out.push_back(static_cast<uint8_t>(v));
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v >> 16));
}
void Put16(Bytes& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v));
  out.push_back(static_cast<uint8_t>(v >> 8));
}
void Put32(Bytes& out, uint32_t v) {
  Put16(out, static_cast<uint16_t>(v));
  Put16(out, static_cast<uint16_t>(v >> 16));
}

absl::Status Invalid(absl::string_view message) { return absl::InvalidArgumentError(message); }

absl::Status CheckAid(uint32_t aid) {
  if (aid > kMaxAid) {
    return Invalid(absl::StrFormat("aid %X does not fit in 24 bits", aid));
  }
  return absl::OkStatus();
}
absl::Status CheckFileNo(uint8_t file_no) {
  if (file_no > kMaxFileNo) {
    return Invalid(absl::StrFormat("file number %d is out of range 0..31", file_no));
  }
  return absl::OkStatus();
}
absl::Status Check24(absl::string_view what, uint64_t v) {
  if (v > kMax24) return Invalid(absl::StrFormat("%s %d does not fit in 24 bits", what, v));
  return absl::OkStatus();
}

bool CardGone(const absl::Status& status) {
  return apdu::GetReason(status) == std::string(apdu::kReasonCardRemoved);
}

// The same status with `note` appended to the message and a commit-state payload.
absl::Status FailedChange(const absl::Status& status, apdu::CommitState state,
                          absl::string_view note) {
  absl::Status out(status.code(), absl::StrCat(status.message(), "; ", note));
  status.ForEachPayload(
      [&out](absl::string_view url, const absl::Cord& value) { out.SetPayload(url, value); });
  return apdu::WithCommitState(std::move(out), state);
}

absl::Status WrongType(uint8_t file_no, FileType type, absl::string_view op) {
  return apdu::WithReason(absl::FailedPreconditionError(absl::StrFormat(
                              "%s: file %d is a %s file", op, file_no, FileTypeName(type))),
                          kReasonWrongFileType);
}

}  // namespace

AuthScheme DefaultScheme(crypto::KeyType type) {
  return type == crypto::KeyType::kAes128 ? AuthScheme::kAes : AuthScheme::kIso;
}

DesfireCard::DesfireCard(apdu::CardTransport& transport, Options options)
    : channel_(transport), session_(channel_, std::move(options.random)) {
  if (options.frame_logger) channel_.set_frame_logger(std::move(options.frame_logger));
}

CommMode DesfireCard::MacInEv2() const {
  const AuthScheme s = session_.scheme();
  return s == AuthScheme::kEv2 || s == AuthScheme::kLrp ? CommMode::kMac : CommMode::kPlain;
}

void DesfireCard::DropSessionState() { settings_cache_.clear(); }

absl::StatusOr<Bytes> DesfireCard::Run(Command command) {
  absl::StatusOr<Bytes> result = session_.Execute(command);
  if (!result.ok()) DropSessionState();  // any error ends the session on both sides
  return result;
}

// ---------------------------------------------------------------------------------------
// PICC level.

absl::StatusOr<CardVersion> DesfireCard::GetVersion() {
  DESFIRED_ASSIGN_OR_RETURN(
      Bytes data,
      Run({.ins = Ins::kGetVersion, .command_mode = MacInEv2(), .response_mode = MacInEv2()}));
  return DecodeVersion(data);
}

absl::StatusOr<Bytes> DesfireCard::GetCardUid() {
  DESFIRED_ASSIGN_OR_RETURN(
      Bytes uid,
      Run({.ins = Ins::kGetCardUid, .command_mode = MacInEv2(), .response_mode = CommMode::kFull}));
  if (uid.size() != 7 && uid.size() != 10 && uid.size() != 4) {
    return apdu::ProtocolError(absl::StrFormat("GetCardUID: %d-byte UID", uid.size()));
  }
  return uid;
}

absl::StatusOr<uint32_t> DesfireCard::FreeMemory() {
  DESFIRED_ASSIGN_OR_RETURN(
      Bytes data,
      Run({.ins = Ins::kFreeMemory, .command_mode = MacInEv2(), .response_mode = MacInEv2()}));
  if (data.size() != 3) return apdu::ProtocolError("FreeMemory: expected 3 bytes");
  return LoadLe24(data.data());
}

absl::StatusOr<std::vector<uint32_t>> DesfireCard::GetApplicationIds() {
  DESFIRED_ASSIGN_OR_RETURN(Bytes data, Run({.ins = Ins::kGetApplicationIds,
                                             .command_mode = MacInEv2(),
                                             .response_mode = MacInEv2()}));
  if (data.size() % kAidLength != 0) {
    return apdu::ProtocolError("GetApplicationIDs: reply is not a whole number of AIDs");
  }
  std::vector<uint32_t> aids;
  for (size_t i = 0; i < data.size(); i += kAidLength) aids.push_back(LoadLe24(data.data() + i));
  return aids;
}

absl::StatusOr<std::vector<DfName>> DesfireCard::GetDfNames() {
  DESFIRED_ASSIGN_OR_RETURN(
      Bytes data,
      Run({.ins = Ins::kGetDfNames, .command_mode = MacInEv2(), .response_mode = MacInEv2()}));
  // One application per reply frame; the last frame may also carry the response MAC,
  // already removed from `data`.
  std::vector<DfName> names;
  size_t pos = 0;
  for (size_t frame : session_.last_frame_sizes()) {
    const size_t n = std::min(frame, data.size() - pos);
    if (n == 0) continue;
    if (n < kAidLength + 2 || n > kAidLength + 2 + kMaxDfName) {
      return apdu::ProtocolError("GetDFNames: malformed entry");
    }
    DfName entry;
    entry.aid = LoadLe24(data.data() + pos);
    entry.iso_file_id = static_cast<uint16_t>(LoadLe16(data.data() + pos + kAidLength));
    entry.name.assign(data.begin() + static_cast<std::ptrdiff_t>(pos + kAidLength + 2),
                      data.begin() + static_cast<std::ptrdiff_t>(pos + n));
    names.push_back(std::move(entry));
    pos += n;
  }
  return names;
}

absl::Status DesfireCard::SelectApplication(uint32_t aid) {
  DESFIRED_RETURN_IF_ERROR(CheckAid(aid));
  Bytes header;
  Put24(header, aid);
  selected_aid_.reset();
  DropSessionState();
  ResetTransaction();
  DESFIRED_RETURN_IF_ERROR(Run({.ins = Ins::kSelectApplication, .header = header}).status());
  selected_aid_ = aid;
  return absl::OkStatus();
}

absl::Status DesfireCard::CreateApplication(const ApplicationSpec& spec) {
  DESFIRED_RETURN_IF_ERROR(CheckAid(spec.aid));
  if (spec.aid == 0) return Invalid("aid 0 is the PICC level");
  if (spec.num_keys < 1 || spec.num_keys > 14) return Invalid("num_keys must be 1..14");
  Bytes header;
  Put24(header, spec.aid);
  header.push_back(spec.key_settings);
  uint8_t keys = static_cast<uint8_t>(spec.num_keys | static_cast<uint8_t>(spec.key_family));
  if (spec.iso_file_id.has_value()) {
    if (spec.df_name.empty() || spec.df_name.size() > kMaxDfName) {
      return Invalid("an ISO application needs a DF name of 1..16 bytes");
    }
    keys |= kIsoFileIdFlag;
  }
  header.push_back(keys);
  if (spec.iso_file_id.has_value()) {
    Put16(header, *spec.iso_file_id);
    header.insert(header.end(), spec.df_name.begin(), spec.df_name.end());
  }
  return Run({.ins = Ins::kCreateApplication,
              .header = header,
              .command_mode = MacInEv2(),
              .response_mode = MacInEv2()})
      .status();
}

absl::Status DesfireCard::DeleteApplication(uint32_t aid) {
  DESFIRED_RETURN_IF_ERROR(CheckAid(aid));
  Bytes header;
  Put24(header, aid);
  // Deleting the selected application under its own master key ends the session; the card
  // answers without a MAC.
  const bool deleting_selected = selected_aid_ == aid && aid != 0;
  absl::Status s = Run({.ins = Ins::kDeleteApplication,
                        .header = header,
                        .command_mode = MacInEv2(),
                        .response_mode = MacInEv2(),
                        .ends_session = deleting_selected && session_.authenticated()})
                       .status();
  if (s.ok() && deleting_selected) {
    // The card falls back to the PICC level and ends the session.
    selected_aid_ = 0;
    session_.Invalidate();
    DropSessionState();
    ResetTransaction();
  }
  return s;
}

absl::Status DesfireCard::FormatPicc() {
  DESFIRED_RETURN_IF_ERROR(
      Run({.ins = Ins::kFormatPicc, .command_mode = MacInEv2(), .response_mode = MacInEv2()})
          .status());
  DropSessionState();
  ResetTransaction();
  return absl::OkStatus();
}

absl::Status DesfireCard::SetConfiguration(uint8_t option, ByteSpan data) {
  if (option > 0x01) {
    return Invalid("SetConfiguration: options 0x00 (PICC configuration) and 0x01 (default key)");
  }
  if (data.empty()) return Invalid("SetConfiguration: no data");
  return Run({.ins = Ins::kSetConfiguration,
              .header = {option},
              .data = Bytes(data.begin(), data.end()),
              .command_mode = CommMode::kFull,
              .response_mode = MacInEv2()})
      .status();
}

// ---------------------------------------------------------------------------------------
// Keys.

absl::Status DesfireCard::Authenticate(uint8_t key_no, const CardKey& key,
                                       std::optional<AuthScheme> scheme) {
  if (key_no > 0x0D) return Invalid("key number must be 0..13");
  DropSessionState();
  ResetTransaction();  // the card rolls the transaction back at an authentication
  const AuthScheme use = scheme.value_or(DefaultScheme(key.type));
  if (use == AuthScheme::kEv2 && session_.scheme() == AuthScheme::kEv2) {
    if (key.type != crypto::KeyType::kAes128) return Invalid("EV2 authentication needs AES");
    if (key.cipher != nullptr) return session_.AuthenticateEv2NonFirst(key_no, *key.cipher);
    return session_.AuthenticateEv2NonFirst(key_no, key.value);
  }
  // A token key with LRP: Session::Authenticate refuses it.
  if (use == AuthScheme::kLrp && session_.scheme() == AuthScheme::kLrp && key.cipher == nullptr) {
    if (key.type != crypto::KeyType::kAes128) return Invalid("LRP authentication needs AES");
    return session_.AuthenticateLrpNonFirst(key_no, key.value);
  }
  if (key.cipher != nullptr) return session_.Authenticate(use, key_no, *key.cipher);
  return session_.Authenticate(use, key_no, key.type, key.value);
}

absl::StatusOr<KeySettings> DesfireCard::GetKeySettings() {
  DESFIRED_ASSIGN_OR_RETURN(
      Bytes data,
      Run({.ins = Ins::kGetKeySettings, .command_mode = MacInEv2(), .response_mode = MacInEv2()}));
  return DecodeKeySettings(data);
}

absl::Status DesfireCard::ChangeKeySettings(uint8_t settings) {
  return Run({.ins = Ins::kChangeKeySettings,
              .data = {settings},
              .command_mode = CommMode::kFull,
              .response_mode = MacInEv2()})
      .status();
}

absl::StatusOr<uint8_t> DesfireCard::GetKeyVersion(uint8_t key_no) {
  if (key_no > 0x0D) return Invalid("key number must be 0..13");
  DESFIRED_ASSIGN_OR_RETURN(Bytes data, Run({.ins = Ins::kGetKeyVersion,
                                             .header = {key_no},
                                             .command_mode = MacInEv2(),
                                             .response_mode = MacInEv2()}));
  if (data.size() != 1) return apdu::ProtocolError("GetKeyVersion: expected 1 byte");
  return data[0];
}

absl::Status DesfireCard::ChangeKey(uint8_t key_no, const CardKey& new_key,
                                    const CardKey* old_key) {
  if (key_no > 0x0D) return Invalid("key number must be 0..13");
  if (new_key.cipher != nullptr || (old_key != nullptr && old_key->cipher != nullptr)) {
    return absl::FailedPreconditionError(
        "ChangeKey needs the new and old keys' values, and a key in a PKCS#11 token never "
        "leaves it (docs/key-store.md, \"Token keys\")");
  }
  uint8_t key_byte = key_no;
  if (selected_aid_.value_or(0) == 0) {
    // At the PICC level the key number carries the new master key's type.
    if (new_key.type == crypto::KeyType::kAes128) key_byte |= kPiccAesKeyFlag;
    if (new_key.type == crypto::KeyType::k3Tdea) key_byte |= kPicc3k3DesKeyFlag;
  }
  const bool same = key_no == session_.authenticated_key_no();
  if (!same && old_key == nullptr && session_.authenticated()) {
    return Invalid("changing another key than the authenticated one needs the old key");
  }
  // The card reads a DES-family key's version from its parity bits: the new key is sent with
  // its version there, and the old key as the card holds it (with its version there too).
  Bytes new_value = WithKeyVersion(new_key.type, new_key.value, new_key.version);
  Bytes old_value =
      old_key ? WithKeyVersion(old_key->type, old_key->value, old_key->version) : Bytes();
  absl::Status s =
      session_.ChangeKey(key_byte, new_key.type, new_value, new_key.version, old_value);
  crypto::SecureWipe(absl::MakeSpan(new_value));
  crypto::SecureWipe(absl::MakeSpan(old_value));
  DropSessionState();
  return s;
}

// ---------------------------------------------------------------------------------------
// Files.

absl::StatusOr<std::vector<uint8_t>> DesfireCard::GetFileIds() {
  DESFIRED_ASSIGN_OR_RETURN(
      Bytes data,
      Run({.ins = Ins::kGetFileIds, .command_mode = MacInEv2(), .response_mode = MacInEv2()}));
  return std::vector<uint8_t>(data.begin(), data.end());
}

absl::StatusOr<std::vector<uint16_t>> DesfireCard::GetIsoFileIds() {
  DESFIRED_ASSIGN_OR_RETURN(
      Bytes data,
      Run({.ins = Ins::kGetIsoFileIds, .command_mode = MacInEv2(), .response_mode = MacInEv2()}));
  if (data.size() % 2 != 0) return apdu::ProtocolError("GetISOFileIDs: odd reply length");
  std::vector<uint16_t> ids;
  for (size_t i = 0; i < data.size(); i += 2)
    ids.push_back(static_cast<uint16_t>(LoadLe16(data.data() + i)));
  return ids;
}

absl::StatusOr<FileSettings> DesfireCard::GetFileSettings(uint8_t file_no, bool refresh) {
  DESFIRED_RETURN_IF_ERROR(CheckFileNo(file_no));
  if (!refresh) {
    auto it = settings_cache_.find(file_no);
    if (it != settings_cache_.end()) return it->second;
  }
  DESFIRED_ASSIGN_OR_RETURN(Bytes data, Run({.ins = Ins::kGetFileSettings,
                                             .header = {file_no},
                                             .command_mode = MacInEv2(),
                                             .response_mode = MacInEv2()}));
  DESFIRED_ASSIGN_OR_RETURN(FileSettings settings, DecodeFileSettings(data));
  settings_cache_[file_no] = settings;
  return settings;
}

void DesfireCard::AssumeFileSettings(uint8_t file_no, const FileSettings& settings) {
  settings_cache_[file_no] = settings;
}

absl::Status DesfireCard::ChangeFileSettings(uint8_t file_no, CommMode comm_mode,
                                             const AccessRights& access) {
  DESFIRED_ASSIGN_OR_RETURN(FileSettings current, GetFileSettings(file_no));
  Bytes data = {static_cast<uint8_t>(comm_mode)};
  Put16(data, access.Encode());
  return SendFileSettings(file_no, current, data);
}

absl::Status DesfireCard::SendFileSettings(uint8_t file_no, const FileSettings& current,
                                           const Bytes& data) {
  const CommMode mode = current.access.change == kAccessFree ? CommMode::kPlain : CommMode::kFull;
  absl::Status s = Run({.ins = Ins::kChangeFileSettings,
                        .header = {file_no},
                        .data = data,
                        .command_mode = mode,
                        .response_mode = MacInEv2()})
                       .status();
  settings_cache_.erase(file_no);
  return s;
}

absl::Status DesfireCard::CreateDataFile(const DataFileSpec& spec) {
  DESFIRED_RETURN_IF_ERROR(CheckFileNo(spec.file_no));
  DESFIRED_RETURN_IF_ERROR(Check24("file size", spec.size));
  if (spec.size == 0) return Invalid("file size must be at least 1");
  if (spec.sdm && spec.backup) return Invalid("SDM applies to standard data files only");
  Bytes header = {spec.file_no};
  if (spec.iso_file_id.has_value()) Put16(header, *spec.iso_file_id);
  header.push_back(
      static_cast<uint8_t>(static_cast<uint8_t>(spec.comm_mode) | (spec.sdm ? kFileOptionSdm : 0)));
  Put16(header, spec.access.Encode());
  Put24(header, spec.size);
  settings_cache_.erase(spec.file_no);
  return Run({.ins = spec.backup ? Ins::kCreateBackupDataFile : Ins::kCreateStdDataFile,
              .header = header,
              .command_mode = MacInEv2(),
              .response_mode = MacInEv2()})
      .status();
}

absl::Status DesfireCard::CreateValueFile(const ValueFileSpec& spec) {
  DESFIRED_RETURN_IF_ERROR(CheckFileNo(spec.file_no));
  if (spec.lower_limit > spec.upper_limit) return Invalid("lower_limit exceeds upper_limit");
  if (spec.value < spec.lower_limit || spec.value > spec.upper_limit) {
    return Invalid("value lies outside the limits");
  }
  Bytes header = {spec.file_no, static_cast<uint8_t>(spec.comm_mode)};
  Put16(header, spec.access.Encode());
  Put32(header, static_cast<uint32_t>(spec.lower_limit));
  Put32(header, static_cast<uint32_t>(spec.upper_limit));
  Put32(header, static_cast<uint32_t>(spec.value));
  header.push_back(static_cast<uint8_t>((spec.limited_credit_enabled ? 0x01 : 0x00) |
                                        (spec.free_get_value ? 0x02 : 0x00)));
  settings_cache_.erase(spec.file_no);
  return Run({.ins = Ins::kCreateValueFile,
              .header = header,
              .command_mode = MacInEv2(),
              .response_mode = MacInEv2()})
      .status();
}

absl::Status DesfireCard::CreateRecordFile(const RecordFileSpec& spec) {
  DESFIRED_RETURN_IF_ERROR(CheckFileNo(spec.file_no));
  DESFIRED_RETURN_IF_ERROR(Check24("record size", spec.record_size));
  DESFIRED_RETURN_IF_ERROR(Check24("max records", spec.max_records));
  if (spec.record_size == 0 || spec.max_records == 0) {
    return Invalid("record size and max records must be at least 1");
  }
  if (spec.cyclic && spec.max_records < 2) return Invalid("a cyclic file needs 2+ records");
  Bytes header = {spec.file_no};
  if (spec.iso_file_id.has_value()) Put16(header, *spec.iso_file_id);
  header.push_back(static_cast<uint8_t>(spec.comm_mode));
  Put16(header, spec.access.Encode());
  Put24(header, spec.record_size);
  Put24(header, spec.max_records);
  settings_cache_.erase(spec.file_no);
  return Run({.ins = spec.cyclic ? Ins::kCreateCyclicRecordFile : Ins::kCreateLinearRecordFile,
              .header = header,
              .command_mode = MacInEv2(),
              .response_mode = MacInEv2()})
      .status();
}

absl::Status DesfireCard::DeleteFile(uint8_t file_no) {
  DESFIRED_RETURN_IF_ERROR(CheckFileNo(file_no));
  settings_cache_.erase(file_no);
  return Run({.ins = Ins::kDeleteFile,
              .header = {file_no},
              .command_mode = MacInEv2(),
              .response_mode = MacInEv2()})
      .status();
}

// ---------------------------------------------------------------------------------------
// Data, values and records.

absl::StatusOr<FileSettings> DesfireCard::SettingsFor(uint8_t file_no, FileType want,
                                                      absl::string_view op) {
  DESFIRED_ASSIGN_OR_RETURN(FileSettings s, GetFileSettings(file_no));
  const bool ok = want == FileType::kStandardData   ? IsDataFile(s.type)
                  : want == FileType::kLinearRecord ? IsRecordFile(s.type)
                                                    : s.type == want;
  if (!ok) return WrongType(file_no, s.type, op);
  return s;
}

absl::Status DesfireCard::RunChange(Command change, TxOptions tx, Bytes tmi_params,
                                    ByteSpan tmi_data) {
  if (!tx.reader_id.empty() && tx.reader_id.size() != kTmriLength) {
    return Invalid("reader id must be 16 bytes");
  }
  absl::Status changed = Run(std::move(change)).status();
  if (changed.ok() && !tmi_params.empty()) CollectTmi(tmi_params, tmi_data);
  return FinishChange(std::move(changed), std::move(tx));
}

absl::Status DesfireCard::FinishChange(absl::Status changed, TxOptions tx) {
  last_tmac_.reset();
  if (!changed.ok()) {
    if (!CardGone(changed)) (void)AbortTransaction();
    return FailedChange(changed, apdu::CommitState::kNotCommitted, "nothing was committed");
  }
  if (!tx.commit) return absl::OkStatus();
  if (!tx.reader_id.empty()) {
    absl::StatusOr<Bytes> enc_tmri = CommitReaderId(tx.reader_id);
    if (!enc_tmri.ok()) {
      if (!CardGone(enc_tmri.status())) (void)AbortTransaction();
      return FailedChange(enc_tmri.status(), apdu::CommitState::kNotCommitted,
                          "nothing was committed");
    }
  }
  if (tx.before_commit) {
    absl::Status ready = tx.before_commit();
    if (!ready.ok()) {
      (void)AbortTransaction();
      return FailedChange(std::move(ready), apdu::CommitState::kNotCommitted,
                          "nothing was committed");
    }
  }
  absl::Status committed =
      tx.transaction_mac ? CommitTransactionMac().status() : CommitTransaction();
  if (committed.ok()) return committed;
  if (apdu::GetDesfireStatus(committed).has_value()) {
    // The card answered the commit with an error: it kept nothing.
    (void)AbortTransaction();
    return FailedChange(committed, apdu::CommitState::kNotCommitted, "nothing was committed");
  }
  if (!CardGone(committed)) (void)AbortTransaction();
  return FailedChange(committed, apdu::CommitState::kUnknown,
                      "the commit was sent but its answer was lost: read the file to know "
                      "whether it took effect");
}

absl::StatusOr<Bytes> DesfireCard::ReadData(uint8_t file_no, uint32_t offset, uint32_t length) {
  DESFIRED_RETURN_IF_ERROR(CheckFileNo(file_no));
  DESFIRED_RETURN_IF_ERROR(Check24("offset", offset));
  DESFIRED_RETURN_IF_ERROR(Check24("length", length));
  DESFIRED_ASSIGN_OR_RETURN(FileSettings s, GetFileSettings(file_no));
  // A TransactionMAC file reads as TMC ‖ TMV; its RW nibble is CommitReaderID's right.
  const bool tmac_file = s.type == FileType::kTransactionMac;
  if (!IsDataFile(s.type) && !tmac_file) return WrongType(file_no, s.type, "ReadData");
  const CommMode mode = tmac_file ? EffectiveCommMode(s, {s.access.read})
                                  : EffectiveCommMode(s, {s.access.read, s.access.read_write});
  Bytes header = {file_no};
  Put24(header, offset);
  Put24(header, length);
  Command c{.ins = Ins::kReadData,
            .header = header,
            .command_mode = mode == CommMode::kPlain ? CommMode::kPlain : MacInEv2(),
            .response_mode = mode};
  if (mode == CommMode::kFull && length > 0) c.response_length = length;
  DESFIRED_ASSIGN_OR_RETURN(Bytes data, Run(std::move(c)));
  if (length > 0 && data.size() != length) {
    return apdu::ProtocolError(
        absl::StrFormat("ReadData: asked for %d bytes, got %d", length, data.size()));
  }
  if (!tmac_file) {
    CollectTmi(TmiIoEntry(static_cast<uint8_t>(Ins::kReadData), file_no, offset,
                          static_cast<uint32_t>(data.size())),
               data);
  }
  return data;
}

absl::Status DesfireCard::WriteChange(Ins ins, uint8_t file_no, Bytes header, ByteSpan data,
                                      TxOptions tx, bool commit_needed) {
  DESFIRED_ASSIGN_OR_RETURN(FileSettings s, GetFileSettings(file_no));
  const CommMode mode = EffectiveCommMode(s, {s.access.write, s.access.read_write});
  Bytes tmi_params = {static_cast<uint8_t>(ins)};
  tmi_params.insert(tmi_params.end(), header.begin(), header.end());
  Command c{.ins = ins,
            .header = std::move(header),
            .data = Bytes(data.begin(), data.end()),
            .command_mode = mode,
            .response_mode = mode == CommMode::kPlain ? CommMode::kPlain : MacInEv2()};
  if (commit_needed) return RunChange(std::move(c), tx, std::move(tmi_params), data);
  DESFIRED_RETURN_IF_ERROR(Run(std::move(c)).status());
  CollectTmi(tmi_params, data);
  return absl::OkStatus();
}

absl::Status DesfireCard::WriteData(uint8_t file_no, uint32_t offset, ByteSpan data, TxOptions tx) {
  DESFIRED_RETURN_IF_ERROR(CheckFileNo(file_no));
  DESFIRED_RETURN_IF_ERROR(Check24("offset", offset));
  DESFIRED_RETURN_IF_ERROR(Check24("length", data.size()));
  if (data.empty()) return Invalid("WriteData: no data");
  DESFIRED_ASSIGN_OR_RETURN(FileSettings s,
                            SettingsFor(file_no, FileType::kStandardData, "WriteData"));
  Bytes header = {file_no};
  Put24(header, offset);
  Put24(header, static_cast<uint32_t>(data.size()));
  return WriteChange(Ins::kWriteData, file_no, std::move(header), data, tx,
                     s.type == FileType::kBackupData);
}

absl::StatusOr<int32_t> DesfireCard::GetValue(uint8_t file_no) {
  DESFIRED_RETURN_IF_ERROR(CheckFileNo(file_no));
  DESFIRED_ASSIGN_OR_RETURN(FileSettings s, SettingsFor(file_no, FileType::kValue, "GetValue"));
  const CommMode mode = EffectiveCommMode(s, {s.access.read, s.access.write, s.access.read_write});
  Command c{.ins = Ins::kGetValue,
            .header = {file_no},
            .command_mode = mode == CommMode::kPlain ? CommMode::kPlain : MacInEv2(),
            .response_mode = mode};
  if (mode == CommMode::kFull) c.response_length = 4;
  DESFIRED_ASSIGN_OR_RETURN(Bytes data, Run(std::move(c)));
  if (data.size() != 4) return apdu::ProtocolError("GetValue: expected 4 bytes");
  const int32_t value = static_cast<int32_t>(LoadLe32(data.data()));
  CollectTmi(TmiValueEntry(static_cast<uint8_t>(Ins::kGetValue), file_no, value));
  return value;
}

absl::Status DesfireCard::ChangeValue(Ins ins, uint8_t file_no, int32_t amount, TxOptions tx) {
  DESFIRED_RETURN_IF_ERROR(CheckFileNo(file_no));
  if (amount < 0) return Invalid("amount must not be negative");
  absl::string_view op = ins == Ins::kDebit    ? "Debit"
                         : ins == Ins::kCredit ? "Credit"
                                               : "LimitedCredit";
  DESFIRED_ASSIGN_OR_RETURN(FileSettings s, SettingsFor(file_no, FileType::kValue, op));
  CommMode mode;
  if (ins == Ins::kCredit) {
    mode = EffectiveCommMode(s, {s.access.read_write});
  } else if (ins == Ins::kDebit) {
    mode = EffectiveCommMode(s, {s.access.read, s.access.write, s.access.read_write});
  } else {
    mode = EffectiveCommMode(s, {s.access.write, s.access.read_write});
  }
  Bytes data;
  Put32(data, static_cast<uint32_t>(amount));
  absl::Status status =
      RunChange({.ins = ins,
                 .header = {file_no},
                 .data = std::move(data),
                 .command_mode = mode,
                 .response_mode = mode == CommMode::kPlain ? CommMode::kPlain : MacInEv2()},
                tx, TmiValueEntry(static_cast<uint8_t>(ins), file_no, amount));
  if (ins == Ins::kDebit &&
      apdu::GetDesfireStatus(status) == ToByte(DesfireStatus::kBoundaryError)) {
    status = apdu::WithReason(std::move(status), kReasonInsufficientValue);
  }
  return status;
}

absl::Status DesfireCard::Credit(uint8_t file_no, int32_t amount, TxOptions tx) {
  return ChangeValue(Ins::kCredit, file_no, amount, tx);
}
absl::Status DesfireCard::Debit(uint8_t file_no, int32_t amount, TxOptions tx) {
  return ChangeValue(Ins::kDebit, file_no, amount, tx);
}
absl::Status DesfireCard::LimitedCredit(uint8_t file_no, int32_t amount, TxOptions tx) {
  return ChangeValue(Ins::kLimitedCredit, file_no, amount, tx);
}

absl::Status DesfireCard::WriteRecord(uint8_t file_no, uint32_t offset, ByteSpan data,
                                      TxOptions tx) {
  DESFIRED_RETURN_IF_ERROR(CheckFileNo(file_no));
  DESFIRED_RETURN_IF_ERROR(Check24("offset", offset));
  DESFIRED_RETURN_IF_ERROR(Check24("length", data.size()));
  if (data.empty()) return Invalid("WriteRecord: no data");
  DESFIRED_RETURN_IF_ERROR(SettingsFor(file_no, FileType::kLinearRecord, "WriteRecord").status());
  Bytes header = {file_no};
  Put24(header, offset);
  Put24(header, static_cast<uint32_t>(data.size()));
  return WriteChange(Ins::kWriteRecord, file_no, std::move(header), data, tx, true);
}

absl::Status DesfireCard::UpdateRecord(uint8_t file_no, uint32_t record_no, uint32_t offset,
                                       ByteSpan data, TxOptions tx) {
  DESFIRED_RETURN_IF_ERROR(CheckFileNo(file_no));
  DESFIRED_RETURN_IF_ERROR(Check24("record number", record_no));
  DESFIRED_RETURN_IF_ERROR(Check24("offset", offset));
  DESFIRED_RETURN_IF_ERROR(Check24("length", data.size()));
  if (data.empty()) return Invalid("UpdateRecord: no data");
  DESFIRED_RETURN_IF_ERROR(SettingsFor(file_no, FileType::kLinearRecord, "UpdateRecord").status());
  Bytes header = {file_no};
  Put24(header, record_no);
  Put24(header, offset);
  Put24(header, static_cast<uint32_t>(data.size()));
  return WriteChange(Ins::kUpdateRecord, file_no, std::move(header), data, tx, true);
}

absl::StatusOr<std::vector<Bytes>> DesfireCard::ReadRecords(uint8_t file_no, uint32_t newest_offset,
                                                            uint32_t count) {
  DESFIRED_RETURN_IF_ERROR(CheckFileNo(file_no));
  DESFIRED_RETURN_IF_ERROR(Check24("offset", newest_offset));
  DESFIRED_RETURN_IF_ERROR(Check24("count", count));
  DESFIRED_ASSIGN_OR_RETURN(FileSettings s,
                            SettingsFor(file_no, FileType::kLinearRecord, "ReadRecords"));
  if (s.record_size == 0) return apdu::ProtocolError("ReadRecords: record size 0");
  const CommMode mode = EffectiveCommMode(s, {s.access.read, s.access.read_write});
  Bytes header = {file_no};
  Put24(header, newest_offset);
  Put24(header, count);
  Command c{.ins = Ins::kReadRecords,
            .header = header,
            .command_mode = mode == CommMode::kPlain ? CommMode::kPlain : MacInEv2(),
            .response_mode = mode};
  if (mode == CommMode::kFull && count > 0) {
    c.response_length = static_cast<size_t>(count) * s.record_size;
  }
  DESFIRED_ASSIGN_OR_RETURN(Bytes data, Run(std::move(c)));
  if (data.size() % s.record_size != 0 ||
      (count > 0 && data.size() != static_cast<size_t>(count) * s.record_size)) {
    return apdu::ProtocolError(
        absl::StrFormat("ReadRecords: %d bytes is not the expected number of %d-byte records",
                        data.size(), s.record_size));
  }
  CollectTmi(TmiIoEntry(static_cast<uint8_t>(Ins::kReadRecords), file_no, newest_offset,
                        static_cast<uint32_t>(data.size() / s.record_size)),
             data);
  std::vector<Bytes> records;
  for (size_t i = 0; i < data.size(); i += s.record_size) {
    records.emplace_back(data.begin() + static_cast<std::ptrdiff_t>(i),
                         data.begin() + static_cast<std::ptrdiff_t>(i + s.record_size));
  }
  return records;
}

absl::Status DesfireCard::ClearRecordFile(uint8_t file_no, TxOptions tx) {
  DESFIRED_RETURN_IF_ERROR(CheckFileNo(file_no));
  DESFIRED_RETURN_IF_ERROR(
      SettingsFor(file_no, FileType::kLinearRecord, "ClearRecordFile").status());
  return RunChange({.ins = Ins::kClearRecordFile,
                    .header = {file_no},
                    .command_mode = MacInEv2(),
                    .response_mode = MacInEv2()},
                   tx, Bytes{static_cast<uint8_t>(Ins::kClearRecordFile), file_no});
}

absl::Status DesfireCard::CommitTransaction() {
  ResetTransaction();
  return Run({.ins = Ins::kCommitTransaction,
              .command_mode = MacInEv2(),
              .response_mode = MacInEv2()})
      .status();
}

absl::Status DesfireCard::AbortTransaction() {
  ResetTransaction();
  absl::Status s =
      Run({.ins = Ins::kAbortTransaction, .command_mode = MacInEv2(), .response_mode = MacInEv2()})
          .status();
  if (!s.ok() && !CardGone(s) && selected_aid_.has_value()) {
    // Selecting the application again also rolls the transaction back on the card.
    const uint32_t aid = *selected_aid_;
    (void)SelectApplication(aid);
  }
  return s;
}

absl::StatusOr<uint32_t> DesfireCard::GetFileCounters(uint8_t file_no) {
  DESFIRED_RETURN_IF_ERROR(CheckFileNo(file_no));
  if (session_.scheme() != AuthScheme::kEv2) {
    return apdu::WithReason(absl::FailedPreconditionError("GetFileCounters needs an EV2 session"),
                            kReasonNotAuthenticated);
  }
  DESFIRED_ASSIGN_OR_RETURN(Bytes data, Run({.ins = Ins::kGetFileCounters,
                                             .header = {file_no},
                                             .command_mode = CommMode::kMac,
                                             .response_mode = CommMode::kFull,
                                             .response_length = kFileCountersLength}));
  return LoadLe24(data.data());
}

}  // namespace desfired::desfire
