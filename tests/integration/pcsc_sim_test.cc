// Integration: a PC/SC client talks through a real (sandboxed) pcscd and the vpcd driver to
// desfire-sim. Reader 0 holds the transit image, reader 1 the blank image.
//
// Every wait has a time-out (2 s for card events, as shared/PCSC_TESTING.md measured at
// most ~800 ms); nothing sleeps and hopes.
#include <PCSC/winscard.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "core/util/bytes.h"
#include "gtest/gtest.h"
#include "tests/integration/pcsc_sandbox.h"

namespace desfired::testing {
namespace {

constexpr absl::Duration kEventTimeout = absl::Seconds(2);
const std::string kImages = std::string(SOURCE_DIR) + "/sim/images/";

Bytes Hex(absl::string_view s) { return *HexDecode(s); }

// A minimal PC/SC connection (exclusive, T=0 or T=1).
class PcscConnection {
 public:
  ~PcscConnection() {
    if (card_) SCardDisconnect(card_, SCARD_LEAVE_CARD);
    if (ctx_) SCardReleaseContext(ctx_);
  }
  absl::Status Connect(const std::string& reader) {
    LONG rc = SCardEstablishContext(SCARD_SCOPE_SYSTEM, nullptr, nullptr, &ctx_);
    if (rc != SCARD_S_SUCCESS) return Error("SCardEstablishContext", rc);
    DWORD proto = 0;
    rc = SCardConnect(ctx_, reader.c_str(), SCARD_SHARE_EXCLUSIVE,
                      SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &card_, &proto);
    if (rc != SCARD_S_SUCCESS) return Error("SCardConnect", rc);
    pci_ = proto == SCARD_PROTOCOL_T0 ? SCARD_PCI_T0 : SCARD_PCI_T1;
    return absl::OkStatus();
  }
  absl::StatusOr<Bytes> Atr() {
    char name[256];
    DWORD name_len = sizeof(name), state = 0, proto = 0, atr_len = MAX_ATR_SIZE;
    BYTE atr[MAX_ATR_SIZE];
    const LONG rc = SCardStatus(card_, name, &name_len, &state, &proto, atr, &atr_len);
    if (rc != SCARD_S_SUCCESS) return Error("SCardStatus", rc);
    return Bytes(atr, atr + atr_len);
  }
  absl::StatusOr<Bytes> Transmit(const Bytes& apdu) {
    BYTE resp[MAX_BUFFER_SIZE];
    DWORD len = sizeof(resp);
    const LONG rc = SCardTransmit(card_, pci_, apdu.data(), static_cast<DWORD>(apdu.size()),
                                  nullptr, resp, &len);
    if (rc != SCARD_S_SUCCESS) return Error("SCardTransmit", rc);
    // Fewer than 2 bytes: the card is gone (PCSC_TESTING.md).
    if (len < 2) return absl::UnavailableError("card lost (short response)");
    return Bytes(resp, resp + len);
  }
  // Wrapped native command, following 0xAF frames; returns data ‖ 91 status of the last.
  absl::StatusOr<Bytes> Desfire(uint8_t ins, const Bytes& data = {}) {
    Bytes apdu = {0x90, ins, 0, 0};
    if (!data.empty()) {
      apdu.push_back(static_cast<uint8_t>(data.size()));
      apdu.insert(apdu.end(), data.begin(), data.end());
    }
    apdu.push_back(0);
    Bytes all;
    while (true) {
      auto r = Transmit(apdu);
      if (!r.ok()) return r.status();
      all.insert(all.end(), r->begin(), r->end() - 2);
      if ((*r)[r->size() - 2] != 0x91 || r->back() != 0xAF) {
        all.insert(all.end(), r->end() - 2, r->end());
        return all;
      }
      apdu = Hex("90AF000000");
    }
  }

 private:
  static absl::Status Error(const char* what, LONG rc) {
    return absl::UnavailableError(
        absl::StrFormat("%s: 0x%08lX", what, static_cast<unsigned long>(rc)));
  }
  SCARDCONTEXT ctx_ = 0;
  SCARDHANDLE card_ = 0;
  const SCARD_IO_REQUEST* pci_ = SCARD_PCI_T1;
};

class PcscSimTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;
    SandboxOptions opt;
    opt.sim_binary = DESFIRE_SIM;
    auto sb = PcscSandbox::Start(opt);
    ASSERT_TRUE(sb.ok()) << sb.status();
    sandbox_ = std::move(*sb);
    ASSERT_TRUE(sandbox_->WaitForReaders(2, kEventTimeout).ok());
    ASSERT_TRUE(sandbox_->StartCard(0, kImages + "transit.json").ok());
    ASSERT_TRUE(sandbox_->StartCard(1, kImages + "blank.json").ok());
    ASSERT_TRUE(sandbox_->WaitForCard(0, true, kEventTimeout).ok());
    ASSERT_TRUE(sandbox_->WaitForCard(1, true, kEventTimeout).ok());
  }
  static void TearDownTestSuite() { sandbox_.reset(); }
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root for the pcscd sandbox";
    ASSERT_NE(sandbox_, nullptr);
  }
  static std::unique_ptr<PcscSandbox> sandbox_;
};
std::unique_ptr<PcscSandbox> PcscSimTest::sandbox_;

TEST_F(PcscSimTest, AtrUidAndGetVersionThroughPcscd) {
  PcscConnection c;
  ASSERT_TRUE(c.Connect(sandbox_->ReaderName(0)).ok());
  auto atr = c.Atr();
  ASSERT_TRUE(atr.ok()) << atr.status();
  EXPECT_EQ(HexEncode(*atr), "3b8180018080");
  auto uid = c.Transmit(Hex("FFCA000000"));
  ASSERT_TRUE(uid.ok()) << uid.status();
  EXPECT_EQ(HexEncode(*uid), "04a1b2c3d4e5f69000");
  auto version = c.Desfire(0x60);
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(HexEncode(*version),
            "04010101001a05"
            "04010101041a05"
            "04a1b2c3d4e5f6ba4519e32049139100");
  auto aids = c.Desfire(0x6A);
  ASSERT_TRUE(aids.ok());
  EXPECT_EQ(HexEncode(*aids), "0110f59100");
}

TEST_F(PcscSimTest, RemoveAndInsertAreSeenByPcscd) {
  auto r = sandbox_->Control(1, "remove");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "ok");
  ASSERT_TRUE(sandbox_->WaitForCard(1, false, kEventTimeout).ok());
  ASSERT_TRUE(sandbox_->Control(1, "insert").ok());
  ASSERT_TRUE(sandbox_->WaitForCard(1, true, kEventTimeout).ok());
  PcscConnection c;
  ASSERT_TRUE(c.Connect(sandbox_->ReaderName(1)).ok());
  auto version = c.Desfire(0x60);
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(version->size(), 30u);
}

// Tear: the card leaves in the middle of a transaction; the credit is rolled back.
TEST_F(PcscSimTest, TearRollsBackTheTransaction) {
  {
    PcscConnection c;
    ASSERT_TRUE(c.Connect(sandbox_->ReaderName(1)).ok());
    // Blank card, PICC settings 0F: free create. Application 0x0000A1 with free create,
    // value file 1 with free access, value 10.
    ASSERT_EQ(HexEncode(*c.Desfire(0xCA, Hex("A10000 0F 01"))), "9100");
    ASSERT_EQ(HexEncode(*c.Desfire(0x5A, Hex("A10000"))), "9100");
    ASSERT_EQ(HexEncode(*c.Desfire(0xCC, Hex("01 00 EEEE 00000000 E8030000 0A000000 00"))), "9100");
    ASSERT_EQ(HexEncode(*c.Desfire(0x0C, Hex("01 05000000"))), "9100");
    ASSERT_TRUE(sandbox_->Control(1, "tear 1").ok());
    auto commit = c.Desfire(0xC7);
    EXPECT_FALSE(commit.ok()) << HexEncode(*commit);
  }
  ASSERT_TRUE(sandbox_->WaitForCard(1, false, kEventTimeout).ok());
  ASSERT_TRUE(sandbox_->Control(1, "insert").ok());
  ASSERT_TRUE(sandbox_->WaitForCard(1, true, kEventTimeout).ok());
  PcscConnection c;
  ASSERT_TRUE(c.Connect(sandbox_->ReaderName(1)).ok());
  ASSERT_EQ(HexEncode(*c.Desfire(0x5A, Hex("A10000"))), "9100");
  EXPECT_EQ(HexEncode(*c.Desfire(0x6C, Hex("01"))), "0a0000009100");
}

}  // namespace
}  // namespace desfired::testing
