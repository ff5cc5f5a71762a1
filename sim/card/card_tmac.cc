// Card: Transaction MAC (DESFire EV2/EV3, DESFire Light): CreateTransactionMACFile, the
// Transaction MAC Input of the open transaction, CommitReaderID and CommitTransaction's TMC and
// TMV. The arithmetic is in tmac_crypto.h; what each command adds to the TMI follows the
// DESFire Light data sheet (MF2DLHX0 §10.3) as public sources quote it
// (../shared/vectors/ev3_vectors.md §6; NXP's reader library phalMfdfEVx for CommitReaderID:
// Cmd ‖ TMRI ‖ EncTMRI, zero-padded, in an authenticated session; Cmd ‖ TMRI otherwise).
//
// Where the public sources are silent the emulator chooses, and the host (core/desfire) does
// the same, written separately: reads of the TransactionMAC file and the ISO commands add
// nothing to the TMI; a transaction with nothing in its TMI leaves TMC and TMV as they are;
// a second CommitReaderID in one transaction is refused (PERMISSION_DENIED).
#include <algorithm>

#include "sim/card/card.h"
#include "sim/card/card_internal.h"
#include "sim/card/tmac_crypto.h"

namespace desfired::sim {

File* Card::TmacFile() {
  Application* app = CurrentApp();
  if (app == nullptr) return nullptr;
  for (File& f : app->files) {
    if (f.type == FileType::kTransactionMac) return &f;
  }
  return nullptr;
}

void Card::CollectTmi(const File& f, ByteSpan params, ByteSpan data) {
  if (f.type == FileType::kTransactionMac || TmacFile() == nullptr) return;
  AddToTmi(params, tmi_);
  if (!data.empty()) AddToTmi(data, tmi_);
}

Card::Result Card::CreateTransactionMacFile(Ins ins, ByteSpan data) {
  if (data.size() < kTmacHeaderLength) return Error(Sw::kLengthError);
  Application* app = CurrentApp();
  if (!app) return Error(Sw::kPermissionDenied);
  if (Sw sw = CheckCreateAccess(); sw != Sw::kOk) return Error(sw);
  // The key travels enciphered: only inside a session.
  if (!channel_.authenticated()) return Error(Sw::kAuthenticationError);
  Bytes body(data.begin() + kTmacHeaderLength, data.end());
  if (Sw sw = channel_.UnwrapCommand(static_cast<uint8_t>(ins), CmdProtection::kFull,
                                     data.subspan(0, kTmacHeaderLength), body, kTmacKeyLength + 1);
      sw != Sw::kOk) {
    return Error(sw);
  }
  if (body.size() != kTmacKeyLength + 1) return Error(Sw::kLengthError);
  File f;
  f.id = data[0];
  f.type = FileType::kTransactionMac;
  f.comm = (data[1] & kCommModeMask) == kCommFull ? kCommFull : (data[1] & kCommMac);
  f.access = AccessRights::Decode(static_cast<uint16_t>(LoadLe16(data.data() + 2)));
  if (f.id > kMaxFileId || data[4] != kTmacKeyOptionAes) return Error(Sw::kParameterError);
  if (TmacFile() != nullptr) return Error(Sw::kDuplicateError);
  f.tmac_key.assign(body.begin(), body.begin() + kTmacKeyLength);
  f.tmac_key_version = body[kTmacKeyLength];
  if (Sw sw = AddFile(*app, std::move(f)); sw != Sw::kOk) return Error(sw);
  return Result{};
}

Card::Result Card::CommitReaderId(Ins ins, ByteSpan data) {
  File* tm = TmacFile();
  if (tm == nullptr) return Error(Sw::kPermissionDenied);
  const uint8_t right = tm->access.read_write;
  if (right == kAccessNever || tmri_cur_.has_value()) return Error(Sw::kPermissionDenied);
  if (right != kAccessFree && !(channel_.authenticated() && channel_.key_no() == right)) {
    return Error(channel_.authenticated() ? Sw::kPermissionDenied : Sw::kAuthenticationError);
  }
  Bytes body(data.begin(), data.end());
  if (Sw sw = channel_.UnwrapCommand(static_cast<uint8_t>(ins), CmdProtection::kMac, {}, body);
      sw != Sw::kOk) {
    return Error(sw);
  }
  if (body.size() != kReaderIdLength) return Error(Sw::kLengthError);
  Bytes entry = {static_cast<uint8_t>(ins)};
  entry.insert(entry.end(), body.begin(), body.end());
  Result r;
  if (channel_.authenticated()) {
    // EncTMRI: the reader id of the last committed transaction under this one's SesTMENCKey.
    r.data = TmacCardKeys::For(tm->tmac_key, tm->tmc, state_.uid).EncryptReaderId(tm->tmri);
    r.protection = RespProtection::kFullNoPad;
    entry.insert(entry.end(), r.data.begin(), r.data.end());
  }
  AddToTmi(entry, tmi_);
  tmri_cur_ = std::move(body);
  return r;
}

Sw Card::CheckTmacCommit(bool want_tmac) {
  const File* tm = TmacFile();
  if (tm == nullptr) return want_tmac ? Sw::kParameterError : Sw::kOk;
  if (tmi_.empty()) return Sw::kOk;
  // CommitReaderID enabled (a key number or free): the transaction must have named its reader.
  if (tm->access.read_write != kAccessNever && !tmri_cur_.has_value()) {
    return Sw::kPermissionDenied;
  }
  if (tm->tmc == UINT32_MAX) return Sw::kPermissionDenied;  // the counter is spent
  return Sw::kOk;
}

Bytes Card::CommitTmac(bool want_tmac) {
  File* tm = TmacFile();
  if (tm == nullptr) return {};
  if (!tmi_.empty()) {
    tm->tmv = TmacCardKeys::For(tm->tmac_key, tm->tmc, state_.uid).Tmv(tmi_);
    ++tm->tmc;
    if (tmri_cur_) tm->tmri = *tmri_cur_;
  }
  if (!want_tmac) return {};
  Bytes out;
  AppendLe32(tm->tmc, out);
  out.insert(out.end(), tm->tmv.begin(), tm->tmv.end());
  return out;
}

}  // namespace desfired::sim
