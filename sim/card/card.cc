#include "sim/card/card.h"

#include <algorithm>
#include <cstring>

#include "core/crypto/random.h"
#include "sim/card/card_internal.h"

namespace desfired::sim {
namespace {

using crypto::KeyType;

constexpr size_t kWrappedHeader = 4;  // CLA INS P1 P2

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
    case Ins::kReadSig:
    case Ins::kGetFileIds:
    case Ins::kGetIsoFileIds:
    case Ins::kGetFileSettings:
    case Ins::kChangeFileSettings:
    case Ins::kCreateStdDataFile:
    case Ins::kCreateBackupDataFile:
    case Ins::kCreateValueFile:
    case Ins::kCreateLinearRecordFile:
    case Ins::kCreateCyclicRecordFile:
    case Ins::kCreateTransactionMacFile:
    case Ins::kCommitReaderId:
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
  if (apdu.empty()) return IsoAnswer(IsoSw::kWrongLength);
  const uint8_t cla = apdu[0];
  if (cla == kClaReader) return TransmitReader(apdu);
  if (cla == kClaIso) return TransmitIso(apdu);
  if (cla == kClaNativeWrapped) {
    if (apdu.size() < kWrappedHeader) return IsoAnswer(IsoSw::kWrongLength);
    if (apdu[2] != 0 || apdu[3] != 0) return IsoAnswer(IsoSw::kWrongP1P2);
    ByteSpan data;
    if (apdu.size() > kWrappedHeader + 1) {
      const size_t lc = apdu[4];
      if (lc == 0) return IsoAnswer(IsoSw::kWrongLength);
      const size_t n = apdu.size() - kWrappedHeader - 1;
      if (n != lc && n != lc + 1) return IsoAnswer(IsoSw::kWrongLength);
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
    return IsoAnswer(IsoSw::kClaNotSupported);
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
  if (apdu.size() < kWrappedHeader) return IsoAnswer(IsoSw::kWrongLength);
  if (apdu[1] != kInsReaderGetData) return IsoAnswer(IsoSw::kInsNotSupported);
  if (apdu[2] > kP1GetDataHistorical || apdu[3] != 0) {
    return IsoAnswer(IsoSw::kFunctionNotSupported);
  }
  if (apdu.size() > kWrappedHeader + 1) return IsoAnswer(IsoSw::kWrongLength);
  if (apdu[2] == kP1GetDataHistorical) {
    const ByteSpan hist = AtsHistoricalBytes(ats_);
    return IsoAnswer(IsoSw::kOk, Bytes(hist.begin(), hist.end()));
  }
  return IsoAnswer(IsoSw::kOk, reader_uid_);
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
  const bool success =
      r.status == Sw::kOk || r.status == Sw::kNoChanges || (r.raw && r.status == Sw::kSignature);
  if (!success && !(r.raw && r.status == Sw::kAdditionalFrame)) {
    channel_.Reset();
    return {r.status, {}};
  }
  size_t chunk = kMaxResponseFrameData;
  if (!r.raw) {
    const bool full = r.protection == RespProtection::kFull ||
                      r.protection == RespProtection::kFullPad80 ||
                      r.protection == RespProtection::kFullNoPad;
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
    case Ins::kReadSig:
      return ReadSig(data);
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
    case Ins::kCreateTransactionMacFile:
      return CreateTransactionMacFile(ins, data);
    case Ins::kCommitReaderId:
      return CommitReaderId(ins, data);
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
  tmi_.clear();
  tmri_cur_.reset();
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
  iso_ef_.reset();
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

Sw Card::CheckPiccListing(Ins ins, ByteSpan data) {
  Bytes body;
  if (Sw sw = UnwrapManagement(ins, data, body); sw != Sw::kOk) return sw;
  if (!body.empty()) return Sw::kLengthError;
  if (selected_) return Sw::kPermissionDenied;
  return CheckDirectoryAccess();
}

Sw Card::ManagedFile(Ins ins, ByteSpan data, Application*& app, File*& f) {
  Bytes body;
  if (Sw sw = UnwrapManagement(ins, data, body); sw != Sw::kOk) return sw;
  if (body.size() != 1) return Sw::kLengthError;
  app = CurrentApp();
  if (!app) return Sw::kPermissionDenied;
  f = app->FindFile(body[0]);
  return f ? Sw::kOk : Sw::kFileNotFound;
}

std::optional<Card::Result> Card::UnwrapWrite(Ins ins, ByteSpan data, uint8_t comm, uint32_t length,
                                              Bytes& body) {
  const CmdProtection prot = WriteProtection(comm);
  const size_t total = kIoHeaderLength + channel_.WireLength(prot, length);
  if (data.size() < total) return NeedMore(total);
  if (data.size() > total) return Error(Sw::kLengthError);
  body.assign(data.begin() + kIoHeaderLength, data.end());
  if (Sw sw = channel_.UnwrapCommand(static_cast<uint8_t>(ins), prot,
                                     data.subspan(0, kIoHeaderLength), body, length);
      sw != Sw::kOk) {
    return Error(sw);
  }
  if (body.size() != length) return Error(Sw::kLengthError);
  return std::nullopt;
}

Sw Card::FileOfCommand(ByteSpan data, File*& f) {
  if (data.empty()) return Sw::kLengthError;
  Application* app = CurrentApp();
  if (!app) return Sw::kPermissionDenied;
  f = app->FindFile(data[0]);
  return f ? Sw::kOk : Sw::kFileNotFound;
}

Sw Card::UnwrapRead(Ins ins, ByteSpan data, const File& f, uint8_t& comm, Bytes& header) {
  comm = kCommPlain;
  // A TransactionMAC file's RW nibble is CommitReaderID's right, not a read right.
  const Sw access = f.type == FileType::kTransactionMac
                        ? CheckFileAccess(f, {f.access.read}, comm)
                        : CheckFileAccess(f, {f.access.read, f.access.read_write}, comm);
  if (access != Sw::kOk) return access;
  header.assign(data.begin(), data.end());
  if (Sw sw = channel_.UnwrapCommand(static_cast<uint8_t>(ins), ReadRequestProtection(comm), {},
                                     header);
      sw != Sw::kOk) {
    return sw;
  }
  return header.size() == kIoHeaderLength ? Sw::kOk : Sw::kLengthError;
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
}  // namespace desfired::sim
