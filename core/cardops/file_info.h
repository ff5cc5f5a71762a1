// The application-level reads of the file directory: ListFiles (paged, optionally with each
// file's settings) and GetFileSettings (always asked of the card, never the session's cache).
//
//   DESFIRED_ASSIGN_OR_RETURN(FilePage page, ListFiles(ctx, {.target = t, .aid = 0xF51001,
//                                                            .include_settings = true}));
//
// Both run the prologue on request.aid (session.h) and fail with its errors, those of the
// DesfireCard calls they make (core/desfire/card.h) and, for ListFiles, those of PageOf
// (paging.h). A failure resets ctx.session.
//
// Thread-compatible: on the thread that owns the CardContext.
#ifndef DESFIRED_CORE_CARDOPS_FILE_INFO_H_
#define DESFIRED_CORE_CARDOPS_FILE_INFO_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/cardops/context.h"
#include "core/cardops/target.h"
#include "core/desfire/card_types.h"

namespace desfired::cardops {

struct ListFilesRequest {
  Target target = {};
  uint32_t aid = 0;
  KeyRef auth = {};
  int32_t page_size = 0;        // paging.h
  std::string page_token = {};  // paging.h
  bool include_settings = false;
};

struct FileEntry {
  uint8_t file_no = 0;
  std::optional<desfire::FileSettings> settings =
      {};  // with include_settings (fresh from the card)
};

struct FilePage {
  std::vector<FileEntry> files = {};  // ascending file number
  std::string next_page_token = {};   // empty on the last page
};

// The file numbers of the application (not its ISO file ids: GetISOFileIDs does not say which
// file has which id).
absl::StatusOr<FilePage> ListFiles(CardContext& ctx, const ListFilesRequest& request);

struct GetFileSettingsRequest {
  Target target = {};
  uint32_t aid = 0;
  KeyRef auth = {};
  uint8_t file_no = 0;
};

// Asks the card (never the session's cache).
absl::StatusOr<desfire::FileSettings> GetFileSettings(CardContext& ctx,
                                                      const GetFileSettingsRequest& request);

}  // namespace desfired::cardops

#endif  // DESFIRED_CORE_CARDOPS_FILE_INFO_H_
