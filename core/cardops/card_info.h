// The card-level reads: GetCardInfo (version, UID, memory, key settings, applications) and
// ListApplications (paged, with ISO DF ids and names).
//
//   DESFIRED_ASSIGN_OR_RETURN(CardInfo info, GetCardInfo(ctx, {.target = {.reader = reader}}));
//   if (info.aids_listed) { ... info.aids ... }
//
// Both run the prologue at the card level (aid 0; session.h) and fail with its errors, those of
// the DesfireCard calls they make (core/desfire/card.h) and, for ListApplications, those of
// PageOf (paging.h). A failure resets ctx.session.
//
// Thread-compatible: on the thread that owns the CardContext.
#ifndef DESFIRED_CORE_CARDOPS_CARD_INFO_H_
#define DESFIRED_CORE_CARDOPS_CARD_INFO_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/cardops/context.h"
#include "core/cardops/target.h"
#include "core/desfire/card_types.h"
#include "core/util/bytes.h"

namespace desfired::cardops {

struct GetCardInfoRequest {
  Target target = {};
  KeyRef auth = {};  // optional; only key 0 (the card master key) exists at the card level
};

struct CardInfo {
  std::string reader = {};  // ctx.reader
  Bytes atr = {};           // ctx.atr
  desfire::CardVersion version = {};
  uint32_t free_memory = 0;
  uint8_t master_key_version = 0;
  Bytes uid = {};
  bool random_uid = false;
  // Unset when the card refuses GetKeySettings (without the master key some cards keep their
  // settings, and so the listing, to themselves).
  std::optional<desfire::KeySettings> key_settings = {};
  bool aids_listed = false;    // the card listed its applications
  std::vector<uint32_t> aids;  // ascending; empty unless aids_listed
};

// The UID comes from GetCardUID when authenticated (not with the legacy scheme), else from
// GetVersion; random_uid when the reader's UID is a 4-byte random id (08..), GetVersion shows
// an all-zero UID, or GetCardUID differs from it. Key settings (and so the aids) are left unset
// when the card refuses GetKeySettings; the aids are listed when the directory list is free or
// a key was given.
absl::StatusOr<CardInfo> GetCardInfo(CardContext& ctx, const GetCardInfoRequest& request);

struct ListApplicationsRequest {
  Target target = {};
  KeyRef auth = {};
  int32_t page_size = 0;        // paging.h
  std::string page_token = {};  // paging.h
};

struct Application {
  uint32_t aid = 0;
  std::optional<uint16_t> iso_file_id;  // with df_name, when GetDFNames names the application
  Bytes df_name = {};
};

struct ApplicationPage {
  std::vector<Application> applications = {};  // ascending aid
  std::string next_page_token = {};            // empty on the last page
};

// The aids in ascending order; ISO DF ids and names come from GetDFNames (a card without the
// command, UNIMPLEMENTED, lists none).
absl::StatusOr<ApplicationPage> ListApplications(CardContext& ctx,
                                                 const ListApplicationsRequest& request);

}  // namespace desfired::cardops

#endif  // DESFIRED_CORE_CARDOPS_CARD_INFO_H_
