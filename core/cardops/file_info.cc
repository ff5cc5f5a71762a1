#include "core/cardops/file_info.h"

#include <algorithm>

#include "core/cardops/file_access.h"
#include "core/cardops/paging.h"
#include "core/cardops/session.h"
#include "core/util/status_macros.h"

namespace desfired::cardops {

absl::StatusOr<FilePage> ListFiles(CardContext& ctx, const ListFilesRequest& request) {
  return RunOp<FilePage>(ctx, [&](FilePage& out) -> absl::Status {
    DESFIRED_ASSIGN_OR_RETURN(Page page, PageOf(request.page_size, request.page_token));
    DESFIRED_ASSIGN_OR_RETURN(Opened opened, Begin(ctx, request.target, request.aid, request.auth));
    DESFIRED_RETURN_IF_ERROR(Alive(ctx));
    absl::StatusOr<std::vector<uint8_t>> listed = ctx.card->GetFileIds();
    if (!listed.ok()) return ListingNeedsKey(listed.status(), opened, "listing the files");
    std::vector<uint8_t> ids = *std::move(listed);
    std::sort(ids.begin(), ids.end());
    const size_t end = std::min(ids.size(), page.start + page.size);
    for (size_t i = page.start; i < end; ++i) {
      FileEntry& entry = out.files.emplace_back();
      entry.file_no = ids[i];
      if (!request.include_settings) continue;
      DESFIRED_RETURN_IF_ERROR(Alive(ctx));
      DESFIRED_ASSIGN_OR_RETURN(entry.settings,
                                ctx.card->GetFileSettings(ids[i], /*refresh=*/true));
    }
    out.next_page_token = NextPageToken(std::max(end, page.start), ids.size());
    return absl::OkStatus();
  });
}

absl::StatusOr<desfire::FileSettings> GetFileSettings(CardContext& ctx,
                                                      const GetFileSettingsRequest& request) {
  return RunOp<desfire::FileSettings>(ctx, [&](desfire::FileSettings& out) -> absl::Status {
    DESFIRED_RETURN_IF_ERROR(Begin(ctx, request.target, request.aid, request.auth).status());
    DESFIRED_RETURN_IF_ERROR(Alive(ctx));
    DESFIRED_ASSIGN_OR_RETURN(out, ctx.card->GetFileSettings(request.file_no, /*refresh=*/true));
    return absl::OkStatus();
  });
}

}  // namespace desfired::cardops
