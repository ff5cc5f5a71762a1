#include "server/build_info.h"

#include "absl/strings/str_cat.h"

#ifndef DESFIRED_VERSION
#define DESFIRED_VERSION "unknown"
#endif
#ifndef DESFIRED_BUILD_TYPE
#define DESFIRED_BUILD_TYPE "unknown"
#endif
#ifndef DESFIRED_GIT_REVISION
#define DESFIRED_GIT_REVISION "unknown"
#endif

namespace desfired::server {

const BuildInfo& GetBuildInfo() {
  static constexpr BuildInfo kInfo = {.version = DESFIRED_VERSION,
                                      .build_type = DESFIRED_BUILD_TYPE,
                                      .revision = DESFIRED_GIT_REVISION};
  return kInfo;
}

std::string VersionText() {
  const BuildInfo& info = GetBuildInfo();
  return absl::StrCat("desfired ", info.version, "\nbuild type: ", info.build_type,
                      "\ngit revision: ", info.revision, "\n");
}

}  // namespace desfired::server
