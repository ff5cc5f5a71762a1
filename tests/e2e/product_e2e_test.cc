// Card identification end to end: desfire-sim cards posing as each of six products
// (desfire-sim --product) behind a sandboxed pcscd; the desfired binary's GetCardInfo names
// each product from its GetVersion bytes (core/desfire/product.h).
#include <memory>
#include <string>
#include <vector>

#include "desfired/v1/card.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/integration/pcsc_sandbox.h"
#include "tests/testing/e2e_support.h"

namespace desfired {
namespace {

struct Posed {
  const char* sim_name;
  v1::CardProduct product;
  const char* product_name;
  v1::CardGeneration generation;
};

constexpr Posed kPosed[] = {
    {"ev1", v1::CARD_PRODUCT_DESFIRE_EV1, "DESFire EV1", v1::CARD_GENERATION_EV1},
    {"ev2", v1::CARD_PRODUCT_DESFIRE_EV2, "DESFire EV2", v1::CARD_GENERATION_EV2},
    {"ev2xl", v1::CARD_PRODUCT_DESFIRE_EV2_XL, "DESFire EV2 XL", v1::CARD_GENERATION_UNSPECIFIED},
    {"ev3", v1::CARD_PRODUCT_DESFIRE_EV3, "DESFire EV3", v1::CARD_GENERATION_EV3},
    {"light", v1::CARD_PRODUCT_DESFIRE_LIGHT, "DESFire Light", v1::CARD_GENERATION_LIGHT},
    {"ntag424", v1::CARD_PRODUCT_NTAG_424_DNA, "NTAG 424 DNA", v1::CARD_GENERATION_UNSPECIFIED},
};

// The sandbox has two readers: the products go through them two at a time, the cards taken
// out (their processes stopped) between rounds while desfired keeps running.
TEST(ProductE2eTest, GetCardInfoNamesEachProduct) {
  std::unique_ptr<testing::PcscSandbox> sandbox;
  if (!testing::StartEmptySandbox(&sandbox)) return;
  absl::StatusOr<std::string> keys = testing::WriteKeyFile(sandbox->dir());
  ASSERT_TRUE(keys.ok()) << keys.status();
  testing::LoopbackDesfired server(sandbox->dir(), {"--keys=" + *keys});
  ASSERT_GT(server.port(), 0) << server.err();
  const std::string blank = testing::ImagePath("blank.json");
  for (size_t i = 0; i < std::size(kPosed); ++i) {
    const Posed& posed = kPosed[i];
    const int reader = static_cast<int>(i % 2);
    SCOPED_TRACE(posed.sim_name);
    if (i >= 2) {
      ASSERT_TRUE(sandbox->StopCard(reader).ok());
      ASSERT_TRUE(sandbox->WaitForCard(reader, false, absl::Seconds(3)).ok());
    }
    ASSERT_TRUE(sandbox->StartCard(reader, blank, {"--product", posed.sim_name}).ok());
    ASSERT_TRUE(sandbox->WaitForCard(reader, true, absl::Seconds(3)).ok());
    v1::GetCardInfoRequest req;
    req.mutable_target()->set_reader(sandbox->ReaderName(reader));
    v1::GetCardInfoResponse info;
    grpc::Status s = server.cards().GetCardInfo(testing::Ctx().get(), req, &info);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(info.version().product(), posed.product);
    EXPECT_EQ(info.version().product_name(), posed.product_name);
    EXPECT_EQ(info.version().generation(), posed.generation);
    EXPECT_EQ(info.version().vendor(), "NXP");
  }
  EXPECT_EQ(server.Stop(), 0) << server.err();
}

}  // namespace
}  // namespace desfired
