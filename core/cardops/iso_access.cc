#include "core/cardops/iso_access.h"

#include <optional>
#include <utility>

#include "core/cardops/errors.h"
#include "core/cardops/paging.h"
#include "core/cardops/session.h"
#include "core/desfire/iso_apdu.h"
#include "core/util/status_macros.h"

namespace desfired::cardops {
namespace {

using desfire::AuthScheme;
using desfire::IsoFile;
using desfire::IsoSelectBy;

ByteSpan FidBytes(uint16_t fid, uint8_t (&buf)[2]) {
  buf[0] = static_cast<uint8_t>(fid >> 8);
  buf[1] = static_cast<uint8_t>(fid & 0xFF);
  return ByteSpan(buf, 2);
}

// The prologue of iso_access.h; returns how the file is named in the ISO commands.
absl::StatusOr<IsoFile> OpenIso(CardContext& ctx, const Target& target, uint32_t aid,
                                const KeyRef& auth, uint8_t file_no, const IsoRef& iso,
                                std::optional<desfire::CommMode> comm_mode) {
  if (comm_mode.has_value() && *comm_mode != desfire::CommMode::kPlain) {
    return InvalidFieldError("communication_mode",
                             "the ISO file commands are plain: only a plain override applies");
  }
  DESFIRED_RETURN_IF_ERROR(CheckExpectedUid(ctx, target));
  DESFIRED_ASSIGN_OR_RETURN(KeyChoice key, ChooseKey(ctx, auth));
  if (key.key != nullptr && key.scheme != AuthScheme::kEv2 && key.scheme != AuthScheme::kLrp) {
    return InvalidFieldError("auth.scheme",
                             "ISO file access needs an EV2 or LRP authentication (EV1 cards "
                             "answer ISO commands with a CMAC the host does not check)");
  }
  DESFIRED_RETURN_IF_ERROR(Alive(ctx));
  ctx.session.Reset();
  uint8_t buf[2];
  if (!iso.df_name.empty()) {
    DESFIRED_RETURN_IF_ERROR(ctx.card->IsoSelectFile(IsoSelectBy::kDfName, iso.df_name));
  } else if (iso.df_file_id.has_value()) {
    DESFIRED_RETURN_IF_ERROR(
        ctx.card->IsoSelectFile(IsoSelectBy::kFileId, FidBytes(*iso.df_file_id, buf)));
  } else {
    DESFIRED_RETURN_IF_ERROR(ctx.card->SelectApplication(aid));
  }
  IsoFile file = file_no;
  if (iso.ef_file_id.has_value()) {
    DESFIRED_RETURN_IF_ERROR(Alive(ctx));
    DESFIRED_RETURN_IF_ERROR(
        ctx.card->IsoSelectFile(IsoSelectBy::kChildEf, FidBytes(*iso.ef_file_id, buf)));
    file = std::nullopt;
  }
  if (key.key != nullptr) {
    DESFIRED_RETURN_IF_ERROR(Alive(ctx));
    DESFIRED_RETURN_IF_ERROR(Authenticate(ctx, aid, key));
  }
  RememberSession(ctx, aid, key);
  DESFIRED_RETURN_IF_ERROR(Alive(ctx));
  return file;
}

template <typename Request>
absl::StatusOr<IsoFile> OpenIsoFor(CardContext& ctx, const Request& r) {
  if constexpr (requires { r.defer_commit; }) {
    if (r.defer_commit && (!r.iso.df_name.empty() || r.iso.df_file_id.has_value())) {
      // CommitTransaction continues a session on an application selected by aid only.
      return InvalidFieldError("defer_commit",
                               "a transaction left open must be on an application selected by "
                               "aid: leave iso.df_name and iso.df_file_id unset");
    }
  }
  return OpenIso(ctx, r.target, r.aid, r.auth, r.file_no, r.iso, r.comm_mode);
}

}  // namespace

absl::StatusOr<Bytes> IsoReadData(CardContext& ctx, const ReadDataRequest& request) {
  return RunOp<Bytes>(ctx, [&](Bytes& out) -> absl::Status {
    DESFIRED_ASSIGN_OR_RETURN(IsoFile file, OpenIsoFor(ctx, request));
    DESFIRED_ASSIGN_OR_RETURN(out, ctx.card->IsoReadBinary(file, request.offset, request.length));
    return absl::OkStatus();
  });
}

absl::StatusOr<WriteResult> IsoWriteData(CardContext& ctx, const WriteDataRequest& request) {
  return RunOp<WriteResult>(ctx, [&](WriteResult& out) -> absl::Status {
    DESFIRED_ASSIGN_OR_RETURN(IsoFile file, OpenIsoFor(ctx, request));
    const bool commit = !request.defer_commit;
    DESFIRED_RETURN_IF_ERROR(
        ctx.card->IsoUpdateBinary(file, request.offset, request.data, {.commit = commit}));
    NoteChange(ctx, commit);
    out.committed = commit;
    return absl::OkStatus();
  });
}

absl::StatusOr<RecordPage> IsoReadRecords(CardContext& ctx, const ReadRecordsRequest& request) {
  return RunOp<RecordPage>(ctx, [&](RecordPage& out) -> absl::Status {
    DESFIRED_ASSIGN_OR_RETURN(Page page, PageOf(request.page_size, request.page_token));
    DESFIRED_ASSIGN_OR_RETURN(IsoFile file, OpenIsoFor(ctx, request));
    DESFIRED_ASSIGN_OR_RETURN(std::vector<Bytes> records,
                              ctx.card->IsoReadRecords(file, static_cast<uint32_t>(page.start + 1),
                                                       static_cast<uint32_t>(page.size)));
    for (size_t i = 0; i < records.size(); ++i) {
      out.records.push_back(
          {.offset = static_cast<uint32_t>(page.start + i), .data = std::move(records[i])});
    }
    const size_t read = page.start + out.records.size();
    out.total_records = static_cast<uint32_t>(read);
    if (out.records.size() == page.size) out.next_page_token = NextPageToken(read, read + 1);
    ctx.session.Reset();  // the card's 6A83 past the oldest record ended the session
    return absl::OkStatus();
  });
}

absl::StatusOr<WriteResult> IsoWriteRecord(CardContext& ctx, const WriteRecordRequest& request) {
  return RunOp<WriteResult>(ctx, [&](WriteResult& out) -> absl::Status {
    if (request.offset != 0) {
      return InvalidFieldError("offset", "APPEND RECORD writes a whole record: offset must be 0");
    }
    DESFIRED_ASSIGN_OR_RETURN(IsoFile file, OpenIsoFor(ctx, request));
    const bool commit = !request.defer_commit;
    DESFIRED_RETURN_IF_ERROR(ctx.card->IsoAppendRecord(file, request.data, {.commit = commit}));
    NoteChange(ctx, commit);
    out.committed = commit;
    return absl::OkStatus();
  });
}

}  // namespace desfired::cardops
