// Card images: a CardState as a JSON document (format described in docs/simulator.md).
//
//   DESFIRED_ASSIGN_OR_RETURN(CardState state, LoadImage("sim/images/transit.json"));
//   ...
//   DESFIRED_RETURN_IF_ERROR(SaveImage(card.state(), path));  // committed state only
//
// Errors: LoadImage returns NOT_FOUND / INTERNAL for I/O, INVALID_ARGUMENT naming the JSON
// path of the first bad field ("applications[0].files[2].comm: ..."). SaveImage writes a
// temporary file beside the target and renames it (a crash never leaves half an image).
//
// Thread-safe: pure functions.
#ifndef DESFIRED_SIM_IMAGE_IMAGE_H_
#define DESFIRED_SIM_IMAGE_IMAGE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "sim/card/model.h"
#include "sim/image/json.h"

namespace desfired::sim {

inline constexpr absl::string_view kImageFormat = "desfire-sim-image/1";

absl::StatusOr<CardState> CardStateFromJson(const Json& doc);
// Uncommitted (pending) transaction state is not part of an image.
Json CardStateToJson(const CardState& state);

absl::StatusOr<CardState> ParseImage(absl::string_view text);
std::string SerializeImage(const CardState& state);

absl::StatusOr<CardState> LoadImage(const std::string& path);
absl::Status SaveImage(const CardState& state, const std::string& path);

}  // namespace desfired::sim

#endif  // DESFIRED_SIM_IMAGE_IMAGE_H_
