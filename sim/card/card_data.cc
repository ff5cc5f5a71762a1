// Card: the data, value and record file commands and the transaction (commit, abort).
#include <algorithm>

#include "sim/card/card.h"
#include "sim/card/card_internal.h"
#include "sim/card/sdm.h"

namespace desfired::sim {
namespace {

RespProtection ReadProtection(uint8_t comm, bool whole) {
  if (comm == kCommFull) return whole ? RespProtection::kFullPad80 : RespProtection::kFull;
  if (comm == kCommMac) return RespProtection::kMac;
  return RespProtection::kPlain;
}
RespProtection WriteAckProtection(uint8_t comm) {
  return comm == kCommPlain ? RespProtection::kPlain : RespProtection::kMacEv2;
}

// The TMI parameters of a read or write: Cmd ‖ FileNo ‖ Offset (3) ‖ Length (3), the length
// the bytes that moved (a read of "all" counts what it returned).
Bytes TmiParams(Ins ins, uint8_t file_no, uint32_t offset, uint32_t length) {
  Bytes p = {static_cast<uint8_t>(ins), file_no};
  AppendLe24(offset, p);
  AppendLe24(length, p);
  return p;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Data, value and record files.

Card::Result Card::ReadData(Ins ins, ByteSpan data) {
  File* f = nullptr;
  if (Sw sw = FileOfCommand(data, f); sw != Sw::kOk) return Error(sw);
  if (!IsDataFile(*f) && f->type != FileType::kTransactionMac) {
    return Error(Sw::kParameterError);
  }
  uint8_t comm = kCommPlain;
  Bytes body;
  if (Sw sw = UnwrapRead(ins, data, *f, comm, body); sw != Sw::kOk) return Error(sw);
  // A TransactionMAC file reads as TMC ‖ TMV of the last committed transaction (12 bytes).
  Bytes tmac_content;
  if (f->type == FileType::kTransactionMac) {
    AppendLe32(f->tmc, tmac_content);
    tmac_content.insert(tmac_content.end(), f->tmv.begin(), f->tmv.end());
  }
  const Bytes& content = f->type == FileType::kTransactionMac ? tmac_content : f->data;
  const uint32_t offset = LoadLe24(body.data() + 1);
  uint32_t length = LoadLe24(body.data() + 4);
  const uint32_t size = static_cast<uint32_t>(content.size());
  if (offset >= size || length > size - offset) return Error(Sw::kBoundaryError);
  const bool whole = length == 0;
  if (whole) length = size - offset;
  Result r;
  if (f->sdm && comm == kCommPlain) {
    // A plain read of an SDM file: the counter counts it, the mirrors fill the copy sent.
    Bytes shown;
    if (Sw sw = SdmContent(*f, shown); sw != Sw::kOk) return Error(sw);
    r.data.assign(shown.begin() + offset, shown.begin() + offset + length);
  } else {
    r.data.assign(content.begin() + offset, content.begin() + offset + length);
  }
  r.protection = ReadProtection(comm, whole);
  CollectTmi(*f, TmiParams(ins, f->id, offset, length), r.data);
  return r;
}

Sw Card::SdmContent(File& f, Bytes& shown) {
  const SdmConfig& config = *f.sdm;
  if (config.ctr_limit && f.sdm_read_counter >= *config.ctr_limit) return Sw::kPermissionDenied;
  if (f.sdm_read_counter >= 0xFFFFFF) return Sw::kPermissionDenied;
  Application* app = CurrentApp();
  auto key_of = [app](uint8_t key_no) -> ByteSpan {
    if (app == nullptr || key_no >= app->keys.size()) return {};
    const Key& key = app->keys[key_no];
    return key.type == crypto::KeyType::kAes128 ? ByteSpan(key.value) : ByteSpan();
  };
  const uint32_t counter = f.sdm_read_counter + 1;
  shown = f.data;
  const SdmInputs in{.uid = state_.uid,
                     .counter = counter,
                     .meta_key = config.EncryptsPiccData() ? key_of(config.meta_read) : ByteSpan(),
                     .file_key = config.Macs() ? key_of(config.file_read) : ByteSpan(),
                     .lrp = auth_.lrp_mode()};
  if (Sw sw = MirrorSdm(config, in, random_, shown); sw != Sw::kOk) return sw;
  f.sdm_read_counter = counter;
  return Sw::kOk;
}

Card::Result Card::WriteData(Ins ins, ByteSpan data) {
  if (data.size() < kIoHeaderLength) return Error(Sw::kLengthError);
  File* f = nullptr;
  if (Sw sw = FileOfCommand(data, f); sw != Sw::kOk) return Error(sw);
  if (!IsDataFile(*f)) return Error(Sw::kParameterError);
  uint8_t comm = kCommPlain;
  if (Sw sw = CheckFileAccess(*f, {f->access.write, f->access.read_write}, comm); sw != Sw::kOk) {
    return Error(sw);
  }
  const uint32_t offset = LoadLe24(data.data() + 1);
  const uint32_t length = LoadLe24(data.data() + 4);
  const uint32_t size = static_cast<uint32_t>(f->data.size());
  if (length == 0) return Error(Sw::kLengthError);
  if (offset >= size || length > size - offset) return Error(Sw::kBoundaryError);
  Bytes body;
  if (std::optional<Result> answer = UnwrapWrite(ins, data, comm, length, body)) return *answer;
  std::copy(body.begin(), body.end(), WriteTarget(*f).begin() + offset);
  CollectTmi(*f, TmiParams(ins, f->id, offset, length), body);
  return Reply({}, WriteAckProtection(comm));
}

Card::Result Card::GetValue(Ins ins, ByteSpan data) {
  File* f = nullptr;
  if (Sw sw = FileOfCommand(data, f); sw != Sw::kOk) return Error(sw);
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
  Bytes params = {static_cast<uint8_t>(ins), f->id};
  params.insert(params.end(), r.data.begin(), r.data.end());
  CollectTmi(*f, params);
  return r;
}

Card::Result Card::ChangeValue(Ins ins, ByteSpan data) {
  File* f = nullptr;
  if (Sw sw = FileOfCommand(data, f); sw != Sw::kOk) return Error(sw);
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
  Bytes params = {static_cast<uint8_t>(ins), f->id};
  params.insert(params.end(), body.begin(), body.end());
  CollectTmi(*f, params);
  return Reply({}, WriteAckProtection(comm));
}

Card::Result Card::WriteRecord(Ins ins, ByteSpan data) {
  if (data.size() < kIoHeaderLength) return Error(Sw::kLengthError);
  File* f = nullptr;
  if (Sw sw = FileOfCommand(data, f); sw != Sw::kOk) return Error(sw);
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
  Bytes body;
  if (std::optional<Result> answer = UnwrapWrite(ins, data, comm, length, body)) return *answer;
  Bytes& rec =
      f->pending_record ? *f->pending_record : f->pending_record.emplace(Bytes(f->record_size, 0));
  std::copy(body.begin(), body.end(), rec.begin() + offset);
  CollectTmi(*f, TmiParams(ins, f->id, offset, length), body);
  return Reply({}, WriteAckProtection(comm));
}

Card::Result Card::ReadRecords(Ins ins, ByteSpan data) {
  File* f = nullptr;
  if (Sw sw = FileOfCommand(data, f); sw != Sw::kOk) return Error(sw);
  if (!f->IsRecordFile()) return Error(Sw::kParameterError);
  uint8_t comm = kCommPlain;
  Bytes body;
  if (Sw sw = UnwrapRead(ins, data, *f, comm, body); sw != Sw::kOk) return Error(sw);
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
  CollectTmi(*f, TmiParams(ins, f->id, static_cast<uint32_t>(offset), static_cast<uint32_t>(count)),
             r.data);
  return r;
}

Card::Result Card::ClearRecordFile(Ins ins, ByteSpan data) {
  Application* app = nullptr;
  File* f = nullptr;
  if (Sw sw = ManagedFile(ins, data, app, f); sw != Sw::kOk) return Error(sw);
  if (!f->IsRecordFile()) return Error(Sw::kParameterError);
  uint8_t comm = kCommPlain;
  if (Sw sw = CheckFileAccess(*f, {f->access.read_write}, comm); sw != Sw::kOk) {
    return Error(sw);
  }
  f->pending_clear = true;
  f->pending_record.reset();
  CollectTmi(*f, Bytes{static_cast<uint8_t>(ins), f->id});
  return Result{};
}

Card::Result Card::CommitTransaction(Ins ins, ByteSpan data) {
  Bytes body;
  if (Sw sw = UnwrapManagement(ins, data, body); sw != Sw::kOk) return Error(sw);
  if (body.size() > 1) return Error(Sw::kLengthError);
  if (!body.empty() && (body[0] & ~kCommitOptionTmac) != 0) return Error(Sw::kParameterError);
  const bool want_tmac = !body.empty() && body[0] == kCommitOptionTmac;
  if (Sw sw = CheckTmacCommit(want_tmac); sw != Sw::kOk) return Error(sw);
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
  Bytes answer = CommitTmac(want_tmac);
  AbortTransaction();  // clears the pending parts and the TMI
  return Reply(std::move(answer));
}

Card::Result Card::AbortTransactionCmd(Ins ins, ByteSpan data) {
  Bytes body;
  if (Sw sw = UnwrapManagement(ins, data, body); sw != Sw::kOk) return Error(sw);
  if (!body.empty()) return Error(Sw::kLengthError);
  AbortTransaction();
  return Result{};
}
}  // namespace desfired::sim
