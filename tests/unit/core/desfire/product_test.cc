// Card identification: GetVersion's hardware part → the product (core/desfire/product.h).
// Rows: proxmark3 client/src/cmdhfmfdes.c getCardType() (type, major, minor), the NXP data
// sheets' GetVersion tables (MF2DLHX0 DESFire Light, NT4H2421Gx NTAG 424 DNA) and AN12343 p.7
// (hardware type 0x81: DESFire on a microcontroller).
#include "core/desfire/product.h"

#include <gtest/gtest.h>

#include <string>

#include "core/desfire/card_types.h"
#include "test_util.h"

namespace desfired::desfire {
namespace {

using testing::H;

// The software part, UID, batch and date do not matter to the product.
constexpr char kTail[] = "04010101041A05 04063F72633480 BA5499D050 1520";

struct Row {
  const char* hardware;
  CardProduct product;
  const char* name;
  uint32_t storage_bytes;
  bool storage_larger;
};

TEST(ProductTest, EveryProductOfThePublicTables) {
  const Row rows[] = {
      {"04010100021805", CardProduct::kDesfireEv0, "DESFire EV0 (MF3ICD40)", 4096, false},
      {"04010101001A05", CardProduct::kDesfireEv1, "DESFire EV1", 8192, false},
      {"04010112001805", CardProduct::kDesfireEv2, "DESFire EV2", 4096, false},
      {"04810142001805", CardProduct::kDesfireEv2, "DESFire EV2", 4096, false},
      {"04010122001E05", CardProduct::kDesfireEv2Xl, "DESFire EV2 XL", 32768, false},
      {"04010133001A05", CardProduct::kDesfireEv3, "DESFire EV3", 8192, false},
      {"04810143011A05", CardProduct::kDesfireEv3, "DESFire EV3", 8192, false},
      {"04080130001305", CardProduct::kDesfireLight, "DESFire Light", 512, true},
      {"04040230001105", CardProduct::kNtag424Dna, "NTAG 424 DNA", 256, true},
  };
  for (const Row& row : rows) {
    auto v = DecodeVersion(H(std::string(row.hardware) + kTail));
    ASSERT_TRUE(v.ok()) << row.hardware << ": " << v.status();
    EXPECT_EQ(v->product, row.product) << row.hardware;
    EXPECT_EQ(CardProductName(v->product), row.name) << row.hardware;
    EXPECT_EQ(v->storage_bytes, row.storage_bytes) << row.hardware;
    EXPECT_EQ(v->storage_larger, row.storage_larger) << row.hardware;
  }
}

TEST(ProductTest, UnknownVendorTypeOrVersion) {
  for (const char* hw : {
           "05010133001A05",  // not NXP
           "04020111001A05",  // MIFARE Plus EV1 (type 02): not a DESFire product
           "04010144001A05",  // a major version no table lists
           "04010112011A05",  // EV2's major with a minor no table lists
           "04040210001105",  // NTAG 413 DNA: not in the table
       }) {
    auto v = DecodeVersion(H(std::string(hw) + kTail));
    ASSERT_TRUE(v.ok()) << hw;
    EXPECT_EQ(v->product, CardProduct::kUnknown) << hw;
  }
  EXPECT_EQ(CardProductName(CardProduct::kUnknown), "unknown");
}

}  // namespace
}  // namespace desfired::desfire
