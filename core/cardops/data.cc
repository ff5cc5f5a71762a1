#include "core/cardops/data.h"

#include "core/cardops/file_access.h"
#include "core/cardops/iso_access.h"
#include "core/cardops/session.h"
#include "core/util/status_macros.h"

namespace desfired::cardops {

absl::StatusOr<Bytes> ReadData(CardContext& ctx, const ReadDataRequest& request) {
  if (request.iso.enabled) return IsoReadData(ctx, request);
  return RunOp<Bytes>(ctx, [&](Bytes& out) -> absl::Status {
    DESFIRED_ASSIGN_OR_RETURN(OpenedFile file, OpenFileOf(ctx, request, {}));
    DESFIRED_ASSIGN_OR_RETURN(out,
                              ctx.card->ReadData(request.file_no, request.offset, request.length));
    Release(ctx, request.file_no, file.use);
    return absl::OkStatus();
  });
}

absl::StatusOr<WriteResult> WriteData(CardContext& ctx, const WriteDataRequest& request) {
  if (request.iso.enabled) return IsoWriteData(ctx, request);
  return RunOp<WriteResult>(ctx, [&](WriteResult& out) -> absl::Status {
    DESFIRED_ASSIGN_OR_RETURN(OpenedFile file,
                              OpenFileOf(ctx, request, {.type = desfire::FileType::kBackupData}));
    const FileUse& use = file.use;
    const bool commit = !request.defer_commit;
    DESFIRED_RETURN_IF_ERROR(
        ctx.card->WriteData(request.file_no, request.offset, request.data, {.commit = commit}));
    const bool transactional = use.guessed || use.settings.type == desfire::FileType::kBackupData;
    if (transactional) NoteChange(ctx, commit);
    out.committed = !transactional || commit;
    Release(ctx, request.file_no, use);
    return absl::OkStatus();
  });
}

}  // namespace desfired::cardops
