// PresentedKeys: which keys a request would present to the card, and where (the input of the
// key policy, server/security/key_policy.h).
#include "server/rpc/presented_keys.h"

#include <tuple>
#include <vector>

#include "gtest/gtest.h"
#include "tests/unit/server/rpc/card_requests.h"

namespace desfired::server {

bool operator==(const KeyPresentation& a, const KeyPresentation& b) {
  return std::tie(a.key_name, a.aid, a.key_no) == std::tie(b.key_name, b.aid, b.key_no);
}

namespace {

using testing::kTransitAid;
using testing::On;
using testing::OnFile;
using testing::SetAuth;

using Keys = std::vector<KeyPresentation>;

TEST(PresentedKeysTest, CardLevelRequestsPresentTheKeyAtTheCardLevel) {
  v1::GetCardInfoRequest info;
  SetAuth(info.mutable_auth(), "picc", 0);
  EXPECT_EQ(PresentedKeys(info), (Keys{{"picc", 0, 0}}));
  v1::FormatCardRequest format;
  SetAuth(format.mutable_auth(), "picc", 0);
  EXPECT_EQ(PresentedKeys(format), (Keys{{"picc", 0, 0}}));
  // CreateApplication's aid is the new application: the key is the card's.
  auto create = On<v1::CreateApplicationRequest>(0x112233);
  SetAuth(create.mutable_auth(), "picc", 0);
  EXPECT_EQ(PresentedKeys(create), (Keys{{"picc", 0, 0}}));
  // DeleteApplication tries the card level, then the application.
  auto drop = On<v1::DeleteApplicationRequest>(0x112233);
  SetAuth(drop.mutable_auth(), "master", 0);
  EXPECT_EQ(PresentedKeys(drop), (Keys{{"master", 0, 0}, {"master", 0x112233, 0}}));
}

TEST(PresentedKeysTest, ApplicationRequestsPresentTheKeyInTheApplication) {
  EXPECT_EQ(PresentedKeys(OnFile<v1::ReadDataRequest>(5, "transit-master", 0)),
            (Keys{{"transit-master", kTransitAid, 0}}));
  EXPECT_EQ(PresentedKeys(OnFile<v1::DebitRequest>(1, "transit-debit", 2)),
            (Keys{{"transit-debit", kTransitAid, 2}}));
  // No key name: nothing presented.
  EXPECT_EQ(PresentedKeys(On<v1::ListFilesRequest>()), Keys{});
}

TEST(PresentedKeysTest, ChangeKeyAlsoPresentsTheNewAndTheOldKey) {
  auto change = On<v1::ChangeKeyRequest>();
  SetAuth(change.mutable_auth(), "transit-master", 0);
  change.set_key_number(1);
  change.set_new_key_name("read-2");
  change.set_old_key_name("transit-read");
  EXPECT_EQ(PresentedKeys(change), (Keys{{"transit-master", kTransitAid, 0},
                                         {"read-2", kTransitAid, 1},
                                         {"transit-read", kTransitAid, 1}}));
  // Changing the session's own key: the old key is not used.
  change.set_key_number(0);
  change.set_new_key_name("master-2");
  EXPECT_EQ(PresentedKeys(change),
            (Keys{{"transit-master", kTransitAid, 0}, {"master-2", kTransitAid, 0}}));
}

}  // namespace
}  // namespace desfired::server
