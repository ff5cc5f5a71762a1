#include "sim/card/card.h"

#include <algorithm>
#include <cstring>

#include "core/crypto/random.h"

namespace desfired::sim {
namespace {

using crypto::KeyType;

constexpr size_t kWrappedHeader = 4;   // CLA INS P1 P2
constexpr size_t kIoHeaderLength = 7;  // file no ‖ offset(3) ‖ length(3)
constexpr size_t kAidLength = 3;
constexpr size_t kValueLength = 4;
constexpr uint8_t kPiccKeyNoTypeMask = 0xC0;
constexpr uint8_t kAppKeyNoMask = 0x0F;
constexpr uint8_t kCommModeMask = 0x03;

void AppendLe24(uint32_t v, Bytes& out) {
  uint8_t b[3];
  StoreLe24(v, b);
  out.insert(out.end(), b, b + 3);
}
void AppendLe32(uint32_t v, Bytes& out) {
  uint8_t b[4];
  StoreLe32(v, b);
  out.insert(out.end(), b, b + 4);
}
void AppendSw(Bytes& out, IsoSw sw) {
  out.push_back(static_cast<uint8_t>(static_cast<uint16_t>(sw) >> 8));
  out.push_back(static_cast<uint8_t>(sw));
}
Bytes IsoStatus(IsoSw sw) {
  Bytes out;
  AppendSw(out, sw);
  return out;
}

uint8_t CryptoBits(KeyType t) {
  switch (t) {
    case KeyType::kAes128:
      return kKs2CryptoAes;
    case KeyType::k3Tdea:
      return kKs2Crypto3k3des;
    default:
      return kKs2CryptoDes;
  }
}

bool IsKnownIns(uint8_t b) {
  switch (static_cast<Ins>(b)) {
    case Ins::kAuthenticateLegacy:
    case Ins::kAuthenticateIso:
    case Ins::kAuthenticateAes:
    case Ins::kAuthenticateEv2First:
    case Ins::kAuthenticateEv2NonFirst:
    case Ins::kChangeKeySettings:
    case Ins::kSetConfiguration:
    case Ins::kChangeKey:
    case Ins::kGetKeyVersion:
    case Ins::kCreateApplication:
    case Ins::kDeleteApplication:
    case Ins::kGetApplicationIds:
    case Ins::kFreeMemory:
    case Ins::kGetDfNames:
    case Ins::kGetKeySettings:
    case Ins::kSelectApplication:
    case Ins::kFormatPicc:
    case Ins::kGetVersion:
    case Ins::kGetCardUid:
    case Ins::kGetFileIds:
    case Ins::kGetIsoFileIds:
    case Ins::kGetFileSettings:
    case Ins::kChangeFileSettings:
    case Ins::kCreateStdDataFile:
    case Ins::kCreateBackupDataFile:
    case Ins::kCreateValueFile:
    case Ins::kCreateLinearRecordFile:
    case Ins::kCreateCyclicRecordFile:
    case Ins::kDeleteFile:
    case Ins::kReadData:
    case Ins::kReadDataIsoChained:
    case Ins::kWriteData:
    case Ins::kWriteDataIsoChained:
    case Ins::kGetValue:
    case Ins::kCredit:
    case Ins::kDebit:
    case Ins::kLimitedCredit:
    case Ins::kWriteRecord:
    case Ins::kWriteRecordIsoChained:
    case Ins::kReadRecords:
    case Ins::kReadRecordsIsoChained:
    case Ins::kClearRecordFile:
    case Ins::kCommitTransaction:
    case Ins::kAbortTransaction:
    case Ins::kAdditionalFrame:
      return true;
  }
  return false;
}

// Command protection of data sent to a file with communication mode `comm`.
CmdProtection WriteProtection(uint8_t comm) {
  if (comm == kCommFull) return CmdProtection::kFull;
  if (comm == kCommMac) return CmdProtection::kMac;
  return CmdProtection::kPlain;
}
// Command protection of a read request (EV2 MACs it unless the file is plain).
CmdProtection ReadRequestProtection(uint8_t comm) {
  return comm == kCommPlain ? CmdProtection::kPlain : CmdProtection::kMacEv2;
}
RespProtection ReadProtection(uint8_t comm, bool whole) {
  if (comm == kCommFull) return whole ? RespProtection::kFullPad80 : RespProtection::kFull;
  if (comm == kCommMac) return RespProtection::kMac;
  return RespProtection::kPlain;
}
RespProtection WriteAckProtection(uint8_t comm) {
  return comm == kCommPlain ? RespProtection::kPlain : RespProtection::kMacEv2;
}

Bytes NormalizeDesKey(ByteSpan key) {
  if (key.size() == 16 && std::equal(key.begin(), key.begin() + 8, key.begin() + 8)) {
    return Bytes(key.begin(), key.begin() + 8);
  }
  return Bytes(key.begin(), key.end());
}

void DefaultRandom(MutableByteSpan out) { (void)crypto::RandomBytes(out); }

}  // namespace

Card::Card(CardState state, RandomSource random)
    : state_(std::move(state)), random_(random ? std::move(random) : DefaultRandom) {
  PowerOff();
}

void Card::PowerOff() {
  AbortTransaction();
  Select(std::nullopt);
  auth_.Cancel();
  pending_out_.clear();
  pending_ins_.reset();
  pending_in_.clear();
  if (state_.random_uid) {
    // Random ids are 4 bytes starting with 08 (ISO/IEC 14443-3).
    reader_uid_.assign(4, 0);
    random_(MutableByteSpan(reader_uid_.data() + 1, 3));
    reader_uid_[0] = 0x08;
  } else {
    reader_uid_ = state_.uid;
  }
  ats_ =
      IsValidAts(state_.ats) ? state_.ats : Bytes(kDefaultAts, kDefaultAts + sizeof(kDefaultAts));
  atr_ = AtrFromAts(ats_);
}

// ---------------------------------------------------------------------------------------
// APDU front.

Bytes Card::Transmit(ByteSpan apdu) {
  if (apdu.empty()) return IsoStatus(IsoSw::kWrongLength);
  const uint8_t cla = apdu[0];
  if (cla == kClaReader) return TransmitReader(apdu);
  if (cla == kClaIso) return TransmitIsoSelect(apdu);
  if (cla == kClaNativeWrapped) {
    if (apdu.size() < kWrappedHeader) return IsoStatus(IsoSw::kWrongLength);
    if (apdu[2] != 0 || apdu[3] != 0) return IsoStatus(IsoSw::kWrongP1P2);
    ByteSpan data;
    if (apdu.size() > kWrappedHeader + 1) {
      const size_t lc = apdu[4];
      if (lc == 0) return IsoStatus(IsoSw::kWrongLength);
      const size_t n = apdu.size() - kWrappedHeader - 1;
      if (n != lc && n != lc + 1) return IsoStatus(IsoSw::kWrongLength);
      data = apdu.subspan(kWrappedHeader + 1, lc);
    }
    Bytes frame;
    frame.reserve(1 + data.size());
    frame.push_back(apdu[1]);
    frame.insert(frame.end(), data.begin(), data.end());
    Frame r = ProcessFrame(frame);
    r.data.push_back(kSw1Desfire);
    r.data.push_back(static_cast<uint8_t>(r.status));
    return std::move(r.data);
  }
  if (!IsKnownIns(cla) && apdu.size() >= kWrappedHeader) {
    return IsoStatus(IsoSw::kClaNotSupported);
  }
  // Native frame: INS ‖ data -> status ‖ data.
  Frame r = ProcessFrame(apdu);
  Bytes out;
  out.reserve(1 + r.data.size());
  out.push_back(static_cast<uint8_t>(r.status));
  out.insert(out.end(), r.data.begin(), r.data.end());
  return out;
}

Bytes Card::TransmitReader(ByteSpan apdu) {
  // FF CA P1 00 Le: GET DATA, answered by the reader in PC/SC (part 3): P1 00 the UID, P1 01
  // the historical bytes of the ATS.
  if (apdu.size() < kWrappedHeader) return IsoStatus(IsoSw::kWrongLength);
  if (apdu[1] != kInsReaderGetData) return IsoStatus(IsoSw::kInsNotSupported);
  if (apdu[2] > kP1GetDataHistorical || apdu[3] != 0) {
    return IsoStatus(IsoSw::kFunctionNotSupported);
  }
  if (apdu.size() > kWrappedHeader + 1) return IsoStatus(IsoSw::kWrongLength);
  Bytes out;
  if (apdu[2] == kP1GetDataHistorical) {
    const ByteSpan hist = AtsHistoricalBytes(ats_);
    out.assign(hist.begin(), hist.end());
  } else {
    out = reader_uid_;
  }
  AppendSw(out, IsoSw::kOk);
  return out;
}

Bytes Card::TransmitIsoSelect(ByteSpan apdu) {
  if (apdu.size() < kWrappedHeader) return IsoStatus(IsoSw::kWrongLength);
  if (apdu[1] != kInsIsoSelect) return IsoStatus(IsoSw::kInsNotSupported);
  if (apdu[2] != kP1SelectByDfName) return IsoStatus(IsoSw::kWrongP1P2);
  if (apdu.size() < kWrappedHeader + 2) return IsoStatus(IsoSw::kWrongLength);
  const size_t lc = apdu[4];
  const size_t n = apdu.size() - kWrappedHeader - 1;
  if (lc == 0 || (n != lc && n != lc + 1)) return IsoStatus(IsoSw::kWrongLength);
  const ByteSpan name = apdu.subspan(kWrappedHeader + 1, lc);
  pending_out_.clear();
  pending_ins_.reset();
  auth_.Cancel();
  if (name == ByteSpan(kDesfireDfName, sizeof(kDesfireDfName))) {
    Select(std::nullopt);
    return IsoStatus(IsoSw::kOk);
  }
  for (const Application& app : state_.applications) {
    if (!app.df_name.empty() && ByteSpan(app.df_name) == name) {
      Select(app.aid);
      return IsoStatus(IsoSw::kOk);
    }
  }
  return IsoStatus(IsoSw::kFileNotFound);
}

// ---------------------------------------------------------------------------------------
// Frames, chaining and the dispatcher.

Card::Frame Card::ProcessFrame(ByteSpan frame) {
  if (frame.empty()) return {Sw::kLengthError, {}};
  const Ins ins = static_cast<Ins>(frame[0]);
  const ByteSpan data = frame.subspan(1);
  if (ins == Ins::kAdditionalFrame) {
    if (!pending_out_.empty()) {
      Bytes next = std::move(pending_out_.front());
      pending_out_.pop_front();
      return {pending_out_.empty() ? pending_status_ : Sw::kAdditionalFrame, std::move(next)};
    }
    if (auth_.pending()) {
      Bytes reply;
      const Sw sw = auth_.Finish(data, channel_, random_, reply);
      if (sw != Sw::kOk) {
        channel_.Reset();
        return {sw, {}};
      }
      return {Sw::kOk, std::move(reply)};
    }
    if (pending_ins_) {
      pending_in_.insert(pending_in_.end(), data.begin(), data.end());
      if (pending_in_.size() < pending_total_) return {Sw::kAdditionalFrame, {}};
      const Ins original = *pending_ins_;
      Bytes full = std::move(pending_in_);
      pending_ins_.reset();
      pending_in_.clear();
      if (full.size() > pending_total_) {
        channel_.Reset();
        return {Sw::kLengthError, {}};
      }
      Result r = Dispatch(original, full);
      return Emit(original, full, std::move(r));
    }
    channel_.Reset();
    return {Sw::kIllegalCommand, {}};
  }
  pending_out_.clear();
  pending_ins_.reset();
  pending_in_.clear();
  if (auth_.pending()) {
    auth_.Cancel();
    channel_.Reset();
  }
  Result r = Dispatch(ins, data);
  return Emit(ins, data, std::move(r));
}

Card::Frame Card::Emit(Ins ins, ByteSpan data, Result r) {
  if (r.need_total > 0) {
    pending_ins_ = ins;
    pending_in_.assign(data.begin(), data.end());
    pending_total_ = r.need_total;
    return {Sw::kAdditionalFrame, {}};
  }
  const bool success = r.status == Sw::kOk || r.status == Sw::kNoChanges;
  if (!success && !(r.raw && r.status == Sw::kAdditionalFrame)) {
    channel_.Reset();
    return {r.status, {}};
  }
  size_t chunk = kMaxResponseFrameData;
  if (!r.raw) {
    const bool full =
        r.protection == RespProtection::kFull || r.protection == RespProtection::kFullPad80;
    if (full && channel_.authenticated()) {
      const size_t bs = channel_.block_size();
      chunk = kMaxResponseFrameData / bs * bs;
      r.frames.clear();
    }
    const size_t plain_size = r.data.size();
    r.data = channel_.WrapResponse(r.protection, r.status, std::move(r.data));
    if (!r.frames.empty() && r.data.size() >= plain_size) {
      r.frames.back() += r.data.size() - plain_size;
    }
  }
  if (r.frames.empty()) r.frames.push_back(r.data.size());
  std::deque<Bytes> out;
  size_t pos = 0;
  for (size_t size : r.frames) {
    size = std::min(size, r.data.size() - pos);
    do {
      const size_t n = std::min(size, chunk);
      out.emplace_back(r.data.begin() + static_cast<ptrdiff_t>(pos),
                       r.data.begin() + static_cast<ptrdiff_t>(pos + n));
      pos += n;
      size -= n;
    } while (size > 0);
  }
  Bytes first = std::move(out.front());
  out.pop_front();
  if (out.empty()) return {r.status, std::move(first)};
  pending_out_ = std::move(out);
  pending_status_ = r.status;
  return {Sw::kAdditionalFrame, std::move(first)};
}

Card::Result Card::Dispatch(Ins ins, ByteSpan data) {
  switch (ins) {
    case Ins::kAuthenticateLegacy:
    case Ins::kAuthenticateIso:
    case Ins::kAuthenticateAes:
    case Ins::kAuthenticateEv2First:
    case Ins::kAuthenticateEv2NonFirst:
      return Authenticate(ins, data);
    case Ins::kGetVersion:
      return GetVersion(ins, data);
    case Ins::kSelectApplication:
      return SelectApplication(data);
    case Ins::kGetApplicationIds:
      return GetApplicationIds(ins, data);
    case Ins::kGetDfNames:
      return GetDfNames(ins, data);
    case Ins::kCreateApplication:
      return CreateApplication(ins, data);
    case Ins::kDeleteApplication:
      return DeleteApplication(ins, data);
    case Ins::kFormatPicc:
      return FormatPicc(ins, data);
    case Ins::kFreeMemory:
      return FreeMemory(ins, data);
    case Ins::kGetCardUid:
      return GetCardUid(ins, data);
    case Ins::kSetConfiguration:
      return SetConfiguration(ins, data);
    case Ins::kGetKeySettings:
      return GetKeySettings(ins, data);
    case Ins::kChangeKeySettings:
      return ChangeKeySettings(ins, data);
    case Ins::kGetKeyVersion:
      return GetKeyVersion(ins, data);
    case Ins::kChangeKey:
      return ChangeKey(ins, data);
    case Ins::kGetFileIds:
      return GetFileIds(ins, data, /*iso=*/false);
    case Ins::kGetIsoFileIds:
      return GetFileIds(ins, data, /*iso=*/true);
    case Ins::kGetFileSettings:
      return GetFileSettings(ins, data);
    case Ins::kChangeFileSettings:
      return ChangeFileSettings(ins, data);
    case Ins::kCreateStdDataFile:
    case Ins::kCreateBackupDataFile:
    case Ins::kCreateValueFile:
    case Ins::kCreateLinearRecordFile:
    case Ins::kCreateCyclicRecordFile:
      return CreateFile(ins, data);
    case Ins::kDeleteFile:
      return DeleteFile(ins, data);
    case Ins::kReadData:
    case Ins::kReadDataIsoChained:
      return ReadData(ins, data);
    case Ins::kWriteData:
    case Ins::kWriteDataIsoChained:
      return WriteData(ins, data);
    case Ins::kGetValue:
      return GetValue(ins, data);
    case Ins::kCredit:
    case Ins::kDebit:
    case Ins::kLimitedCredit:
      return ChangeValue(ins, data);
    case Ins::kWriteRecord:
    case Ins::kWriteRecordIsoChained:
      return WriteRecord(ins, data);
    case Ins::kReadRecords:
    case Ins::kReadRecordsIsoChained:
      return ReadRecords(ins, data);
    case Ins::kClearRecordFile:
      return ClearRecordFile(ins, data);
    case Ins::kCommitTransaction:
      return CommitTransaction(ins, data);
    case Ins::kAbortTransaction:
      return AbortTransactionCmd(ins, data);
    case Ins::kAdditionalFrame:
      break;
  }
  return Error(Sw::kIllegalCommand);
}

// ---------------------------------------------------------------------------------------
// Helpers.

Application* Card::CurrentApp() { return selected_ ? state_.FindApplication(*selected_) : nullptr; }

uint8_t Card::KeyCount() {
  Application* app = CurrentApp();
  return app ? static_cast<uint8_t>(app->keys.size()) : 1;
}

const Key* Card::FindKey(uint8_t key_no) {
  Application* app = CurrentApp();
  if (!app) return key_no == 0 ? &state_.picc_key : nullptr;
  return key_no < app->keys.size() ? &app->keys[key_no] : nullptr;
}

void Card::AbortTransaction() {
  Application* app = CurrentApp();
  if (!app) return;
  for (File& f : app->files) {
    f.pending_data.reset();
    f.pending_value.reset();
    f.pending_debits = 0;
    f.pending_credited = false;
    f.pending_record.reset();
    f.pending_clear = false;
  }
}

void Card::Select(std::optional<uint32_t> aid) {
  AbortTransaction();
  channel_.Reset();
  selected_ = aid;
}

bool Card::MasterKeyAuthenticated() { return channel_.authenticated() && channel_.key_no() == 0; }

Key Card::DefaultKey(KeyType family) const {
  const Bytes& data = state_.default_key;
  switch (family) {
    case KeyType::kAes128:
      return Key{KeyType::kAes128, Bytes(data.begin(), data.begin() + 16),
                 state_.default_key_version};
    case KeyType::k3Tdea:
      return Key{KeyType::k3Tdea, data, DesKeyVersion(data)};
    default: {
      Bytes v = NormalizeDesKey(ByteSpan(data).subspan(0, 16));
      const KeyType t = v.size() == 8 ? KeyType::kDes : KeyType::k2Tdea;
      const uint8_t version = DesKeyVersion(v);
      return Key{t, std::move(v), version};
    }
  }
}

Sw Card::UnwrapManagement(Ins ins, ByteSpan data, Bytes& body) {
  body.assign(data.begin(), data.end());
  return channel_.UnwrapCommand(static_cast<uint8_t>(ins), CmdProtection::kMacEv2, {}, body);
}

Sw Card::CheckDirectoryAccess() {
  Application* app = CurrentApp();
  const uint8_t ks = app ? app->key_settings : state_.picc_key_settings;
  if ((ks & kKsFreeDirectoryList) || MasterKeyAuthenticated()) return Sw::kOk;
  return Sw::kAuthenticationError;
}

Sw Card::CheckCreateAccess() {
  Application* app = CurrentApp();
  const uint8_t ks = app ? app->key_settings : state_.picc_key_settings;
  if ((ks & kKsFreeCreateDelete) || MasterKeyAuthenticated()) return Sw::kOk;
  return Sw::kAuthenticationError;
}

Sw Card::CheckFileAccess(const File& file, std::initializer_list<uint8_t> rights, uint8_t& comm) {
  for (uint8_t r : rights) {
    if (r == kAccessFree) {
      comm = kCommPlain;
      return Sw::kOk;
    }
  }
  bool any_key = false;
  for (uint8_t r : rights) {
    if (r == kAccessNever) continue;
    any_key = true;
    if (channel_.authenticated() && channel_.key_no() == r) {
      comm = file.comm;
      return Sw::kOk;
    }
  }
  if (!any_key) return Sw::kPermissionDenied;
  return channel_.authenticated() ? Sw::kPermissionDenied : Sw::kAuthenticationError;
}

// ---------------------------------------------------------------------------------------
// PICC and application commands.

Card::Result Card::Authenticate(Ins ins, ByteSpan data) {
  if (data.empty()) return Error(Sw::kLengthError);
  const uint8_t key_no = data[0];
  AbortTransaction();
  if (ins == Ins::kAuthenticateEv2NonFirst) {
    if (channel_.scheme() != AuthScheme::kEv2) return Error(Sw::kAuthenticationError);
  } else {
    channel_.Reset();
  }
  const Key* key = FindKey(key_no);
  if (!key) return Error(Sw::kNoSuchKey);
  Result r = Raw(Sw::kAdditionalFrame);
  const Sw sw = auth_.Begin(ins, *key, key_no, data.subspan(1), random_, r.data);
  if (sw != Sw::kAdditionalFrame) return Error(sw);
  return r;
}

Card::Result Card::GetVersion(Ins ins, ByteSpan data) {
  Bytes body;
  if (Sw sw = UnwrapManagement(ins, data, body); sw != Sw::kOk) return Error(sw);
  if (!body.empty()) return Error(Sw::kLengthError);
  const VersionInfo& v = state_.version;
  Result r;
  r.data = v.hardware;
  r.data.insert(r.data.end(), v.software.begin(), v.software.end());
  if (state_.random_uid) {
    r.data.insert(r.data.end(), kUidLength, 0);
  } else {
    r.data.insert(r.data.end(), state_.uid.begin(), state_.uid.end());
  }
  r.data.insert(r.data.end(), v.batch.begin(), v.batch.end());
  r.data.push_back(v.week);
  r.data.push_back(v.year);
  r.frames = {v.hardware.size(), v.software.size(),
              r.data.size() - v.hardware.size() - v.software.size()};
  return r;
}

Card::Result Card::SelectApplication(ByteSpan data) {
  if (data.size() != kAidLength) {
    Select(selected_);  // a failed select still ends the session
    return Error(Sw::kLengthError);
  }
  const uint32_t aid = LoadLe24(data.data());
  if (aid == 0) {
    Select(std::nullopt);
    return Raw(Sw::kOk);
  }
  if (!state_.FindApplication(aid)) {
    Select(selected_);
    return Error(Sw::kApplicationNotFound);
  }
  Select(aid);
  return Raw(Sw::kOk);
}

Card::Result Card::GetApplicationIds(Ins ins, ByteSpan data) {
  Bytes body;
  if (Sw sw = UnwrapManagement(ins, data, body); sw != Sw::kOk) return Error(sw);
  if (!body.empty()) return Error(Sw::kLengthError);
  if (selected_) return Error(Sw::kPermissionDenied);
  if (Sw sw = CheckDirectoryAccess(); sw != Sw::kOk) return Error(sw);
  Result r;
  for (const Application& app : state_.applications) AppendLe24(app.aid, r.data);
  return r;
}

Card::Result Card::GetDfNames(Ins ins, ByteSpan data) {
  Bytes body;
  if (Sw sw = UnwrapManagement(ins, data, body); sw != Sw::kOk) return Error(sw);
  if (!body.empty()) return Error(Sw::kLengthError);
  if (selected_) return Error(Sw::kPermissionDenied);
  if (Sw sw = CheckDirectoryAccess(); sw != Sw::kOk) return Error(sw);
  Result r;
  for (const Application& app : state_.applications) {
    if (app.df_name.empty()) continue;
    const size_t before = r.data.size();
    AppendLe24(app.aid, r.data);
    const uint16_t fid = app.iso_fid.value_or(0);
    r.data.push_back(static_cast<uint8_t>(fid));
    r.data.push_back(static_cast<uint8_t>(fid >> 8));
    r.data.insert(r.data.end(), app.df_name.begin(), app.df_name.end());
    r.frames.push_back(r.data.size() - before);  // one application per frame
  }
  return r;
}

Card::Result Card::CreateApplication(Ins ins, ByteSpan data) {
  Bytes body;
  if (Sw sw = UnwrapManagement(ins, data, body); sw != Sw::kOk) return Error(sw);
  if (body.size() < 5) return Error(Sw::kLengthError);
  if (selected_) return Error(Sw::kPermissionDenied);
  if (Sw sw = CheckCreateAccess(); sw != Sw::kOk) return Error(sw);
  Application app;
  app.aid = LoadLe24(body.data());
  app.key_settings = body[3];
  const uint8_t ks2 = body[4];
  app.iso_file_ids = (ks2 & kKs2IsoFileIds) != 0;
  if (body.size() > 5) {
    if (!app.iso_file_ids || body.size() < 7 || body.size() > 7 + kMaxDfNameLength) {
      return Error(Sw::kLengthError);
    }
    app.iso_fid = static_cast<uint16_t>(LoadLe16(body.data() + 5));
    app.df_name.assign(body.begin() + 7, body.end());
  }
  const size_t key_count = ks2 & kKs2KeyCountMask;
  if (app.aid == 0 || key_count == 0 || key_count > kMaxKeysPerApplication) {
    return Error(Sw::kParameterError);
  }
  switch (ks2 & kKs2CryptoMask) {
    case kKs2CryptoDes:
      app.key_family = KeyType::kDes;
      break;
    case kKs2Crypto3k3des:
      app.key_family = KeyType::k3Tdea;
      break;
    case kKs2CryptoAes:
      app.key_family = KeyType::kAes128;
      break;
    default:
      return Error(Sw::kParameterError);
  }
  // Every key starts as the default key (SetConfiguration option 1; 00.. version 0 unset).
  const Key key = DefaultKey(app.key_family);
  app.keys.assign(key_count, key);
  for (const Application& other : state_.applications) {
    if (other.aid == app.aid) return Error(Sw::kDuplicateError);
    if (!app.df_name.empty() && other.df_name == app.df_name) return Error(Sw::kDuplicateError);
  }
  if (state_.applications.size() >= kMaxApplications) return Error(Sw::kCountError);
  if (state_.FreeMemory() < kApplicationOverhead) return Error(Sw::kOutOfEeprom);
  state_.applications.push_back(std::move(app));
  return Result{};
}

Card::Result Card::DeleteApplication(Ins ins, ByteSpan data) {
  Bytes body;
  if (Sw sw = UnwrapManagement(ins, data, body); sw != Sw::kOk) return Error(sw);
  if (body.size() != kAidLength) return Error(Sw::kLengthError);
  const uint32_t aid = LoadLe24(body.data());
  if (!state_.FindApplication(aid)) return Error(Sw::kApplicationNotFound);
  const bool picc_master = !selected_ && MasterKeyAuthenticated();
  const bool app_master = selected_ == aid && MasterKeyAuthenticated();
  if (!picc_master && !app_master) {
    return Error(channel_.authenticated() ? Sw::kPermissionDenied : Sw::kAuthenticationError);
  }
  Result r;
  if (app_master) {
    // The application's own session ends with it; the answer is not MACed.
    Select(std::nullopt);
    r.raw = true;
  }
  std::erase_if(state_.applications, [aid](const Application& a) { return a.aid == aid; });
  return r;
}

Card::Result Card::FormatPicc(Ins ins, ByteSpan data) {
  Bytes body;
  if (Sw sw = UnwrapManagement(ins, data, body); sw != Sw::kOk) return Error(sw);
  if (!body.empty()) return Error(Sw::kLengthError);
  if (selected_) return Error(Sw::kPermissionDenied);
  if (!MasterKeyAuthenticated()) return Error(Sw::kAuthenticationError);
  if (state_.configuration & kConfigFormatDisabled) return Error(Sw::kPermissionDenied);
  state_.applications.clear();
  return Result{};
}

Card::Result Card::FreeMemory(Ins ins, ByteSpan data) {
  Bytes body;
  if (Sw sw = UnwrapManagement(ins, data, body); sw != Sw::kOk) return Error(sw);
  if (!body.empty()) return Error(Sw::kLengthError);
  Result r;
  AppendLe24(state_.FreeMemory(), r.data);
  return r;
}

Card::Result Card::GetCardUid(Ins ins, ByteSpan data) {
  Bytes body;
  if (Sw sw = UnwrapManagement(ins, data, body); sw != Sw::kOk) return Error(sw);
  if (!body.empty()) return Error(Sw::kLengthError);
  if (!channel_.authenticated()) return Error(Sw::kAuthenticationError);
  return Reply(state_.uid, RespProtection::kFull);
}

Card::Result Card::SetConfiguration(Ins ins, ByteSpan data) {
  if (data.empty()) return Error(Sw::kLengthError);
  if (selected_) return Error(Sw::kPermissionDenied);
  if (!MasterKeyAuthenticated()) return Error(Sw::kAuthenticationError);
  if (!(state_.picc_key_settings & kKsConfigurationChangeable)) {
    return Error(Sw::kPermissionDenied);
  }
  const uint8_t option = data[0];
  std::optional<size_t> plain_len;
  CmdProtection prot = CmdProtection::kFull;
  switch (option) {
    case kConfigOptionPicc:
      plain_len = 1;
      break;
    case kConfigOptionDefaultKey:
      plain_len = kDefaultKeyDataLength + 1;
      break;
    case kConfigOptionAts:
      prot = CmdProtection::kFullPad80;  // the length is the ATS's own TL
      break;
    default:
      return Error(Sw::kParameterError);
  }
  Bytes body(data.begin() + 1, data.end());
  if (Sw sw = channel_.UnwrapCommand(static_cast<uint8_t>(ins), prot, data.subspan(0, 1), body,
                                     plain_len);
      sw != Sw::kOk) {
    return Error(sw);
  }
  switch (option) {
    case kConfigOptionPicc:
      if (body.size() != 1) return Error(Sw::kLengthError);
      if (body[0] & ~kConfigPiccMask) return Error(Sw::kParameterError);
      // Format disable and random UID are one-way: a cleared bit leaves a set one set.
      state_.configuration = static_cast<uint8_t>(state_.configuration | body[0]);
      state_.random_uid = (state_.configuration & kConfigRandomUid) != 0;
      break;
    case kConfigOptionDefaultKey:
      if (body.size() != kDefaultKeyDataLength + 1) return Error(Sw::kLengthError);
      state_.default_key.assign(body.begin(), body.begin() + kDefaultKeyDataLength);
      state_.default_key_version = body[kDefaultKeyDataLength];
      break;
    default:
      if (body.empty() || body[0] != body.size()) return Error(Sw::kLengthError);
      if (!IsValidAts(body)) return Error(Sw::kParameterError);
      state_.ats = std::move(body);  // sent from the next activation on
      break;
  }
  return Result{};
}

Card::Result Card::GetKeySettings(Ins ins, ByteSpan data) {
  Bytes body;
  if (Sw sw = UnwrapManagement(ins, data, body); sw != Sw::kOk) return Error(sw);
  if (!body.empty()) return Error(Sw::kLengthError);
  if (Sw sw = CheckDirectoryAccess(); sw != Sw::kOk) return Error(sw);
  Result r;
  if (Application* app = CurrentApp()) {
    r.data = {app->key_settings,
              static_cast<uint8_t>(CryptoBits(app->key_family) | app->keys.size())};
  } else {
    r.data = {state_.picc_key_settings, static_cast<uint8_t>(CryptoBits(state_.picc_key.type) | 1)};
  }
  return r;
}

Card::Result Card::ChangeKeySettings(Ins ins, ByteSpan data) {
  if (!MasterKeyAuthenticated()) return Error(Sw::kAuthenticationError);
  Bytes body(data.begin(), data.end());
  if (Sw sw = channel_.UnwrapCommand(static_cast<uint8_t>(ins), CmdProtection::kFull, {}, body, 1);
      sw != Sw::kOk) {
    return Error(sw);
  }
  if (body.size() != 1) return Error(Sw::kLengthError);
  Application* app = CurrentApp();
  uint8_t& ks = app ? app->key_settings : state_.picc_key_settings;
  if (!(ks & kKsConfigurationChangeable)) return Error(Sw::kPermissionDenied);
  ks = body[0];
  return Result{};
}

Card::Result Card::GetKeyVersion(Ins ins, ByteSpan data) {
  Bytes body;
  if (Sw sw = UnwrapManagement(ins, data, body); sw != Sw::kOk) return Error(sw);
  if (body.size() != 1) return Error(Sw::kLengthError);
  const Key* key = FindKey(body[0] & (CurrentApp() ? kAppKeyNoMask : 0xFF));
  if (!key) return Error(Sw::kNoSuchKey);
  return Reply(Bytes{key->version});
}

Card::Result Card::ChangeKey(Ins ins, ByteSpan data) {
  if (data.empty()) return Error(Sw::kLengthError);
  if (!channel_.authenticated()) return Error(Sw::kAuthenticationError);
  Application* app = CurrentApp();
  const uint8_t key_byte = data[0];
  uint8_t key_no;
  KeyType new_type;
  if (app) {
    key_no = key_byte & kAppKeyNoMask;
    new_type = app->key_family;
    if (key_no >= app->keys.size()) return Error(Sw::kNoSuchKey);
  } else {
    key_no = key_byte & static_cast<uint8_t>(~kPiccKeyNoTypeMask);
    if (key_no != 0) return Error(Sw::kNoSuchKey);
    switch (key_byte & kPiccKeyNoTypeMask) {
      case kKs2CryptoAes:
        new_type = KeyType::kAes128;
        break;
      case kKs2Crypto3k3des:
        new_type = KeyType::k3Tdea;
        break;
      case kKs2CryptoDes:
        new_type = KeyType::k2Tdea;
        break;
      default:
        return Error(Sw::kParameterError);
    }
  }
  // Who may change this key.
  const uint8_t ks = app ? app->key_settings : state_.picc_key_settings;
  const uint8_t auth_key = channel_.key_no();
  if (key_no == 0) {
    if (auth_key != 0 || !(ks & kKsAllowChangeMasterKey)) return Error(Sw::kPermissionDenied);
  } else {
    const uint8_t ck = ks >> kKsChangeKeyShift;
    if (ck == kKsChangeKeyFrozen) return Error(Sw::kPermissionDenied);
    const uint8_t needed = ck == kKsChangeKeySameKey ? key_no : ck;
    if (auth_key != needed) return Error(Sw::kPermissionDenied);
  }
  const bool aes = new_type == KeyType::kAes128;
  const size_t key_len = new_type == KeyType::k3Tdea ? 24 : 16;
  const size_t plain_len = key_len + (aes ? 1 : 0);
  const bool same_key = key_no == auth_key;
  const Bytes crc_probe = channel_.CrcOfKey({});
  const size_t trailer = same_key ? 0 : crc_probe.size();
  Bytes body(data.begin() + 1, data.end());
  if (Sw sw = channel_.UnwrapCommand(static_cast<uint8_t>(ins), CmdProtection::kFull,
                                     data.subspan(0, 1), body, plain_len, trailer);
      sw != Sw::kOk) {
    return Error(sw);
  }
  if (body.size() != plain_len + trailer) return Error(Sw::kLengthError);
  Bytes new_key(body.begin(), body.begin() + static_cast<ptrdiff_t>(key_len));
  Key& slot = app ? app->keys[key_no] : state_.picc_key;
  if (!same_key) {
    Bytes old = slot.value;
    if (old.size() == 8 && key_len == 16) old.insert(old.end(), old.begin(), old.end());
    if (old.size() != key_len) return Error(Sw::kIntegrityError);
    for (size_t i = 0; i < key_len; ++i) new_key[i] ^= old[i];
    const Bytes crc = channel_.CrcOfKey(new_key);
    if (!crypto::ConstantTimeEquals(crc, ByteSpan(body.data() + plain_len, trailer))) {
      return Error(Sw::kIntegrityError);
    }
  }
  Key updated;
  if (aes) {
    updated = Key{KeyType::kAes128, new_key, body[key_len]};
  } else if (new_type == KeyType::k3Tdea) {
    updated = Key{KeyType::k3Tdea, new_key, DesKeyVersion(new_key)};
  } else {
    Bytes v = NormalizeDesKey(new_key);
    const KeyType t = v.size() == 8 ? KeyType::kDes : KeyType::k2Tdea;
    updated = Key{t, std::move(v), DesKeyVersion(new_key)};
  }
  slot = std::move(updated);
  if (!app) state_.picc_key = slot;
  if (same_key) {
    // The key of the session changed: the session ends, the answer is plain.
    channel_.Reset();
    return Raw(Sw::kOk);
  }
  return Result{};
}

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
  Bytes body;
  if (Sw sw = UnwrapManagement(ins, data, body); sw != Sw::kOk) return Error(sw);
  if (body.size() != 1) return Error(Sw::kLengthError);
  Application* app = CurrentApp();
  if (!app) return Error(Sw::kPermissionDenied);
  const File* f = app->FindFile(body[0]);
  if (!f) return Error(Sw::kFileNotFound);
  if (Sw sw = CheckDirectoryAccess(); sw != Sw::kOk) return Error(sw);
  Result r;
  r.data.push_back(static_cast<uint8_t>(f->type));
  r.data.push_back(f->comm);
  const uint16_t ar = f->access.Encode();
  r.data.push_back(static_cast<uint8_t>(ar));
  r.data.push_back(static_cast<uint8_t>(ar >> 8));
  switch (f->type) {
    case FileType::kStandard:
    case FileType::kBackup:
      AppendLe24(static_cast<uint32_t>(f->data.size()), r.data);
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
  }
  return r;
}

Card::Result Card::ChangeFileSettings(Ins ins, ByteSpan data) {
  if (data.empty()) return Error(Sw::kLengthError);
  Application* app = CurrentApp();
  if (!app) return Error(Sw::kPermissionDenied);
  File* f = app->FindFile(data[0]);
  if (!f) return Error(Sw::kFileNotFound);
  uint8_t comm = kCommPlain;
  if (Sw sw = CheckFileAccess(*f, {f->access.change}, comm); sw != Sw::kOk) return Error(sw);
  const CmdProtection prot =
      f->access.change == kAccessFree ? CmdProtection::kPlain : CmdProtection::kFull;
  Bytes body(data.begin() + 1, data.end());
  if (Sw sw = channel_.UnwrapCommand(static_cast<uint8_t>(ins), prot, data.subspan(0, 1), body, 3);
      sw != Sw::kOk) {
    return Error(sw);
  }
  if (body.size() != 3) return Error(Sw::kLengthError);
  f->comm = (body[0] & kCommModeMask) == kCommFull ? kCommFull : (body[0] & kCommMac);
  f->access = AccessRights::Decode(static_cast<uint16_t>(LoadLe16(body.data() + 1)));
  return Result{};
}

Card::Result Card::CreateFile(Ins ins, ByteSpan data) {
  Bytes body;
  if (Sw sw = UnwrapManagement(ins, data, body); sw != Sw::kOk) return Error(sw);
  Application* app = CurrentApp();
  if (!app) return Error(Sw::kPermissionDenied);
  if (Sw sw = CheckCreateAccess(); sw != Sw::kOk) return Error(sw);
  File f;
  size_t base_len = 0;
  switch (ins) {
    case Ins::kCreateStdDataFile:
      f.type = FileType::kStandard;
      base_len = 7;
      break;
    case Ins::kCreateBackupDataFile:
      f.type = FileType::kBackup;
      base_len = 7;
      break;
    case Ins::kCreateValueFile:
      f.type = FileType::kValue;
      base_len = 17;
      break;
    case Ins::kCreateLinearRecordFile:
      f.type = FileType::kLinearRecord;
      base_len = 10;
      break;
    default:
      f.type = FileType::kCyclicRecord;
      base_len = 10;
      break;
  }
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
  }
  if (app->FindFile(f.id)) return Error(Sw::kDuplicateError);
  if (f.iso_fid) {
    for (const File& other : app->files) {
      if (other.iso_fid == f.iso_fid) return Error(Sw::kDuplicateError);
    }
  }
  if (app->files.size() >= kMaxFilesPerApplication) return Error(Sw::kCountError);
  const uint32_t need = (f.StorageSize() + kMemoryBlock - 1) / kMemoryBlock * kMemoryBlock;
  if (need > state_.FreeMemory()) return Error(Sw::kOutOfEeprom);
  auto pos = std::lower_bound(app->files.begin(), app->files.end(), f.id,
                              [](const File& a, uint8_t id) { return a.id < id; });
  app->files.insert(pos, std::move(f));
  return Result{};
}

Card::Result Card::DeleteFile(Ins ins, ByteSpan data) {
  Bytes body;
  if (Sw sw = UnwrapManagement(ins, data, body); sw != Sw::kOk) return Error(sw);
  if (body.size() != 1) return Error(Sw::kLengthError);
  Application* app = CurrentApp();
  if (!app) return Error(Sw::kPermissionDenied);
  if (!app->FindFile(body[0])) return Error(Sw::kFileNotFound);
  if (Sw sw = CheckCreateAccess(); sw != Sw::kOk) return Error(sw);
  const uint8_t id = body[0];
  std::erase_if(app->files, [id](const File& f) { return f.id == id; });
  return Result{};
}

// ---------------------------------------------------------------------------------------
// Data, value and record files.

Card::Result Card::ReadData(Ins ins, ByteSpan data) {
  if (data.empty()) return Error(Sw::kLengthError);
  Application* app = CurrentApp();
  if (!app) return Error(Sw::kPermissionDenied);
  File* f = app->FindFile(data[0]);
  if (!f) return Error(Sw::kFileNotFound);
  if (f->type != FileType::kStandard && f->type != FileType::kBackup) {
    return Error(Sw::kParameterError);
  }
  uint8_t comm = kCommPlain;
  if (Sw sw = CheckFileAccess(*f, {f->access.read, f->access.read_write}, comm); sw != Sw::kOk) {
    return Error(sw);
  }
  Bytes body(data.begin(), data.end());
  if (Sw sw =
          channel_.UnwrapCommand(static_cast<uint8_t>(ins), ReadRequestProtection(comm), {}, body);
      sw != Sw::kOk) {
    return Error(sw);
  }
  if (body.size() != kIoHeaderLength) return Error(Sw::kLengthError);
  const uint32_t offset = LoadLe24(body.data() + 1);
  uint32_t length = LoadLe24(body.data() + 4);
  const uint32_t size = static_cast<uint32_t>(f->data.size());
  if (offset >= size || length > size - offset) return Error(Sw::kBoundaryError);
  const bool whole = length == 0;
  if (whole) length = size - offset;
  Result r;
  r.data.assign(f->data.begin() + offset, f->data.begin() + offset + length);
  r.protection = ReadProtection(comm, whole);
  return r;
}

Card::Result Card::WriteData(Ins ins, ByteSpan data) {
  if (data.size() < kIoHeaderLength) return Error(Sw::kLengthError);
  Application* app = CurrentApp();
  if (!app) return Error(Sw::kPermissionDenied);
  File* f = app->FindFile(data[0]);
  if (!f) return Error(Sw::kFileNotFound);
  if (f->type != FileType::kStandard && f->type != FileType::kBackup) {
    return Error(Sw::kParameterError);
  }
  uint8_t comm = kCommPlain;
  if (Sw sw = CheckFileAccess(*f, {f->access.write, f->access.read_write}, comm); sw != Sw::kOk) {
    return Error(sw);
  }
  const uint32_t offset = LoadLe24(data.data() + 1);
  const uint32_t length = LoadLe24(data.data() + 4);
  const uint32_t size = static_cast<uint32_t>(f->data.size());
  if (length == 0) return Error(Sw::kLengthError);
  if (offset >= size || length > size - offset) return Error(Sw::kBoundaryError);
  const CmdProtection prot = WriteProtection(comm);
  const size_t total = kIoHeaderLength + channel_.WireLength(prot, length);
  if (data.size() < total) return NeedMore(total);
  if (data.size() > total) return Error(Sw::kLengthError);
  Bytes body(data.begin() + kIoHeaderLength, data.end());
  if (Sw sw = channel_.UnwrapCommand(static_cast<uint8_t>(ins), prot,
                                     data.subspan(0, kIoHeaderLength), body, length);
      sw != Sw::kOk) {
    return Error(sw);
  }
  if (body.size() != length) return Error(Sw::kLengthError);
  Bytes& target = f->type == FileType::kBackup
                      ? (f->pending_data ? *f->pending_data : f->pending_data.emplace(f->data))
                      : f->data;
  std::copy(body.begin(), body.end(), target.begin() + offset);
  return Reply({}, WriteAckProtection(comm));
}

Card::Result Card::GetValue(Ins ins, ByteSpan data) {
  if (data.empty()) return Error(Sw::kLengthError);
  Application* app = CurrentApp();
  if (!app) return Error(Sw::kPermissionDenied);
  File* f = app->FindFile(data[0]);
  if (!f) return Error(Sw::kFileNotFound);
  if (f->type != FileType::kValue) return Error(Sw::kParameterError);
  uint8_t comm = kCommPlain;
  if (Sw sw = CheckFileAccess(*f, {f->access.read, f->access.write, f->access.read_write}, comm);
      sw != Sw::kOk) {
    return Error(sw);
  }
  Bytes body(data.begin(), data.end());
  if (Sw sw =
          channel_.UnwrapCommand(static_cast<uint8_t>(ins), ReadRequestProtection(comm), {}, body);
      sw != Sw::kOk) {
    return Error(sw);
  }
  if (body.size() != 1) return Error(Sw::kLengthError);
  Result r;
  AppendLe32(static_cast<uint32_t>(f->value), r.data);
  r.protection = ReadProtection(comm, false);
  return r;
}

Card::Result Card::ChangeValue(Ins ins, ByteSpan data) {
  if (data.empty()) return Error(Sw::kLengthError);
  Application* app = CurrentApp();
  if (!app) return Error(Sw::kPermissionDenied);
  File* f = app->FindFile(data[0]);
  if (!f) return Error(Sw::kFileNotFound);
  if (f->type != FileType::kValue) return Error(Sw::kParameterError);
  uint8_t comm = kCommPlain;
  Sw access;
  if (ins == Ins::kCredit) {
    access = CheckFileAccess(*f, {f->access.read_write}, comm);
  } else if (ins == Ins::kDebit) {
    access = CheckFileAccess(*f, {f->access.read, f->access.write, f->access.read_write}, comm);
  } else {
    access = CheckFileAccess(*f, {f->access.write, f->access.read_write}, comm);
  }
  if (access != Sw::kOk) return Error(access);
  Bytes body(data.begin() + 1, data.end());
  if (Sw sw = channel_.UnwrapCommand(static_cast<uint8_t>(ins), WriteProtection(comm),
                                     data.subspan(0, 1), body, kValueLength);
      sw != Sw::kOk) {
    return Error(sw);
  }
  if (body.size() != kValueLength) return Error(Sw::kLengthError);
  const int64_t amount = static_cast<int32_t>(LoadLe32(body.data()));
  if (amount < 0) return Error(Sw::kParameterError);
  const int64_t current = f->pending_value.value_or(f->value);
  int64_t next = current;
  if (ins == Ins::kDebit) {
    next = current - amount;
    if (next < f->lower_limit) return Error(Sw::kBoundaryError);
    f->pending_debits += static_cast<int32_t>(amount);
  } else {
    if (ins == Ins::kLimitedCredit) {
      if (!f->limited_credit_enabled) return Error(Sw::kPermissionDenied);
      if (amount > f->limited_credit_value) return Error(Sw::kBoundaryError);
    }
    next = current + amount;
    if (next > f->upper_limit) return Error(Sw::kBoundaryError);
    f->pending_credited = true;
  }
  f->pending_value = static_cast<int32_t>(next);
  return Reply({}, WriteAckProtection(comm));
}

Card::Result Card::WriteRecord(Ins ins, ByteSpan data) {
  if (data.size() < kIoHeaderLength) return Error(Sw::kLengthError);
  Application* app = CurrentApp();
  if (!app) return Error(Sw::kPermissionDenied);
  File* f = app->FindFile(data[0]);
  if (!f) return Error(Sw::kFileNotFound);
  if (!f->IsRecordFile()) return Error(Sw::kParameterError);
  uint8_t comm = kCommPlain;
  if (Sw sw = CheckFileAccess(*f, {f->access.write, f->access.read_write}, comm); sw != Sw::kOk) {
    return Error(sw);
  }
  const uint32_t offset = LoadLe24(data.data() + 1);
  const uint32_t length = LoadLe24(data.data() + 4);
  if (length == 0) return Error(Sw::kLengthError);
  if (offset >= f->record_size || length > f->record_size - offset) {
    return Error(Sw::kBoundaryError);
  }
  const size_t committed = f->pending_clear ? 0 : f->records.size();
  if (f->type == FileType::kLinearRecord && !f->pending_record && committed >= f->max_records) {
    return Error(Sw::kBoundaryError);
  }
  const CmdProtection prot = WriteProtection(comm);
  const size_t total = kIoHeaderLength + channel_.WireLength(prot, length);
  if (data.size() < total) return NeedMore(total);
  if (data.size() > total) return Error(Sw::kLengthError);
  Bytes body(data.begin() + kIoHeaderLength, data.end());
  if (Sw sw = channel_.UnwrapCommand(static_cast<uint8_t>(ins), prot,
                                     data.subspan(0, kIoHeaderLength), body, length);
      sw != Sw::kOk) {
    return Error(sw);
  }
  if (body.size() != length) return Error(Sw::kLengthError);
  Bytes& rec =
      f->pending_record ? *f->pending_record : f->pending_record.emplace(Bytes(f->record_size, 0));
  std::copy(body.begin(), body.end(), rec.begin() + offset);
  return Reply({}, WriteAckProtection(comm));
}

Card::Result Card::ReadRecords(Ins ins, ByteSpan data) {
  if (data.empty()) return Error(Sw::kLengthError);
  Application* app = CurrentApp();
  if (!app) return Error(Sw::kPermissionDenied);
  File* f = app->FindFile(data[0]);
  if (!f) return Error(Sw::kFileNotFound);
  if (!f->IsRecordFile()) return Error(Sw::kParameterError);
  uint8_t comm = kCommPlain;
  if (Sw sw = CheckFileAccess(*f, {f->access.read, f->access.read_write}, comm); sw != Sw::kOk) {
    return Error(sw);
  }
  Bytes body(data.begin(), data.end());
  if (Sw sw =
          channel_.UnwrapCommand(static_cast<uint8_t>(ins), ReadRequestProtection(comm), {}, body);
      sw != Sw::kOk) {
    return Error(sw);
  }
  if (body.size() != kIoHeaderLength) return Error(Sw::kLengthError);
  const size_t offset = LoadLe24(body.data() + 1);  // 0 = newest record
  size_t count = LoadLe24(body.data() + 4);         // 0 = all from offset back
  const size_t n = f->records.size();
  if (offset >= n || count > n - offset) return Error(Sw::kBoundaryError);
  const bool whole = count == 0;
  if (whole) count = n - offset;
  Result r;
  for (size_t i = n - offset - count; i < n - offset; ++i) {
    r.data.insert(r.data.end(), f->records[i].begin(), f->records[i].end());
  }
  r.protection = ReadProtection(comm, whole);
  return r;
}

Card::Result Card::ClearRecordFile(Ins ins, ByteSpan data) {
  Bytes body;
  if (Sw sw = UnwrapManagement(ins, data, body); sw != Sw::kOk) return Error(sw);
  if (body.size() != 1) return Error(Sw::kLengthError);
  Application* app = CurrentApp();
  if (!app) return Error(Sw::kPermissionDenied);
  File* f = app->FindFile(body[0]);
  if (!f) return Error(Sw::kFileNotFound);
  if (!f->IsRecordFile()) return Error(Sw::kParameterError);
  uint8_t comm = kCommPlain;
  if (Sw sw = CheckFileAccess(*f, {f->access.read_write}, comm); sw != Sw::kOk) {
    return Error(sw);
  }
  f->pending_clear = true;
  f->pending_record.reset();
  return Result{};
}

Card::Result Card::CommitTransaction(Ins ins, ByteSpan data) {
  Bytes body;
  if (Sw sw = UnwrapManagement(ins, data, body); sw != Sw::kOk) return Error(sw);
  if (body.size() > 1) return Error(Sw::kLengthError);
  Application* app = CurrentApp();
  if (!app) return Result{};
  for (File& f : app->files) {
    if (f.pending_data) {
      f.data = std::move(*f.pending_data);
    }
    if (f.pending_value) {
      f.value = *f.pending_value;
      if (f.pending_debits > 0) {
        f.limited_credit_value = f.pending_debits;
      } else if (f.pending_credited) {
        f.limited_credit_value = 0;
      }
    }
    if (f.pending_clear) f.records.clear();
    if (f.pending_record) {
      const size_t keep = f.type == FileType::kCyclicRecord ? f.max_records - 1 : f.max_records;
      while (!f.records.empty() && f.records.size() >= keep) f.records.pop_front();
      f.records.push_back(std::move(*f.pending_record));
    }
  }
  AbortTransaction();  // clears the pending parts
  return Result{};
}

Card::Result Card::AbortTransactionCmd(Ins ins, ByteSpan data) {
  Bytes body;
  if (Sw sw = UnwrapManagement(ins, data, body); sw != Sw::kOk) return Error(sw);
  if (!body.empty()) return Error(Sw::kLengthError);
  AbortTransaction();
  return Result{};
}

}  // namespace desfired::sim
