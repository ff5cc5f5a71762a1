// DesfireCard's Transaction MAC commands (card.h, tmac.h): CreateTransactionMACFile,
// CommitReaderID, CommitTransaction with option 01, and the host's copy of the Transaction MAC
// Input of the open transaction.
#include <utility>

#include "absl/strings/str_format.h"
#include "core/apdu/status_payload.h"
#include "core/desfire/card.h"
#include "core/desfire/status.h"
#include "core/util/status_macros.h"

namespace desfired::desfire {
namespace {

constexpr uint8_t kTmacKeyOptionAes = 0x02;
constexpr uint8_t kCommitOptionTmac = 0x01;
constexpr size_t kTmacKeyLength = 16;

absl::Status NeedsSession(absl::string_view op, absl::string_view what) {
  return apdu::WithReason(absl::FailedPreconditionError(absl::StrFormat("%s needs %s", op, what)),
                          kReasonNotAuthenticated);
}

}  // namespace

void DesfireCard::CollectTmi(ByteSpan params, ByteSpan data) {
  AppendTmi(tmi_, params);
  if (!data.empty()) AppendTmi(tmi_, data);
}

void DesfireCard::ResetTransaction() {
  tmi_.clear();
  reader_id_.clear();
}

absl::Status DesfireCard::CreateTransactionMacFile(const TransactionMacFileSpec& spec) {
  if (spec.file_no > 0x1F) return absl::InvalidArgumentError("file number must be 0..31");
  if (spec.key.size() != kTmacKeyLength) {
    return absl::InvalidArgumentError("the Transaction MAC key is an AES-128 key (16 bytes)");
  }
  if (!session_.authenticated()) {
    return NeedsSession("CreateTransactionMACFile", "a session (the key travels enciphered)");
  }
  const uint16_t rights = spec.access.Encode();
  Bytes data(spec.key.begin(), spec.key.end());
  data.push_back(spec.key_version);
  settings_cache_.erase(spec.file_no);
  absl::Status s = Run({.ins = Ins::kCreateTransactionMacFile,
                        .header = {spec.file_no, static_cast<uint8_t>(spec.comm_mode),
                                   static_cast<uint8_t>(rights), static_cast<uint8_t>(rights >> 8),
                                   kTmacKeyOptionAes},
                        .data = std::move(data),
                        .command_mode = CommMode::kFull,
                        .response_mode = MacInEv2()})
                       .status();
  return s;
}

absl::StatusOr<TransactionMac> DesfireCard::CommitTransactionMac() {
  TransactionMac mac;
  mac.tmi = std::move(tmi_);
  mac.reader_id = std::move(reader_id_);
  ResetTransaction();
  last_tmac_.reset();
  DESFIRED_ASSIGN_OR_RETURN(Bytes answer, Run({.ins = Ins::kCommitTransaction,
                                               .header = {kCommitOptionTmac},
                                               .command_mode = MacInEv2(),
                                               .response_mode = MacInEv2()}));
  DESFIRED_RETURN_IF_ERROR(DecodeCommitAnswer(answer, mac));
  last_tmac_ = mac;
  return mac;
}

absl::StatusOr<Bytes> DesfireCard::CommitReaderId(ByteSpan reader_id) {
  if (reader_id.size() != kTmriLength) {
    return absl::InvalidArgumentError("reader id must be 16 bytes");
  }
  if (session_.scheme() != AuthScheme::kEv2) {
    return NeedsSession("CommitReaderID", "an EV2 session");
  }
  DESFIRED_ASSIGN_OR_RETURN(Bytes enc_tmri, Run({.ins = Ins::kCommitReaderId,
                                                 .data = Bytes(reader_id.begin(), reader_id.end()),
                                                 .command_mode = CommMode::kMac,
                                                 .response_mode = CommMode::kFull,
                                                 .response_length = kTmriLength}));
  Bytes entry = {static_cast<uint8_t>(Ins::kCommitReaderId)};
  entry.insert(entry.end(), reader_id.begin(), reader_id.end());
  entry.insert(entry.end(), enc_tmri.begin(), enc_tmri.end());
  CollectTmi(entry);
  reader_id_.assign(reader_id.begin(), reader_id.end());
  return enc_tmri;
}

}  // namespace desfired::desfire
