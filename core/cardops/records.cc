#include "core/cardops/records.h"

#include <algorithm>

#include "core/cardops/file_access.h"
#include "core/cardops/iso_access.h"
#include "core/cardops/paging.h"
#include "core/cardops/session.h"
#include "core/util/status_macros.h"

namespace desfired::cardops {

absl::StatusOr<RecordPage> ReadRecords(CardContext& ctx, const ReadRecordsRequest& request) {
  if (request.iso.enabled) return IsoReadRecords(ctx, request);
  return RunOp<RecordPage>(ctx, [&](RecordPage& out) -> absl::Status {
    DESFIRED_ASSIGN_OR_RETURN(Page page, PageOf(request.page_size, request.page_token));
    const uint8_t file_no = request.file_no;
    // The count must be the card's: fresh settings, no guessing.
    DESFIRED_ASSIGN_OR_RETURN(OpenedFile file,
                              OpenFileOf(ctx, request, {.allowed = false}, /*refresh=*/true));
    const FileUse& use = file.use;
    if (!desfire::IsRecordFile(use.settings.type)) {
      return WrongFileType(file_no, use.settings.type, "ReadRecords");
    }
    const size_t total = use.settings.current_records;
    out.total_records = use.settings.current_records;
    if (page.start < total) {
      const size_t count = std::min(page.size, total - page.start);
      DESFIRED_RETURN_IF_ERROR(Alive(ctx));
      DESFIRED_ASSIGN_OR_RETURN(std::vector<Bytes> records,
                                ctx.card->ReadRecords(file_no, static_cast<uint32_t>(page.start),
                                                      static_cast<uint32_t>(count)));
      // The card answers oldest first.
      for (size_t i = 0; i < records.size(); ++i) {
        out.records.push_back({.offset = static_cast<uint32_t>(page.start + i),
                               .data = std::move(records[records.size() - 1 - i])});
      }
      out.next_page_token = NextPageToken(page.start + count, total);
    }
    Release(ctx, file_no, use);
    return absl::OkStatus();
  });
}

absl::StatusOr<WriteResult> WriteRecord(CardContext& ctx, const WriteRecordRequest& request) {
  if (request.iso.enabled) return IsoWriteRecord(ctx, request);
  return RunOp<WriteResult>(ctx, [&](WriteResult& out) -> absl::Status {
    DESFIRED_ASSIGN_OR_RETURN(OpenedFile file,
                              OpenFileOf(ctx, request, {.type = desfire::FileType::kCyclicRecord}));
    const bool commit = !request.defer_commit;
    DESFIRED_RETURN_IF_ERROR(
        ctx.card->WriteRecord(request.file_no, request.offset, request.data, {.commit = commit}));
    NoteChange(ctx, commit);
    out.committed = commit;
    Release(ctx, request.file_no, file.use);
    return absl::OkStatus();
  });
}

absl::StatusOr<WriteResult> ClearRecordFile(CardContext& ctx,
                                            const ClearRecordFileRequest& request) {
  return RunOp<WriteResult>(ctx, [&](WriteResult& out) -> absl::Status {
    DESFIRED_RETURN_IF_ERROR(Begin(ctx, request.target, request.aid, request.auth,
                                   FileRef{request.file_no, std::nullopt})
                                 .status());
    DESFIRED_RETURN_IF_ERROR(Alive(ctx));
    const bool commit = !request.defer_commit;
    DESFIRED_RETURN_IF_ERROR(ctx.card->ClearRecordFile(request.file_no, {.commit = commit}));
    NoteChange(ctx, commit);
    out.committed = commit;
    return absl::OkStatus();
  });
}

}  // namespace desfired::cardops
