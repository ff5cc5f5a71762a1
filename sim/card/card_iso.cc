// Card: the ISO/IEC 7816-4 file commands (CLA 00), written from ISO/IEC 7816-4 and the
// public descriptions of DESFire's ISO commands (docs/ev3.md "ISO 7816-4 file access"):
//
//   A4 SELECT FILE     P1 00: 3F00 (the PICC level), an EF of the current application or an
//                      application by ISO FID; 02: an EF of the current application; 04: a DF
//                      name. P2 00 or 0C (no FCI is returned either way).
//   B0 READ BINARY     P1 b8 = 1: SFI (= file number) in b5..b1, offset P2; else the current
//                      EF and offset P1 P2. Le 00 = up to 256 bytes to the end of the file.
//   D6 UPDATE BINARY   addressed as READ BINARY; no Le. Backup files change in the transaction.
//   B2 READ RECORD(S)  P1 record number (1: the newest), P2 = SFI << 3 | 4 (that record) or 5
//                      (it and all older ones); SFI 0 the current EF.
//   E2 APPEND RECORD   P1 00, P2 = SFI << 3; 1..record-size bytes, zero filled; one record per
//                      transaction (CommitTransaction keeps it, as WriteRecord's).
//
// The commands are plain: a file reached only with a key needs a native EV2 or LRP
// authentication first and must be in plain communication mode; MAC and full files, and any
// file inside an EV1 or legacy session, answer 69 82. They leave an EV2/LRP session as it is
// (no command counter step). Selecting a DF (P1 00 naming 3F00 or an application, P1 04)
// ends the session and rolls back the transaction, as SelectApplication does; selecting an EF
// keeps them. Any error status ends the session, as a native error does.
#include <algorithm>

#include "sim/card/card.h"
#include "sim/card/card_internal.h"

namespace desfired::sim {
namespace {

constexpr size_t kHeader = 4;
constexpr uint8_t kInsReadBinary = 0xB0;
constexpr uint8_t kInsUpdateBinary = 0xD6;
constexpr uint8_t kInsReadRecord = 0xB2;
constexpr uint8_t kInsAppendRecord = 0xE2;
constexpr uint8_t kP1SelectFileId = 0x00;
constexpr uint8_t kP1SelectChildEf = 0x02;
constexpr uint8_t kP2NoFci = 0x0C;
constexpr uint8_t kSfiFlag = 0x80;
constexpr uint8_t kRecordOne = 0x04;
constexpr uint8_t kRecordAndOlder = 0x05;
constexpr uint16_t kMasterFile = 0x3F00;
constexpr size_t kMaxNe = 256;

// A parsed short command APDU: data (Lc) and Ne (Le; 00 = 256), each absent when not sent.
struct Apdu {
  uint8_t ins = 0;
  uint8_t p1 = 0;
  uint8_t p2 = 0;
  ByteSpan data;
  std::optional<size_t> ne;
};

bool ParseApdu(ByteSpan apdu, Apdu& out) {
  if (apdu.size() < kHeader) return false;
  out.ins = apdu[1];
  out.p1 = apdu[2];
  out.p2 = apdu[3];
  const ByteSpan body = apdu.subspan(kHeader);
  if (body.empty()) return true;
  if (body.size() == 1) {
    out.ne = body[0] == 0 ? kMaxNe : body[0];
    return true;
  }
  const size_t lc = body[0];
  if (lc == 0 || (body.size() != 1 + lc && body.size() != 2 + lc)) return false;
  out.data = body.subspan(1, lc);
  if (body.size() == 2 + lc) out.ne = body.back() == 0 ? kMaxNe : body.back();
  return true;
}

}  // namespace

Bytes Card::TransmitIso(ByteSpan apdu) {
  Apdu a;
  if (!ParseApdu(apdu, a)) return IsoAnswer(IsoSw::kWrongLength);
  // An ISO command ends any chaining of a native one.
  pending_out_.clear();
  pending_ins_.reset();
  pending_in_.clear();
  auth_.Cancel();
  Bytes out;
  switch (a.ins) {
    case kInsIsoSelect:
      if (a.data.empty()) {  // Le, when sent, is taken (no FCI is returned)
        out = IsoAnswer(IsoSw::kWrongLength);
      } else if (a.p2 != 0x00 && a.p2 != kP2NoFci) {
        out = IsoAnswer(IsoSw::kWrongP1P2);
      } else {
        out = IsoSelectFile(a.p1, a.data);
      }
      break;
    case kInsReadBinary:
    case kInsUpdateBinary:
      out = IsoBinary(a.ins, a.p1, a.p2, a.data, a.ne);
      break;
    case kInsReadRecord:
    case kInsAppendRecord:
      out = IsoRecord(a.ins, a.p1, a.p2, a.data, a.ne);
      break;
    default:
      out = IsoAnswer(IsoSw::kInsNotSupported);
  }
  const size_t n = out.size();
  if (out[n - 2] != 0x90 || out[n - 1] != 0x00) channel_.Reset();  // errors end the session
  return out;
}

Bytes Card::IsoSelectFile(uint8_t p1, ByteSpan id) {
  if (p1 == kP1SelectByDfName) {
    if (id == ByteSpan(kDesfireDfName, sizeof(kDesfireDfName))) {
      Select(std::nullopt);
      return IsoAnswer(IsoSw::kOk);
    }
    for (const Application& app : state_.applications) {
      if (!app.df_name.empty() && ByteSpan(app.df_name) == id) {
        Select(app.aid);
        return IsoAnswer(IsoSw::kOk);
      }
    }
    return IsoAnswer(IsoSw::kFileNotFound);
  }
  if (p1 != kP1SelectFileId && p1 != kP1SelectChildEf) return IsoAnswer(IsoSw::kWrongP1P2);
  if (id.size() != 2) return IsoAnswer(IsoSw::kWrongLength);
  const uint16_t fid = static_cast<uint16_t>(id[0] << 8 | id[1]);
  if (Application* app = CurrentApp()) {
    for (const File& f : app->files) {
      if (f.iso_fid == fid) {
        iso_ef_ = f.id;  // an EF: the session and the transaction go on
        return IsoAnswer(IsoSw::kOk);
      }
    }
  }
  if (p1 == kP1SelectFileId) {
    if (fid == kMasterFile) {
      Select(std::nullopt);
      return IsoAnswer(IsoSw::kOk);
    }
    for (const Application& app : state_.applications) {
      if (app.iso_fid == fid) {
        Select(app.aid);
        return IsoAnswer(IsoSw::kOk);
      }
    }
  }
  return IsoAnswer(IsoSw::kFileNotFound);
}

IsoSw Card::IsoFileOf(std::optional<uint8_t> sfi, bool write, File*& f) {
  Application* app = CurrentApp();
  if (!sfi && !iso_ef_) return IsoSw::kNoCurrentEf;
  f = app ? app->FindFile(sfi.value_or(iso_ef_.value_or(0))) : nullptr;
  if (!f) return IsoSw::kFileNotFound;
  iso_ef_ = f->id;
  const AccessRights& r = f->access;
  uint8_t comm = kCommPlain;
  const Sw access = write ? CheckFileAccess(*f, {r.write, r.read_write}, comm)
                          : CheckFileAccess(*f, {r.read, r.read_write}, comm);
  const AuthScheme scheme = channel_.scheme();
  const bool ev1 = scheme == AuthScheme::kEv1 || scheme == AuthScheme::kLegacy;
  if (access != Sw::kOk || comm != kCommPlain || ev1) return IsoSw::kSecurityNotSatisfied;
  return IsoSw::kOk;
}

Bytes Card::IsoBinary(uint8_t ins, uint8_t p1, uint8_t p2, ByteSpan data,
                      std::optional<size_t> ne) {
  const bool write = ins == kInsUpdateBinary;
  std::optional<uint8_t> sfi;
  uint32_t offset = static_cast<uint32_t>(p1) << 8 | p2;
  if (p1 & kSfiFlag) {
    if (p1 & 0x60) return IsoAnswer(IsoSw::kWrongP1P2);
    sfi = p1 & kMaxFileId;
    offset = p2;
  }
  if (write ? (data.empty() || ne.has_value()) : (!data.empty() || !ne.has_value())) {
    return IsoAnswer(IsoSw::kWrongLength);
  }
  File* f = nullptr;
  if (IsoSw sw = IsoFileOf(sfi, write, f); sw != IsoSw::kOk) return IsoAnswer(sw);
  if (!IsDataFile(*f)) return IsoAnswer(IsoSw::kIncompatibleFile);
  const size_t size = f->data.size();
  if (offset >= size) return IsoAnswer(IsoSw::kWrongOffset);
  if (!write) {
    const size_t n = *ne == kMaxNe ? std::min(kMaxNe, size - offset) : *ne;
    if (n > size - offset) return IsoAnswer(IsoSw::kWrongLength);
    if (f->sdm) {
      // ISO reads are plain: an SDM file counts the read and mirrors as a plain ReadData does
      // (how a phone reads an NTAG 424 DNA's NDEF file).
      Bytes shown;
      if (SdmContent(*f, shown) != Sw::kOk) return IsoAnswer(IsoSw::kConditionsNotSatisfied);
      return IsoAnswer(IsoSw::kOk, Bytes(shown.begin() + offset, shown.begin() + offset + n));
    }
    return IsoAnswer(IsoSw::kOk, Bytes(f->data.begin() + offset, f->data.begin() + offset + n));
  }
  if (data.size() > size - offset) return IsoAnswer(IsoSw::kWrongLength);
  std::copy(data.begin(), data.end(), WriteTarget(*f).begin() + offset);
  return IsoAnswer(IsoSw::kOk);
}

Bytes Card::IsoRecord(uint8_t ins, uint8_t p1, uint8_t p2, ByteSpan data,
                      std::optional<size_t> ne) {
  const bool append = ins == kInsAppendRecord;
  const uint8_t mode = p2 & 0x07;
  if (append ? (p1 != 0 || mode != 0)
             : (p1 == 0 || (mode != kRecordOne && mode != kRecordAndOlder))) {
    return IsoAnswer(IsoSw::kWrongP1P2);
  }
  if (append ? (data.empty() || ne.has_value()) : (!data.empty() || !ne.has_value())) {
    return IsoAnswer(IsoSw::kWrongLength);
  }
  std::optional<uint8_t> sfi;
  if (p2 >> 3) sfi = static_cast<uint8_t>(p2 >> 3);
  File* f = nullptr;
  if (IsoSw sw = IsoFileOf(sfi, append, f); sw != IsoSw::kOk) return IsoAnswer(sw);
  if (!f->IsRecordFile()) return IsoAnswer(IsoSw::kIncompatibleFile);
  if (append) {
    if (data.size() > f->record_size) return IsoAnswer(IsoSw::kWrongLength);
    if (f->pending_record) return IsoAnswer(IsoSw::kConditionsNotSatisfied);
    const size_t committed = f->pending_clear ? 0 : f->records.size();
    if (f->type == FileType::kLinearRecord && committed >= f->max_records) {
      return IsoAnswer(IsoSw::kFileFull);
    }
    Bytes& rec = f->pending_record.emplace(Bytes(f->record_size, 0));
    std::copy(data.begin(), data.end(), rec.begin());
    return IsoAnswer(IsoSw::kOk);
  }
  const size_t n = f->records.size();
  if (p1 > n) return IsoAnswer(IsoSw::kRecordNotFound);
  const size_t last = mode == kRecordAndOlder ? n : p1;  // records p1..last, 1 the newest
  Bytes out;
  for (size_t no = p1; no <= last; ++no) {
    const Bytes& rec = f->records[n - no];
    out.insert(out.end(), rec.begin(), rec.end());
  }
  if (out.size() > *ne) return IsoAnswer(IsoSw::kWrongLength);
  return IsoAnswer(IsoSw::kOk, std::move(out));
}

}  // namespace desfired::sim
