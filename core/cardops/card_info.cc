#include "core/cardops/card_info.h"

#include <algorithm>
#include <utility>

#include "core/cardops/file_access.h"
#include "core/cardops/paging.h"
#include "core/cardops/session.h"
#include "core/util/status_macros.h"

namespace desfired::cardops {
namespace {

constexpr uint8_t kRandomUidPrefix = 0x08;  // ISO/IEC 14443-3: a 4-byte random id starts 08
constexpr size_t kRandomUidLength = 4;

}  // namespace

absl::StatusOr<CardInfo> GetCardInfo(CardContext& ctx, const GetCardInfoRequest& request) {
  return RunOp<CardInfo>(ctx, [&](CardInfo& out) -> absl::Status {
    DESFIRED_ASSIGN_OR_RETURN(Opened opened, Begin(ctx, request.target, 0, request.auth));
    out.reader = ctx.reader;
    out.atr = ctx.atr;
    DESFIRED_RETURN_IF_ERROR(Alive(ctx));
    DESFIRED_ASSIGN_OR_RETURN(out.version, ctx.card->GetVersion());
    DESFIRED_RETURN_IF_ERROR(Alive(ctx));
    DESFIRED_ASSIGN_OR_RETURN(out.free_memory, ctx.card->FreeMemory());
    DESFIRED_RETURN_IF_ERROR(Alive(ctx));
    DESFIRED_ASSIGN_OR_RETURN(out.master_key_version, ctx.card->GetKeyVersion(0));
    const desfire::CardVersion& version = out.version;
    Bytes uid = version.uid;
    if (opened.key.key != nullptr && opened.key.scheme != desfire::AuthScheme::kLegacy) {
      DESFIRED_RETURN_IF_ERROR(Alive(ctx));
      DESFIRED_ASSIGN_OR_RETURN(uid, ctx.card->GetCardUid());
    }
    const bool zero_version_uid =
        std::all_of(version.uid.begin(), version.uid.end(), [](uint8_t b) { return b == 0; });
    const bool random_reader_uid =
        ctx.uid.size() == kRandomUidLength && ctx.uid[0] == kRandomUidPrefix;
    out.random_uid = zero_version_uid || random_reader_uid || uid != version.uid;
    out.uid = std::move(uid);
    DESFIRED_RETURN_IF_ERROR(Alive(ctx));
    absl::StatusOr<desfire::KeySettings> settings = ctx.card->GetKeySettings();
    if (!settings.ok()) {
      // Without the master key some cards keep their settings (and so the listing) to
      // themselves: report what is known.
      return RefusedListing(settings.status()) ? absl::OkStatus() : settings.status();
    }
    out.key_settings = *settings;
    if ((settings->settings & desfire::kKeySettingFreeDirectoryList) == 0 &&
        opened.key.key == nullptr) {
      return absl::OkStatus();
    }
    DESFIRED_RETURN_IF_ERROR(Alive(ctx));
    DESFIRED_ASSIGN_OR_RETURN(out.aids, ctx.card->GetApplicationIds());
    std::sort(out.aids.begin(), out.aids.end());
    out.aids_listed = true;
    return absl::OkStatus();
  });
}

absl::StatusOr<ApplicationPage> ListApplications(CardContext& ctx,
                                                 const ListApplicationsRequest& request) {
  return RunOp<ApplicationPage>(ctx, [&](ApplicationPage& out) -> absl::Status {
    DESFIRED_ASSIGN_OR_RETURN(Page page, PageOf(request.page_size, request.page_token));
    DESFIRED_ASSIGN_OR_RETURN(Opened opened, Begin(ctx, request.target, 0, request.auth));
    DESFIRED_RETURN_IF_ERROR(Alive(ctx));
    absl::StatusOr<std::vector<uint32_t>> listed = ctx.card->GetApplicationIds();
    if (!listed.ok()) return ListingNeedsKey(listed.status(), opened, "listing the applications");
    std::vector<uint32_t> aids = *std::move(listed);
    std::sort(aids.begin(), aids.end());
    if (page.start >= aids.size()) return absl::OkStatus();
    const size_t end = std::min(aids.size(), page.start + page.size);
    DESFIRED_RETURN_IF_ERROR(Alive(ctx));
    absl::StatusOr<std::vector<desfire::DfName>> names = ctx.card->GetDfNames();
    if (!names.ok() && names.status().code() != absl::StatusCode::kUnimplemented) {
      return names.status();
    }
    for (size_t i = page.start; i < end; ++i) {
      Application& app = out.applications.emplace_back();
      app.aid = aids[i];
      if (!names.ok()) continue;
      for (const desfire::DfName& name : *names) {
        if (name.aid != aids[i]) continue;
        app.iso_file_id = name.iso_file_id;
        app.df_name = name.name;
      }
    }
    out.next_page_token = NextPageToken(end, aids.size());
    return absl::OkStatus();
  });
}

}  // namespace desfired::cardops
