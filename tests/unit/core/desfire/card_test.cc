// DesfireCard: typed decoding, argument checks, transactions and the EV2 commands that
// desfire-sim does not emulate, against published vectors replayed by ScriptedTransport.
#include "core/desfire/card.h"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

#include "core/apdu/scripted_transport.h"
#include "core/apdu/status_payload.h"
#include "core/crypto/block_cipher.h"
#include "core/crypto/cmac.h"
#include "test_util.h"

namespace desfired::desfire {
namespace {

using apdu::CommitState;
using apdu::GetCommitState;
using apdu::ScriptedTransport;
using crypto::KeyType;
using testing::H;
using testing::ReasonOf;

// --- Typed decoding -----------------------------------------------------------------------

// GetVersion of an EV1 8K card as libfreefare's mifare-desfire-info prints it (hardware
// 04 01 01 01 00 1A 05, software 04 01 01 01 04 1A 05; the vectors file §2.2 shows the same
// 28-byte layout from a real EV1 card).
TEST(CardTypesTest, DecodeVersionEv1) {
  auto v = DecodeVersion(H("04010101001A05 04010101041A05 04063F72633480 BA5499D050 1520"));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->generation, CardGeneration::kEv1);
  EXPECT_EQ(v->storage_bytes, 8192u);
  EXPECT_FALSE(v->storage_larger);
  EXPECT_EQ(HexEncode(v->uid), "04063f72633480");
  EXPECT_EQ(HexEncode(v->batch_number), "ba5499d050");
  EXPECT_EQ(v->production_week, 0x15);
  EXPECT_EQ(v->production_year, 0x20);
  EXPECT_EQ(v->software.minor_version, 0x04);
}

// Hardware major versions of the NXP data sheets: 0x12 EV2 (MF3DHx2), 0x33 EV3 (MF3DHx3);
// storage byte 0x18 = 4 KB, 0x16 = 2 KB, 0x19 = more than 4 KB and less than 8 KB.
TEST(CardTypesTest, DecodeVersionGenerationsAndStorage) {
  const std::string tail = "04010102011805 04063F72633480 BA5499D050 1520";
  auto ev2 = DecodeVersion(H("04010112001805" + tail));
  ASSERT_TRUE(ev2.ok());
  EXPECT_EQ(ev2->generation, CardGeneration::kEv2);
  EXPECT_EQ(ev2->storage_bytes, 4096u);
  auto ev3 = DecodeVersion(H("04010133001605" + tail));
  ASSERT_TRUE(ev3.ok());
  EXPECT_EQ(ev3->generation, CardGeneration::kEv3);
  EXPECT_EQ(ev3->storage_bytes, 2048u);
  auto odd = DecodeVersion(H("04010100001905" + tail));
  ASSERT_TRUE(odd.ok());
  EXPECT_EQ(odd->generation, CardGeneration::kEv0);
  EXPECT_EQ(odd->storage_bytes, 4096u);
  EXPECT_TRUE(odd->storage_larger);
  auto light = DecodeVersion(H("04080100001305" + tail));
  ASSERT_TRUE(light.ok());
  EXPECT_EQ(light->generation, CardGeneration::kLight);
  EXPECT_EQ(ReasonOf(DecodeVersion(H("0401")).status()), "PROTOCOL_ERROR");
}

// The file settings of AN12196 §5.3 (vectors file §3.4): a standard file of 256 bytes, all
// access free, followed by SDM bytes that are ignored.
TEST(CardTypesTest, DecodeFileSettingsAn12196) {
  auto s = DecodeFileSettings(H("0040EEEE000100D1FE001F00004400004400002000006A0000"));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->type, FileType::kStandardData);
  EXPECT_EQ(s->comm_mode, CommMode::kPlain);
  EXPECT_EQ(s->access, (AccessRights{.read = 0xE, .write = 0xE, .read_write = 0xE, .change = 0xE}));
  EXPECT_EQ(s->file_size, 256u);
}

TEST(CardTypesTest, DecodeFileSettingsEveryType) {
  // Value file, full mode, read 1 write 2 rw 3 change 0: limits -100..5000, limited 7.
  auto v = DecodeFileSettings(H("02 03 3012 9CFFFFFF 88130000 07000000 03"));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->type, FileType::kValue);
  EXPECT_EQ(v->comm_mode, CommMode::kFull);
  EXPECT_EQ(v->access, (AccessRights{.read = 1, .write = 2, .read_write = 3, .change = 0}));
  EXPECT_EQ(v->lower_limit, -100);
  EXPECT_EQ(v->upper_limit, 5000);
  EXPECT_EQ(v->limited_credit_value, 7);
  EXPECT_TRUE(v->limited_credit_enabled);
  EXPECT_TRUE(v->free_get_value);
  auto r = DecodeFileSettings(H("04 01 0000 200000 0A0000 030000"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->type, FileType::kCyclicRecord);
  EXPECT_EQ(r->comm_mode, CommMode::kMac);
  EXPECT_EQ(r->record_size, 32u);
  EXPECT_EQ(r->max_records, 10u);
  EXPECT_EQ(r->current_records, 3u);
  EXPECT_EQ(ReasonOf(DecodeFileSettings(H("02 03 3012 9CFFFFFF")).status()), "PROTOCOL_ERROR");
  EXPECT_EQ(ReasonOf(DecodeFileSettings(H("09 00 0000 000100")).status()), "PROTOCOL_ERROR");
  EXPECT_EQ(AccessRights::Decode(0x1230).Encode(), 0x1230);
}

TEST(CardTypesTest, EffectiveCommModeIsPlainWithFreeAccess) {
  FileSettings s{.comm_mode = CommMode::kFull,
                 .access = {.read = 0xE, .write = 1, .read_write = 2, .change = 0}};
  EXPECT_EQ(EffectiveCommMode(s, {s.access.read, s.access.read_write}), CommMode::kPlain);
  EXPECT_EQ(EffectiveCommMode(s, {s.access.write, s.access.read_write}), CommMode::kFull);
}

TEST(CardTypesTest, DecodeKeySettings) {
  auto k = DecodeKeySettings(H("0F 82"));
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->settings, 0x0F);
  EXPECT_EQ(k->max_keys, 2);
  EXPECT_EQ(k->key_family, KeyFamily::kAes);
  EXPECT_EQ(DecodeKeySettings(H("0F 4E"))->key_family, KeyFamily::k3k3Des);
  EXPECT_FALSE(DecodeKeySettings(H("0F C1")).ok());
}

// --- Commands over a scripted card ----------------------------------------------------------

struct ScriptedCard {
  ScriptedCard(std::initializer_list<ScriptedTransport::HexExchange> script)
      : transport(*ScriptedTransport::FromHex(script)), card(transport) {}
  ScriptedTransport transport;
  DesfireCard card;
};

TEST(DesfireCardTest, ArgumentsAreCheckedBeforeAnythingIsSent) {
  ScriptedCard c{};
  EXPECT_EQ(c.card.SelectApplication(0x1000000).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.card.ReadData(32, 0, 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.card.ReadData(1, 0x1000000, 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.card.Debit(1, -5).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.card.WriteData(1, 0, {}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.card.CommitReaderId(Bytes(15)).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.card.GetFileCounters(1).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(c.transport.Finished());
}

TEST(DesfireCardTest, SelectSendsTheAidLeastSignificantByteFirst) {
  ScriptedCard c(
      {{"90 5A 00 00 03 01 10 F5 00", "9100"}, {"90 6A 00 00 00", "01 10 F5 56 34 12 9100"}});
  ASSERT_TRUE(c.card.SelectApplication(0xF51001).ok());
  EXPECT_EQ(c.card.selected_aid(), 0xF51001u);
  auto aids = c.card.GetApplicationIds();
  ASSERT_TRUE(aids.ok()) << aids.status();
  EXPECT_EQ(*aids, (std::vector<uint32_t>{0xF51001, 0x123456}));
}

TEST(DesfireCardTest, FileSettingsAreCachedAndTheTypeIsChecked) {
  // One GetFileSettings for two reads of a plain standard file; GetValue on it is refused
  // without sending anything.
  ScriptedCard c({{"90 F5 00 00 01 04 00", "00 00 EEEE 200000 9100"},
                  {"90 BD 00 00 07 04 000000 040000 00", "01020304 9100"},
                  {"90 BD 00 00 07 04 040000 020000 00", "0506 9100"}});
  EXPECT_EQ(HexEncode(*c.card.ReadData(4, 0, 4)), "01020304");
  EXPECT_EQ(HexEncode(*c.card.ReadData(4, 4, 2)), "0506");
  absl::Status s = c.card.GetValue(4).status();
  EXPECT_EQ(ReasonOf(s), "WRONG_FILE_TYPE") << s;
  EXPECT_TRUE(c.transport.Finished()) << c.transport.Remaining();
}

TEST(DesfireCardTest, DebitThatFailsIsAbortedAndSaysNothingWasCommitted) {
  ScriptedCard c({{"90 F5 00 00 01 01 00", "02 00 EEEE 00000000 10270000 00000000 00 9100"},
                  {"90 DC 00 00 05 01 E8030000 00", "91BE"},
                  {"90 A7 00 00 00", "9100"}});
  absl::Status s = c.card.Debit(1, 1000);
  EXPECT_EQ(s.code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(ReasonOf(s), "INSUFFICIENT_VALUE");
  EXPECT_EQ(apdu::GetDesfireStatus(s), 0xBE);
  EXPECT_EQ(GetCommitState(s), CommitState::kNotCommitted);
  EXPECT_NE(s.message().find("nothing was committed"), std::string::npos) << s;
  EXPECT_TRUE(c.transport.Finished()) << c.transport.Remaining();
}

TEST(DesfireCardTest, CommitWhoseAnswerIsLostIsReportedAsUnknown) {
  // The transport loses the card on the commit (a reply shorter than 2 bytes).
  ScriptedCard c({{"90 F5 00 00 01 01 00", "02 00 EEEE 00000000 10270000 00000000 00 9100"},
                  {"90 DC 00 00 05 01 01000000 00", "9100"},
                  {"90 C7 00 00 00", ""}});
  absl::Status s = c.card.Debit(1, 1);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ReasonOf(s), "CARD_REMOVED");
  EXPECT_EQ(GetCommitState(s), CommitState::kUnknown);
  EXPECT_TRUE(c.transport.Finished()) << c.transport.Remaining();
}

TEST(DesfireCardTest, CardRefusingTheCommitMeansNotCommitted) {
  ScriptedCard c({{"90 F5 00 00 01 01 00", "02 00 EEEE 00000000 10270000 00000000 00 9100"},
                  {"90 0C 00 00 05 01 01000000 00", "9100"},
                  {"90 C7 00 00 00", "91CA"},
                  {"90 A7 00 00 00", "9100"}});
  absl::Status s = c.card.Credit(1, 1);
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(GetCommitState(s), CommitState::kNotCommitted);
  EXPECT_TRUE(c.transport.Finished()) << c.transport.Remaining();
}

// TxOptions::before_commit runs after the card accepted the change and before the commit:
// its refusal aborts the transaction (no C7 is sent) and nothing is committed.
TEST(DesfireCardTest, BeforeCommitRefusalAbortsInsteadOfCommitting) {
  ScriptedCard c({{"90 F5 00 00 01 01 00", "02 00 EEEE 00000000 10270000 00000000 00 9100"},
                  {"90 DC 00 00 05 01 01000000 00", "9100"},
                  {"90 A7 00 00 00", "9100"}});
  int calls = 0;
  absl::Status s = c.card.Debit(1, 1, {.commit = true, .before_commit = [&calls] {
                                         ++calls;
                                         return absl::UnavailableError("ledger full");
                                       }});
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("ledger full"), std::string::npos) << s;
  EXPECT_EQ(GetCommitState(s), CommitState::kNotCommitted);
  EXPECT_TRUE(c.transport.Finished()) << c.transport.Remaining();
}

TEST(DesfireCardTest, BeforeCommitRunsJustBeforeTheCommit) {
  ScriptedCard c({{"90 F5 00 00 01 01 00", "02 00 EEEE 00000000 10270000 00000000 00 9100"},
                  {"90 DC 00 00 05 01 01000000 00", "9100"},
                  {"90 C7 00 00 00", "9100"}});
  size_t remaining_at_hook = 0;
  absl::Status s = c.card.Debit(1, 1, {.commit = true, .before_commit = [&] {
                                         remaining_at_hook = c.transport.Remaining().size();
                                         return absl::OkStatus();
                                       }});
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_GT(remaining_at_hook, 0u) << "the hook ran after the commit";
  EXPECT_TRUE(c.transport.Finished()) << c.transport.Remaining();
  // Without a commit the hook is not called.
  ScriptedCard d({{"90 F5 00 00 01 01 00", "02 00 EEEE 00000000 10270000 00000000 00 9100"},
                  {"90 DC 00 00 05 01 01000000 00", "9100"}});
  bool called = false;
  ASSERT_TRUE(d.card
                  .Debit(1, 1,
                         {.commit = false,
                          .before_commit =
                              [&called] {
                                called = true;
                                return absl::OkStatus();
                              }})
                  .ok());
  EXPECT_FALSE(called);
}

// Vectors file §3.6, AN12196 §7.3: GetCardUID with an enciphered EV2 response.
TEST(DesfireCardTest, GetCardUidEv2_An12196_7_3) {
  ScriptedCard c({{"90 51 00 00 08 8E2C155ADDA99BE3 00",
                   "70756055688505B52A5E26E59E329CD6 595F672298EA41B7 9100"}});
  SessionTestPeer::StartEv2(c.card.session(), H("2B4D963C014DC36F24F69A50A394F875"),
                            H("379D32130CE61705DD5FD8C36B95D764"), H("DF055522"), 0);
  auto uid = c.card.GetCardUid();
  ASSERT_TRUE(uid.ok()) << uid.status();
  EXPECT_EQ(HexEncode(*uid), "04958caa5c5e80");
}

// Odd bytes of CMAC_K(message): the EV2 MACt.
Bytes MacT(const Bytes& key, const Bytes& message) {
  auto cmac = crypto::Cmac::Create(KeyType::kAes128, key);
  uint8_t full[16];
  cmac->Compute(message, full);
  Bytes t;
  for (int i = 1; i < 16; i += 2) t.push_back(full[i]);
  return t;
}

// Vectors file §3.8, AN12343 p. 64: CommitReaderID's encrypted TMRI deciphers to
// BDD40ED9F434F9DDCBF5821299CD2119 (SesAuthENCKey 78240CC5…, TI 2D0611EC; CmdCtr 2 is the
// counter of the response, so the command goes out with 1). The note gives no MAC key: the
// MACs here are computed with a stand-in key.
TEST(DesfireCardTest, CommitReaderIdDeciphersTheTmri_An12343) {
  const Bytes enc = H("78240CC5596B751D90023827B0B7E73D");
  const Bytes mac = H("8248134A386E86EB7FAF54A52E536CB6");  // stand-in
  const Bytes ti = H("2D0611EC");
  const Bytes reader_id = H("28BF1982BE086FBC60A22DAEB66613EE");
  const Bytes ct = H("A1963F1BB9FC916A8B15B2DC58002531");
  Bytes cmd_mac_input = H("C8 0100");
  cmd_mac_input.insert(cmd_mac_input.end(), ti.begin(), ti.end());
  cmd_mac_input.insert(cmd_mac_input.end(), reader_id.begin(), reader_id.end());
  Bytes resp_mac_input = H("00 0200");
  resp_mac_input.insert(resp_mac_input.end(), ti.begin(), ti.end());
  resp_mac_input.insert(resp_mac_input.end(), ct.begin(), ct.end());
  ScriptedCard c(
      {{"90 C8 00 00 18 " + HexEncode(reader_id) + HexEncode(MacT(mac, cmd_mac_input)) + " 00",
        HexEncode(ct) + HexEncode(MacT(mac, resp_mac_input)) + " 9100"}});
  SessionTestPeer::StartEv2(c.card.session(), enc, mac, ti, 1);
  auto tmri = c.card.CommitReaderId(reader_id);
  ASSERT_TRUE(tmri.ok()) << tmri.status();
  EXPECT_EQ(HexEncode(*tmri), "bdd40ed9f434f9ddcbf5821299cd2119");
  EXPECT_EQ(c.card.session().command_counter(), 2);
}

// GetFileCounters: an EV2 enciphered reply of SDMReadCtr (3) ‖ reserved (2), built here with
// the primitives (IV = E(5A A5 ‖ TI ‖ CmdCtr+1 ‖ 0…), data ‖ 80 00…, MACt over the reply).
TEST(DesfireCardTest, GetFileCountersDecodesTheReadCounter) {
  const Bytes enc = H("2B4D963C014DC36F24F69A50A394F875");
  const Bytes mac = H("379D32130CE61705DD5FD8C36B95D764");
  const Bytes ti = H("DF055522");
  auto cipher = crypto::BlockCipher::Create(KeyType::kAes128, enc);
  std::array<uint8_t, 16> iv = {0x5A, 0xA5, 0xDF, 0x05, 0x55, 0x22, 0x01, 0x00};
  cipher->EncryptBlock(iv.data(), iv.data());
  Bytes plain = H("2A0100 0000 80 00000000000000000000");
  ASSERT_TRUE(cipher->CbcEncrypt(absl::MakeSpan(iv), absl::MakeSpan(plain)).ok());
  Bytes cmd_mac_input = H("F6 0000");
  cmd_mac_input.insert(cmd_mac_input.end(), ti.begin(), ti.end());
  cmd_mac_input.push_back(0x02);
  Bytes resp_mac_input = H("00 0100");
  resp_mac_input.insert(resp_mac_input.end(), ti.begin(), ti.end());
  resp_mac_input.insert(resp_mac_input.end(), plain.begin(), plain.end());
  ScriptedCard c({{"90 F6 00 00 09 02 " + HexEncode(MacT(mac, cmd_mac_input)) + " 00",
                   HexEncode(plain) + HexEncode(MacT(mac, resp_mac_input)) + " 9100"}});
  SessionTestPeer::StartEv2(c.card.session(), enc, mac, ti, 0);
  auto counter = c.card.GetFileCounters(2);
  ASSERT_TRUE(counter.ok()) << counter.status();
  EXPECT_EQ(*counter, 0x012Au);
}

}  // namespace
}  // namespace desfired::desfire
