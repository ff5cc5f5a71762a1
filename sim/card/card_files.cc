// Card: file management (file ids, file settings, create and delete files).
#include <algorithm>

#include "sim/card/card.h"
#include "sim/card/card_internal.h"
#include "sim/card/sdm.h"

namespace desfired::sim {

// ---------------------------------------------------------------------------------------
// File management.

Card::Result Card::GetFileIds(Ins ins, ByteSpan data, bool iso) {
  Bytes body;
  if (Sw sw = UnwrapManagement(ins, data, body); sw != Sw::kOk) return Error(sw);
  if (!body.empty()) return Error(Sw::kLengthError);
  Application* app = CurrentApp();
  if (!app) return Error(Sw::kPermissionDenied);
  if (Sw sw = CheckDirectoryAccess(); sw != Sw::kOk) return Error(sw);
  Result r;
  for (const File& f : app->files) {
    if (!iso) {
      r.data.push_back(f.id);
    } else if (f.iso_fid) {
      r.data.push_back(static_cast<uint8_t>(*f.iso_fid));
      r.data.push_back(static_cast<uint8_t>(*f.iso_fid >> 8));
    }
  }
  return r;
}

Card::Result Card::GetFileSettings(Ins ins, ByteSpan data) {
  Application* app = nullptr;
  File* f = nullptr;
  if (Sw sw = ManagedFile(ins, data, app, f); sw != Sw::kOk) return Error(sw);
  if (Sw sw = CheckDirectoryAccess(); sw != Sw::kOk) return Error(sw);
  Result r;
  r.data.push_back(static_cast<uint8_t>(f->type));
  r.data.push_back(static_cast<uint8_t>(f->comm | (f->sdm ? kFileOptionSdmEnabled : 0)));
  const uint16_t ar = f->access.Encode();
  r.data.push_back(static_cast<uint8_t>(ar));
  r.data.push_back(static_cast<uint8_t>(ar >> 8));
  switch (f->type) {
    case FileType::kStandard:
    case FileType::kBackup:
      AppendLe24(static_cast<uint32_t>(f->data.size()), r.data);
      if (f->sdm) {
        const Bytes sdm = EncodeSdmConfig(*f->sdm);
        r.data.insert(r.data.end(), sdm.begin(), sdm.end());
      }
      break;
    case FileType::kValue:
      AppendLe32(static_cast<uint32_t>(f->lower_limit), r.data);
      AppendLe32(static_cast<uint32_t>(f->upper_limit), r.data);
      AppendLe32(static_cast<uint32_t>(f->limited_credit_value), r.data);
      r.data.push_back(f->limited_credit_enabled ? 1 : 0);
      break;
    case FileType::kLinearRecord:
    case FileType::kCyclicRecord:
      AppendLe24(f->record_size, r.data);
      AppendLe24(f->max_records, r.data);
      AppendLe24(static_cast<uint32_t>(f->records.size()), r.data);
      break;
    case FileType::kTransactionMac:
      r.data.push_back(kTmacKeyOptionAes);
      r.data.push_back(f->tmac_key_version);
      break;
  }
  return r;
}

Card::Result Card::ChangeFileSettings(Ins ins, ByteSpan data) {
  File* f = nullptr;
  if (Sw sw = FileOfCommand(data, f); sw != Sw::kOk) return Error(sw);
  uint8_t comm = kCommPlain;
  if (Sw sw = CheckFileAccess(*f, {f->access.change}, comm); sw != Sw::kOk) return Error(sw);
  const CmdProtection prot =
      f->access.change == kAccessFree ? CmdProtection::kPlain : CmdProtection::kFull;
  Bytes body(data.begin() + 1, data.end());
  // EV2 and LRP padding tells the length (SDM settings vary); older schemes send 3 bytes.
  const AuthScheme scheme = channel_.scheme();
  const std::optional<size_t> plain_len = scheme == AuthScheme::kEv2 || scheme == AuthScheme::kLrp
                                              ? std::nullopt
                                              : std::optional<size_t>(3);
  if (Sw sw = channel_.UnwrapCommand(static_cast<uint8_t>(ins), prot, data.subspan(0, 1), body,
                                     plain_len);
      sw != Sw::kOk) {
    return Error(sw);
  }
  if (body.size() < 3) return Error(Sw::kLengthError);
  std::optional<SdmConfig> sdm;
  if (body[0] & kFileOptionSdmEnabled) {
    if (f->type != FileType::kStandard || !f->sdm_allowed) return Error(Sw::kParameterError);
    SdmConfig config;
    if (Sw sw = ParseSdmConfig(ByteSpan(body).subspan(3), static_cast<uint32_t>(f->data.size()),
                               auth_.lrp_mode(), config);
        sw != Sw::kOk) {
      return Error(sw);
    }
    sdm = config;
  } else if (body.size() != 3) {
    return Error(Sw::kLengthError);
  }
  f->comm = (body[0] & kCommModeMask) == kCommFull ? kCommFull : (body[0] & kCommMac);
  f->access = AccessRights::Decode(static_cast<uint16_t>(LoadLe16(body.data() + 1)));
  if (sdm && !f->sdm) f->sdm_read_counter = 0;  // enabling SDM starts the counter at 0
  f->sdm = sdm;
  return Result{};
}

Card::Result Card::CreateFile(Ins ins, ByteSpan data) {
  Bytes body;
  if (Sw sw = UnwrapManagement(ins, data, body); sw != Sw::kOk) return Error(sw);
  Application* app = CurrentApp();
  if (!app) return Error(Sw::kPermissionDenied);
  if (Sw sw = CheckCreateAccess(); sw != Sw::kOk) return Error(sw);
  // Each create command: the file type and its data length without an ISO file ID.
  struct Kind {
    FileType type;
    size_t base_len;
  };
  const Kind kind = ins == Ins::kCreateStdDataFile        ? Kind{FileType::kStandard, 7}
                    : ins == Ins::kCreateBackupDataFile   ? Kind{FileType::kBackup, 7}
                    : ins == Ins::kCreateValueFile        ? Kind{FileType::kValue, 17}
                    : ins == Ins::kCreateLinearRecordFile ? Kind{FileType::kLinearRecord, 10}
                                                          : Kind{FileType::kCyclicRecord, 10};
  File f;
  f.type = kind.type;
  const size_t base_len = kind.base_len;
  const bool with_iso =
      f.type != FileType::kValue && app->iso_file_ids && body.size() == base_len + 2;
  if (body.size() != base_len && !with_iso) return Error(Sw::kLengthError);
  size_t p = 0;
  f.id = body[p++];
  if (with_iso) {
    f.iso_fid = static_cast<uint16_t>(LoadLe16(body.data() + p));
    p += 2;
  }
  const uint8_t comm = body[p++];
  f.comm = (comm & kCommModeMask) == kCommFull ? kCommFull : (comm & kCommMac);
  f.sdm_allowed = (comm & kFileOptionSdmEnabled) != 0;
  if (f.sdm_allowed && f.type != FileType::kStandard) return Error(Sw::kParameterError);
  f.access = AccessRights::Decode(static_cast<uint16_t>(LoadLe16(body.data() + p)));
  p += 2;
  if (f.id > kMaxFileId) return Error(Sw::kParameterError);
  switch (f.type) {
    case FileType::kStandard:
    case FileType::kBackup: {
      const uint32_t size = LoadLe24(body.data() + p);
      if (size == 0) return Error(Sw::kParameterError);
      f.data.assign(size, 0);
      break;
    }
    case FileType::kValue:
      f.lower_limit = static_cast<int32_t>(LoadLe32(body.data() + p));
      f.upper_limit = static_cast<int32_t>(LoadLe32(body.data() + p + 4));
      f.value = static_cast<int32_t>(LoadLe32(body.data() + p + 8));
      f.limited_credit_enabled = (body[p + 12] & 1) != 0;
      if (f.lower_limit > f.upper_limit || f.value < f.lower_limit || f.value > f.upper_limit) {
        return Error(Sw::kBoundaryError);
      }
      break;
    case FileType::kLinearRecord:
    case FileType::kCyclicRecord:
      f.record_size = LoadLe24(body.data() + p);
      f.max_records = LoadLe24(body.data() + p + 3);
      if (f.record_size == 0 || f.max_records == 0 ||
          (f.type == FileType::kCyclicRecord && f.max_records < 2)) {
        return Error(Sw::kParameterError);
      }
      break;
    case FileType::kTransactionMac:
      break;  // CreateTransactionMacFile (card_tmac.cc)
  }
  if (Sw sw = AddFile(*app, std::move(f)); sw != Sw::kOk) return Error(sw);
  return Result{};
}

Sw Card::AddFile(Application& app, File f) {
  if (app.FindFile(f.id)) return Sw::kDuplicateError;
  if (f.iso_fid) {
    for (const File& other : app.files) {
      if (other.iso_fid == f.iso_fid) return Sw::kDuplicateError;
    }
  }
  if (app.files.size() >= kMaxFilesPerApplication) return Sw::kCountError;
  const uint32_t need = (f.StorageSize() + kMemoryBlock - 1) / kMemoryBlock * kMemoryBlock;
  if (need > state_.FreeMemory()) return Sw::kOutOfEeprom;
  auto pos = std::lower_bound(app.files.begin(), app.files.end(), f.id,
                              [](const File& a, uint8_t id) { return a.id < id; });
  app.files.insert(pos, std::move(f));
  return Sw::kOk;
}

Card::Result Card::DeleteFile(Ins ins, ByteSpan data) {
  Application* app = nullptr;
  File* f = nullptr;
  if (Sw sw = ManagedFile(ins, data, app, f); sw != Sw::kOk) return Error(sw);
  if (Sw sw = CheckCreateAccess(); sw != Sw::kOk) return Error(sw);
  const uint8_t id = f->id;
  std::erase_if(app->files, [id](const File& file) { return file.id == id; });
  return Result{};
}

}  // namespace desfired::sim
