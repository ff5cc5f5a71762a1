// What desfired was built from, as `desfired --version` prints it:
//
//   desfired 0.1.0
//   build type: RelWithDebInfo
//   git revision: 013a4d2c1f0e
//
// The version is the CMake project's; the build type CMAKE_BUILD_TYPE; the git revision the
// commit checked out when CMake configured (cmake/BuildInfo.cmake): "-dirty" appended when
// tracked files differed from it, "unknown" when the sources were not a git checkout.
//
// Thread-safe: constants.
#ifndef DESFIRED_SERVER_BUILD_INFO_H_
#define DESFIRED_SERVER_BUILD_INFO_H_

#include <string>

#include "absl/strings/string_view.h"

namespace desfired::server {

struct BuildInfo {
  absl::string_view version;     // "0.1.0"
  absl::string_view build_type;  // "RelWithDebInfo", "Debug", ...
  absl::string_view revision;    // "013a4d2c1f0e", "013a4d2c1f0e-dirty" or "unknown"
};

const BuildInfo& GetBuildInfo();

// The three lines above, each ending in a newline.
std::string VersionText();

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_BUILD_INFO_H_
