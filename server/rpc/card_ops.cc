#include "server/rpc/card_ops.h"

#include <optional>
#include <utility>
#include <vector>

#include "core/apdu/error_metadata.h"
#include "core/apdu/status_payload.h"
#include "core/cardops/cardops.h"
#include "core/util/bytes.h"
#include "core/util/status_macros.h"
#include "proto/convert/card_convert.h"
#include "proto/convert/status_convert.h"
#include "proto/convert/tap_convert.h"

namespace desfired::server {

using apdu::InvalidFieldError;
namespace {

using cardops::CardContext;

cardops::Target TargetOf(const v1::CardTarget& target) {
  const ByteSpan uid = AsBytes(target.expected_uid());
  return {.reader = target.reader(), .expected_uid = Bytes(uid.begin(), uid.end())};
}

// An unset auth reads as the default KeyRef: no key name, no key.
cardops::KeyRef KeyOf(const v1::KeyRef& auth) {
  return {.name = auth.key_name(),
          .key_no = static_cast<uint8_t>(auth.key_number()),
          .scheme = AuthSchemeFromProto(auth.scheme())};
}

uint8_t FileNo(uint32_t file_no) { return static_cast<uint8_t>(file_no); }

Bytes BytesOf(const std::string& data) {
  const ByteSpan span = AsBytes(data);
  return Bytes(span.begin(), span.end());
}

cardops::IsoRef IsoOf(const v1::IsoAccess& iso) {
  cardops::IsoRef out{.enabled = iso.enabled(), .df_name = BytesOf(iso.df_name())};
  if (iso.has_df_file_id()) out.df_file_id = static_cast<uint16_t>(iso.df_file_id());
  if (iso.has_ef_file_id()) out.ef_file_id = static_cast<uint16_t>(iso.ef_file_id());
  return out;
}

// The core request `Core` with the fields card requests share copied from the proto request:
// target and auth always; aid, file_no, comm_mode, defer_commit, page_size, page_token and iso
// where `Core` has them. The caller sets the fields of its own operation.
template <typename Core, typename Request>
Core CoreRequest(const Request& r) {
  Core out;
  out.target = TargetOf(r.target());
  out.auth = KeyOf(r.auth());
  if constexpr (requires { out.aid; }) out.aid = r.aid();
  if constexpr (requires { out.file_no; }) out.file_no = FileNo(r.file_no());
  if constexpr (requires { out.comm_mode; }) out.comm_mode = ModeFromProto(r.communication_mode());
  if constexpr (requires { out.defer_commit; }) out.defer_commit = r.defer_commit();
  if constexpr (requires { out.page_size; }) out.page_size = r.page_size();
  if constexpr (requires { out.page_token; }) out.page_token = r.page_token();
  if constexpr (requires { out.iso; }) out.iso = IsoOf(r.iso());
  return out;
}

// The core request of a value change (Credit, Debit, LimitedCredit).
template <typename Request>
cardops::ValueChangeRequest ValueChangeOf(const Request& r) {
  auto out = CoreRequest<cardops::ValueChangeRequest>(r);
  out.amount = r.amount();
  out.tmac.key_name = r.transaction_mac().key_name();
  out.tmac.reader_id = BytesOf(r.transaction_mac().reader_id());
  return out;
}

void ValueChangeToProto(const cardops::ValueChange& in, v1::ValueChange* out) {
  out->set_committed(in.committed);
  if (in.value_before.has_value()) out->set_value_before(*in.value_before);
  if (in.value_after.has_value()) out->set_value_after(*in.value_after);
  out->set_value_after_derived(in.value_after_derived);
  if (in.transaction_mac.has_value()) {
    v1::TransactionMac* mac = out->mutable_transaction_mac();
    mac->set_tmc(in.transaction_mac->tmc);
    mac->set_tmv(AsString(in.transaction_mac->tmv));
    mac->set_reader_id(AsString(in.transaction_mac->reader_id));
    mac->set_verified(in.transaction_mac->verified);
    mac->set_unverified_reason(in.transaction_mac->unverified_reason);
  }
}

// A value change in the response type `Response` (which has a `change`).
template <typename Response>
absl::StatusOr<Response> ValueChangeResponse(absl::StatusOr<cardops::ValueChange> change) {
  if (!change.ok()) return change.status();
  Response out;
  ValueChangeToProto(*change, out.mutable_change());
  return out;
}

// A response with only `committed`.
template <typename Response>
absl::StatusOr<Response> CommittedResponse(absl::StatusOr<cardops::WriteResult> written) {
  if (!written.ok()) return written.status();
  Response out;
  out.set_committed(written->committed);
  return out;
}

// An empty response after an operation without a result.
template <typename Response>
absl::StatusOr<Response> EmptyResponse(const absl::Status& status) {
  if (!status.ok()) return status;
  return Response();
}

// Each of `items`, converted by `to_proto` into a new element of `out` (a repeated field).
template <typename Item, typename Repeated, typename ToProto>
void AddAll(const std::vector<Item>& items, Repeated* out, ToProto to_proto) {
  for (const Item& item : items) to_proto(item, out->Add());
}

void ApplicationToProto(const cardops::Application& in, v1::Application* out) {
  out->set_aid(in.aid);
  if (in.iso_file_id.has_value()) {
    out->set_iso_file_id(*in.iso_file_id);
    out->set_df_name(AsString(in.df_name));
  }
}

void FileEntryToProto(const cardops::FileEntry& in, v1::FileEntry* out) {
  out->set_file_no(in.file_no);
  if (in.settings.has_value()) FileSettingsToProto(*in.settings, out->mutable_settings());
}

void RecordToProto(const cardops::Record& in, v1::ReadRecordsResponse::Record* out) {
  out->set_offset(in.offset);
  out->set_data(AsString(in.data));
}

}  // namespace

// --- Card and applications ------------------------------------------------------------------

absl::StatusOr<v1::GetCardInfoResponse> GetCardInfo(CardContext& ctx,
                                                    const v1::GetCardInfoRequest& request) {
  DESFIRED_ASSIGN_OR_RETURN(
      cardops::CardInfo info,
      cardops::GetCardInfo(ctx, CoreRequest<cardops::GetCardInfoRequest>(request)));
  v1::GetCardInfoResponse out;
  out.set_reader(info.reader);
  out.set_atr(AsString(info.atr));
  CardVersionToProto(info.version, out.mutable_version());
  out.set_free_memory(info.free_memory);
  out.set_master_key_version(info.master_key_version);
  out.set_random_uid(info.random_uid);
  out.set_uid(AsString(info.uid));
  if (info.key_settings.has_value()) {
    KeySettingsToProto(info.key_settings->settings, out.mutable_key_settings());
    out.set_master_key_family(KeyFamilyToProto(info.key_settings->key_family));
  }
  for (uint32_t aid : info.aids) out.add_aids(aid);
  out.set_aids_listed(info.aids_listed);
  return out;
}

absl::StatusOr<v1::ListApplicationsResponse> ListApplications(
    CardContext& ctx, const v1::ListApplicationsRequest& request) {
  DESFIRED_ASSIGN_OR_RETURN(
      cardops::ApplicationPage page,
      cardops::ListApplications(ctx, CoreRequest<cardops::ListApplicationsRequest>(request)));
  v1::ListApplicationsResponse out;
  AddAll(page.applications, out.mutable_applications(), ApplicationToProto);
  out.set_next_page_token(page.next_page_token);
  return out;
}

absl::StatusOr<v1::ListFilesResponse> ListFiles(CardContext& ctx,
                                                const v1::ListFilesRequest& request) {
  auto list = CoreRequest<cardops::ListFilesRequest>(request);
  list.include_settings = request.include_settings();
  DESFIRED_ASSIGN_OR_RETURN(cardops::FilePage page, cardops::ListFiles(ctx, list));
  v1::ListFilesResponse out;
  AddAll(page.files, out.mutable_files(), FileEntryToProto);
  out.set_next_page_token(page.next_page_token);
  return out;
}

absl::StatusOr<v1::GetFileSettingsResponse> GetFileSettings(
    CardContext& ctx, const v1::GetFileSettingsRequest& request) {
  DESFIRED_ASSIGN_OR_RETURN(
      desfire::FileSettings settings,
      cardops::GetFileSettings(ctx, CoreRequest<cardops::GetFileSettingsRequest>(request)));
  v1::GetFileSettingsResponse out;
  FileSettingsToProto(settings, out.mutable_settings());
  return out;
}

// --- Data files -------------------------------------------------------------------------------

absl::StatusOr<v1::ReadDataResponse> ReadData(CardContext& ctx,
                                              const v1::ReadDataRequest& request) {
  auto read = CoreRequest<cardops::ReadDataRequest>(request);
  read.offset = request.offset();
  read.length = request.length();
  DESFIRED_ASSIGN_OR_RETURN(Bytes data, cardops::ReadData(ctx, read));
  v1::ReadDataResponse out;
  out.set_data(AsString(data));
  return out;
}

absl::StatusOr<v1::WriteDataResponse> WriteData(CardContext& ctx,
                                                const v1::WriteDataRequest& request) {
  auto write = CoreRequest<cardops::WriteDataRequest>(request);
  write.offset = request.offset();
  write.data = BytesOf(request.data());
  return CommittedResponse<v1::WriteDataResponse>(cardops::WriteData(ctx, write));
}

// --- Value files ------------------------------------------------------------------------------

absl::StatusOr<v1::GetValueResponse> GetValue(CardContext& ctx,
                                              const v1::GetValueRequest& request) {
  DESFIRED_ASSIGN_OR_RETURN(int32_t value,
                            cardops::GetValue(ctx, CoreRequest<cardops::GetValueRequest>(request)));
  v1::GetValueResponse out;
  out.set_value(value);
  return out;
}

absl::StatusOr<v1::CreditResponse> Credit(CardContext& ctx, const v1::CreditRequest& request) {
  return ValueChangeResponse<v1::CreditResponse>(cardops::Credit(ctx, ValueChangeOf(request)));
}

absl::StatusOr<v1::DebitResponse> Debit(CardContext& ctx, const v1::DebitRequest& request) {
  return ValueChangeResponse<v1::DebitResponse>(cardops::Debit(ctx, ValueChangeOf(request)));
}

absl::StatusOr<v1::LimitedCreditResponse> LimitedCredit(CardContext& ctx,
                                                        const v1::LimitedCreditRequest& request) {
  return ValueChangeResponse<v1::LimitedCreditResponse>(
      cardops::LimitedCredit(ctx, ValueChangeOf(request)));
}

// --- Record files -----------------------------------------------------------------------------

absl::StatusOr<v1::ReadRecordsResponse> ReadRecords(CardContext& ctx,
                                                    const v1::ReadRecordsRequest& request) {
  DESFIRED_ASSIGN_OR_RETURN(
      cardops::RecordPage page,
      cardops::ReadRecords(ctx, CoreRequest<cardops::ReadRecordsRequest>(request)));
  v1::ReadRecordsResponse out;
  out.set_total_records(page.total_records);
  AddAll(page.records, out.mutable_records(), RecordToProto);
  out.set_next_page_token(page.next_page_token);
  return out;
}

absl::StatusOr<v1::WriteRecordResponse> WriteRecord(CardContext& ctx,
                                                    const v1::WriteRecordRequest& request) {
  auto write = CoreRequest<cardops::WriteRecordRequest>(request);
  write.offset = request.offset();
  write.data = BytesOf(request.data());
  return CommittedResponse<v1::WriteRecordResponse>(cardops::WriteRecord(ctx, write));
}

absl::StatusOr<v1::ClearRecordFileResponse> ClearRecordFile(
    CardContext& ctx, const v1::ClearRecordFileRequest& request) {
  return CommittedResponse<v1::ClearRecordFileResponse>(
      cardops::ClearRecordFile(ctx, CoreRequest<cardops::ClearRecordFileRequest>(request)));
}

absl::StatusOr<v1::ReadTapLogResponse> ReadTapLog(CardContext& ctx,
                                                  const v1::ReadTapLogRequest& request) {
  auto read = CoreRequest<cardops::ReadTapLogRequest>(request);
  read.max_records = request.max_records();
  DESFIRED_ASSIGN_OR_RETURN(cardops::TapLog log, cardops::ReadTapLog(ctx, read));
  v1::ReadTapLogResponse out;
  for (const tap::TapResult& result : log.results) desfired::ToProto(result, out.add_results());
  desfired::ToProto(log.summary, out.mutable_summary());
  return out;
}

// --- Transactions -----------------------------------------------------------------------------

absl::StatusOr<v1::CommitTransactionResponse> CommitTransaction(
    CardContext& ctx, const v1::CommitTransactionRequest& request) {
  DESFIRED_ASSIGN_OR_RETURN(
      bool committed,
      cardops::CommitTransaction(ctx, CoreRequest<cardops::TransactionRequest>(request)));
  v1::CommitTransactionResponse out;
  out.set_committed(committed);
  return out;
}

absl::StatusOr<v1::AbortTransactionResponse> AbortTransaction(
    CardContext& ctx, const v1::AbortTransactionRequest& request) {
  return EmptyResponse<v1::AbortTransactionResponse>(
      cardops::AbortTransaction(ctx, CoreRequest<cardops::TransactionRequest>(request)));
}

// --- Issuing cards ----------------------------------------------------------------------------

absl::StatusOr<v1::FormatCardResponse> FormatCard(CardContext& ctx,
                                                  const v1::FormatCardRequest& request) {
  return EmptyResponse<v1::FormatCardResponse>(
      cardops::FormatCard(ctx, CoreRequest<cardops::FormatCardRequest>(request)));
}

absl::StatusOr<v1::CreateApplicationResponse> CreateApplication(
    CardContext& ctx, const v1::CreateApplicationRequest& request) {
  desfire::ApplicationSpec spec{.aid = request.aid(),
                                .key_settings = KeySettingsFromProto(request.key_settings()),
                                .num_keys = static_cast<uint8_t>(request.key_count()),
                                .key_family = KeyFamilyFromProto(request.key_family())};
  if (request.has_iso_file_id()) {
    spec.iso_file_id = static_cast<uint16_t>(request.iso_file_id());
    spec.df_name = BytesOf(request.df_name());
  }
  auto create = CoreRequest<cardops::CreateApplicationRequest>(request);
  create.application = std::move(spec);
  return EmptyResponse<v1::CreateApplicationResponse>(cardops::CreateApplication(ctx, create));
}

absl::StatusOr<v1::DeleteApplicationResponse> DeleteApplication(
    CardContext& ctx, const v1::DeleteApplicationRequest& request) {
  return EmptyResponse<v1::DeleteApplicationResponse>(
      cardops::DeleteApplication(ctx, CoreRequest<cardops::DeleteApplicationRequest>(request)));
}

absl::StatusOr<v1::CreateFileResponse> CreateFile(CardContext& ctx,
                                                  const v1::CreateFileRequest& request) {
  std::optional<desfire::FileSettings> settings = FileSettingsFromProto(request.settings());
  if (!settings.has_value()) {
    return InvalidFieldError("settings.file_type", "CreateFile cannot create this file type");
  }
  std::optional<uint16_t> iso;
  if (request.has_iso_file_id()) iso = static_cast<uint16_t>(request.iso_file_id());
  auto create = CoreRequest<cardops::CreateFileRequest>(request);
  create.settings = *std::move(settings);
  create.iso_file_id = iso;
  create.initial_value = request.initial_value();
  create.tmac_key_name = request.settings().transaction_mac().key_name();
  return EmptyResponse<v1::CreateFileResponse>(cardops::CreateFile(ctx, create));
}

absl::StatusOr<v1::ChangeFileSettingsResponse> ChangeFileSettings(
    CardContext& ctx, const v1::ChangeFileSettingsRequest& request) {
  auto change = CoreRequest<cardops::ChangeFileSettingsRequest>(request);
  change.mode = ModeFromProto(request.communication_mode()).value_or(desfire::CommMode::kPlain);
  change.access = AccessRightsFromProto(request.access_rights());
  if (request.has_sdm()) change.sdm = SdmSettingsFromProto(request.sdm());
  return EmptyResponse<v1::ChangeFileSettingsResponse>(cardops::ChangeFileSettings(ctx, change));
}

absl::StatusOr<v1::DeleteFileResponse> DeleteFile(CardContext& ctx,
                                                  const v1::DeleteFileRequest& request) {
  return EmptyResponse<v1::DeleteFileResponse>(
      cardops::DeleteFile(ctx, CoreRequest<cardops::DeleteFileRequest>(request)));
}

absl::StatusOr<v1::ChangeKeyResponse> ChangeKey(CardContext& ctx,
                                                const v1::ChangeKeyRequest& request) {
  auto change = CoreRequest<cardops::ChangeKeyRequest>(request);
  change.key_no = static_cast<uint8_t>(request.key_number());
  change.new_key_name = request.new_key_name();
  change.old_key_name = request.old_key_name();
  return EmptyResponse<v1::ChangeKeyResponse>(cardops::ChangeKey(ctx, change));
}

absl::StatusOr<v1::ChangeKeySettingsResponse> ChangeKeySettings(
    CardContext& ctx, const v1::ChangeKeySettingsRequest& request) {
  auto change = CoreRequest<cardops::ChangeKeySettingsRequest>(request);
  change.key_settings = KeySettingsFromProto(request.key_settings());
  return EmptyResponse<v1::ChangeKeySettingsResponse>(cardops::ChangeKeySettings(ctx, change));
}

absl::StatusOr<v1::VerifyOriginalityResponse> VerifyOriginality(
    CardContext& ctx, const v1::VerifyOriginalityRequest& request) {
  DESFIRED_ASSIGN_OR_RETURN(
      cardops::OriginalityCheck check,
      cardops::VerifyOriginality(ctx, {.target = TargetOf(request.target())}));
  v1::VerifyOriginalityResponse out;
  out.set_reader(check.reader);
  out.set_uid(AsString(check.uid));
  CardVersionToProto(check.version, out.mutable_version());
  out.set_signature(AsString(check.signature));
  out.set_verdict(OriginalityVerdictToProto(check.result.verdict));
  out.set_key_name(check.result.key_name);
  for (const std::string& name : check.result.keys_tried) out.add_keys_tried(name);
  return out;
}

}  // namespace desfired::server
