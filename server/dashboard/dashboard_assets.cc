#include "server/dashboard/dashboard_assets.h"

namespace desfired::server::dashboard {

const DashboardAsset* FindDashboardAsset(std::string_view path) {
  for (size_t i = 0; i < kDashboardAssetCount; ++i) {
    if (kDashboardAssets[i].path == path) return &kDashboardAssets[i];
  }
  return nullptr;
}

}  // namespace desfired::server::dashboard
