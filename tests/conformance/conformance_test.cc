// The DESFire conformance suite: core/desfire's DesfireCard against a card, over
//   emulator  desfire-sim's card model in this process (sim/card, written independently)
//   pcscd     a sandboxed pcscd + vpcd + the desfire-sim process (root needed)
//   reader    a real card on a USB reader, when DESFIRED_CONFORMANCE_READER names the reader
//             (the card is FORMATTED: its PICC master key must be DES 00×8)
//   emulator with token keys: the emulator, with the key the test presents after ChangeKey
//             (key 1's new value; key 0's for AES) in a SoftHSM2 token: the same operations
//             give the same results with a token key as with a file key (LRP refuses token
//             keys; ChangeKey takes file keys)
//
// Each test takes one authentication type, formats the card, creates an application of that
// key family with one file of every type in every communication mode, changes key 1 to a
// non-zero key, authenticates with it and exercises every file operation, reading every
// change back. So every authentication type meets every communication mode and file type.
#include <cstdlib>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/apdu/status_payload.h"
#include "core/desfire/card.h"
#include "core/desfire/status.h"
#include "core/keys/key_store.h"
#include "core/pcsc/pcsc.h"
#include "core/pkcs11/bind.h"
#include "gtest/gtest.h"
#include "sim/card/card.h"
#include "sim/image/image.h"
#include "tests/integration/pcsc_sandbox.h"
#include "tests/testing/emulator_transport.h"
#include "tests/testing/softhsm.h"
#include "tests/unit/hex_testing.h"

namespace desfired {
namespace {

using crypto::KeyType;
using desfire::AccessRights;
using desfire::AuthScheme;
using desfire::CardKey;
using desfire::CommMode;
using desfire::DesfireCard;
using desfire::FileType;
using desfire::KeyFamily;
using test_util::Hex;

// --- Transports -------------------------------------------------------------------------

// The emulated card in this process: every APDU goes straight to sim::Card::Transmit.
using testing::EmulatorTransport;

enum class Backend { kEmulator, kPcscd, kReader, kEmulatorTokenKeys };

std::string BlankImage() { return std::string(SOURCE_DIR) + "/sim/images/blank.json"; }

// Owns whatever stands behind the CardTransport for one test.
struct Bench {
  std::unique_ptr<pcsc::PcscContext> context;
  std::unique_ptr<pcsc::PcscCard> pcsc_card;
  std::unique_ptr<EmulatorTransport> emulator;
  apdu::CardTransport* transport = nullptr;
  std::string skip;   // non-empty: why the backend is not available here (not a failure)
  std::string error;  // non-empty: the backend should work here and does not
};

// One sandbox per process (libpcsclite reads PCSCLITE_CSOCK_NAME once): started by the first
// pcscd test, kept for the others (each test formats the card first).
testing::PcscSandbox* SharedSandbox(std::string& skip, std::string& error) {
  static std::unique_ptr<testing::PcscSandbox> sandbox;
  static std::string start_error;
  static bool not_root = false;
  if (!sandbox && start_error.empty() && !not_root) {
    testing::SandboxOptions options;
    options.sim_binary = DESFIRE_SIM;
    auto started = testing::PcscSandbox::Start(options);
    if (started.status().code() == absl::StatusCode::kPermissionDenied) {
      not_root = true;
    } else if (!started.ok()) {
      start_error = started.status().ToString();
    } else {
      sandbox = *std::move(started);
      // Reader 0: the blank card (LRP mode switched per test through its control socket);
      // reader 1: one that pads legacy whole-file reads with 80 00..
      absl::Status s = sandbox->StartCard(0, BlankImage());
      if (s.ok()) s = sandbox->StartCard(1, BlankImage(), {"--legacy-pad80"});
      if (s.ok()) s = sandbox->WaitForCard(0, true, absl::Seconds(5));
      if (s.ok()) s = sandbox->WaitForCard(1, true, absl::Seconds(5));
      if (!s.ok()) start_error = s.ToString();
    }
  }
  if (not_root) skip = "the pcscd sandbox needs root";
  error = start_error;
  return sandbox.get();
}

// `legacy_pad80`: the emulated card pads legacy whole-file reads with 80 00.. (desfire-sim
// --legacy-pad80; the pcscd sandbox's reader 1); a real card does what it does. `lrp`: the
// emulated card is in LRP mode (desfire-sim --lrp, or `lrp on` on the sandbox's reader 0); a
// real card must have been switched to LRP mode (for good) and is not used for these rows.
std::unique_ptr<Bench> MakeBench(Backend backend, bool legacy_pad80 = false, bool lrp = false) {
  auto b = std::make_unique<Bench>();
  if (backend == Backend::kEmulator || backend == Backend::kEmulatorTokenKeys) {
    auto state = sim::LoadImage(BlankImage());
    if (!state.ok()) {
      b->error = state.status().ToString();
      return b;
    }
    b->emulator = std::make_unique<EmulatorTransport>(*std::move(state));
    b->emulator->card().set_legacy_pad80(legacy_pad80);
    b->emulator->card().set_lrp_mode(lrp);
    b->transport = b->emulator.get();
    return b;
  }
  std::string reader;
  if (backend == Backend::kPcscd) {
    testing::PcscSandbox* sandbox = SharedSandbox(b->skip, b->error);
    if (sandbox == nullptr) return b;
    reader = sandbox->ReaderName(legacy_pad80 ? 1 : 0);
    if (!legacy_pad80) {
      absl::StatusOr<std::string> r = sandbox->Control(0, lrp ? "lrp on" : "lrp off");
      if (!r.ok() || *r != "ok") {
        b->error = r.ok() ? *r : r.status().ToString();
        return b;
      }
    }
  } else {
    if (lrp) {
      b->skip = "LRP rows need a card switched to LRP mode (irreversible): emulator and pcscd only";
      return b;
    }
    const char* name = std::getenv("DESFIRED_CONFORMANCE_READER");
    if (name == nullptr || *name == '\0') {
      b->skip = "no USB reader: set DESFIRED_CONFORMANCE_READER to run on a real card";
      return b;
    }
    reader = name;
  }
  auto context = pcsc::PcscContext::Create();
  if (!context.ok()) {
    b->error = context.status().ToString();
    return b;
  }
  b->context = *std::move(context);
  auto card = b->context->Connect(reader);
  if (!card.ok()) {
    b->error = card.status().ToString();
    return b;
  }
  b->pcsc_card = *std::move(card);
  b->transport = b->pcsc_card.get();
  return b;
}

// --- Authentication cases ---------------------------------------------------------------

struct AuthCase {
  const char* name;
  AuthScheme scheme;
  KeyType type;
  KeyFamily family;
  const char* new_key_hex;     // key 1 after ChangeKey (non-zero, with DES parity-free bytes)
  bool ev2_non_first = false;  // authenticate key 0 with EV2First (LRPFirst), then key 1 with 0x77
};

const AuthCase kAuthCases[] = {
    {"Legacy0A_DES", AuthScheme::kLegacy, KeyType::kDes, KeyFamily::kDes, "0011223344556677"},
    {"Legacy0A_2K3DES", AuthScheme::kLegacy, KeyType::k2Tdea, KeyFamily::kDes,
     "00112233445566778899aabbccddeeff"},
    {"Iso1A_DES", AuthScheme::kIso, KeyType::kDes, KeyFamily::kDes, "1032547698badcfe"},
    {"Iso1A_2K3DES", AuthScheme::kIso, KeyType::k2Tdea, KeyFamily::kDes,
     "0123456789abcdeffedcba9876543210"},
    {"Iso1A_3K3DES", AuthScheme::kIso, KeyType::k3Tdea, KeyFamily::k3k3Des,
     "00112233445566778899aabbccddeeff0102030405060708"},
    {"AesAA", AuthScheme::kAes, KeyType::kAes128, KeyFamily::kAes,
     "2b7e151628aed2a6abf7158809cf4f3c"},
    {"Ev2First71", AuthScheme::kEv2, KeyType::kAes128, KeyFamily::kAes,
     "000102030405060708090a0b0c0d0e0f"},
    {"Ev2NonFirst77", AuthScheme::kEv2, KeyType::kAes128, KeyFamily::kAes,
     "f0e1d2c3b4a5968778695a4b3c2d1e0f", true},
    // LRP (NXP AN12304) on a card in LRP mode: AuthenticateLRPFirst, CMAC_LRP and LRICB.
    {"LrpFirst71", AuthScheme::kLrp, KeyType::kAes128, KeyFamily::kAes,
     "5a5b5c5d5e5f60616263646566676869"},
    {"LrpNonFirst77", AuthScheme::kLrp, KeyType::kAes128, KeyFamily::kAes,
     "0f1e2d3c4b5a69788796a5b4c3d2e1f0", true},
};

constexpr CommMode kModes[] = {CommMode::kPlain, CommMode::kMac, CommMode::kFull};
constexpr FileType kTypes[] = {FileType::kStandardData, FileType::kBackupData, FileType::kValue,
                               FileType::kLinearRecord, FileType::kCyclicRecord};
constexpr uint32_t kDataSize = 120;  // > 54: commands and replies are chained
constexpr uint32_t kRecordSize = 20;

uint8_t FileNo(size_t mode_index, size_t type_index) {
  return static_cast<uint8_t>(mode_index * 5 + type_index);
}

Bytes ZeroKey(KeyType type) { return Bytes(crypto::KeyLength(type), 0); }

Bytes Pattern(size_t n, uint8_t seed) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(seed + 7 * i);
  return b;
}

using Param = std::tuple<Backend, AuthCase>;

void PrintTo(const AuthCase& c, std::ostream* os) { *os << c.name; }
const char* BackendName(Backend b) {
  static constexpr const char* kNames[] = {"Emulator", "Pcscd", "UsbReader", "EmulatorTokenKeys"};
  return kNames[static_cast<int>(b)];
}
void PrintTo(Backend b, std::ostream* os) { *os << BackendName(b); }

class ConformanceTest : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    bench_ = MakeBench(std::get<0>(GetParam()), /*legacy_pad80=*/false,
                       std::get<1>(GetParam()).scheme == AuthScheme::kLrp);
    if (!bench_->skip.empty()) GTEST_SKIP() << bench_->skip;
    ASSERT_TRUE(bench_->error.empty()) << bench_->error;
    card_ = std::make_unique<DesfireCard>(*bench_->transport);
    if (std::get<0>(GetParam()) == Backend::kEmulatorTokenKeys) {
      // Key 1's new value, imported into a token of this test's own.
      const AuthCase& c = std::get<1>(GetParam());
      hsm_ = testing::SoftHsmOrSkip();
      if (hsm_ == nullptr) return;
      absl::StatusOr<std::string> file = hsm_->ImportKeys(
          absl::StrCat("key key1 ", crypto::KeyTypeName(c.type), " ", c.new_key_hex, "\n"));
      ASSERT_TRUE(file.ok()) << file.status();
      absl::StatusOr<keys::KeyStore> store = keys::KeyStore::Parse(*file, "token keys");
      ASSERT_TRUE(store.ok()) << store.status();
      token_keys_ = std::make_unique<keys::KeyStore>(*std::move(store));
      binder_ = std::make_unique<pkcs11::TokenKeyBinder>();
      ASSERT_TRUE(binder_->Bind(*token_keys_).ok());
    }
  }

  // The new key 1 as the test presents it to authenticate: from the token with token keys,
  // else the file value. (ChangeKey takes the file value: it refuses token keys.)
  CardKey Key1(const AuthCase& c, const Bytes& value) const {
    if (token_keys_ == nullptr) return {c.type, value};
    return {c.type, {}, 0, token_keys_->Find("key1")->cipher.get()};
  }

  // Formats the card with the default PICC key and creates the application under test.
  void CreateApplication(const AuthCase& c, uint32_t aid) {
    const Bytes picc_key = ZeroKey(KeyType::kDes);
    ASSERT_TRUE(card_->SelectApplication(0).ok());
    ASSERT_TRUE(card_->Authenticate(0, {KeyType::kDes, picc_key}, AuthScheme::kIso).ok());
    ASSERT_TRUE(card_->FormatPicc().ok());
    ASSERT_TRUE(card_
                    ->CreateApplication(
                        {.aid = aid, .key_settings = 0x0F, .num_keys = 2, .key_family = c.family})
                    .ok());
    auto aids = card_->GetApplicationIds();
    ASSERT_TRUE(aids.ok()) << aids.status();
    ASSERT_EQ(*aids, std::vector<uint32_t>{aid});
  }

  std::unique_ptr<Bench> bench_;
  std::unique_ptr<DesfireCard> card_;
  std::unique_ptr<testing::SoftHsmToken> hsm_;
  std::unique_ptr<keys::KeyStore> token_keys_;  // released before the token's directory
  std::unique_ptr<pkcs11::TokenKeyBinder> binder_;
};

TEST_P(ConformanceTest, EveryFileTypeInEveryCommunicationMode) {
  const AuthCase& c = std::get<1>(GetParam());
  constexpr uint32_t kAid = 0x123456;
  ASSERT_NO_FATAL_FAILURE(CreateApplication(c, kAid));

  // Key 0 (all zero) sets up the files and changes key 1 to a non-zero key.
  const Bytes zero = ZeroKey(c.type);
  const Bytes key1 = Hex(c.new_key_hex);
  ASSERT_TRUE(card_->SelectApplication(kAid).ok());
  auto auth0 = card_->Authenticate(0, {c.type, zero}, c.scheme);
  ASSERT_TRUE(auth0.ok()) << auth0;
  const CardKey old_key{c.type, zero};
  auto changed = card_->ChangeKey(1, {c.type, key1, 0x21}, &old_key);
  ASSERT_TRUE(changed.ok()) << changed;

  const AccessRights key1_only{.read = 1, .write = 1, .read_write = 1, .change = 0};
  for (size_t m = 0; m < 3; ++m) {
    for (size_t t = 0; t < 5; ++t) {
      const uint8_t no = FileNo(m, t);
      absl::Status s;
      switch (kTypes[t]) {
        case FileType::kStandardData:
        case FileType::kBackupData:
          s = card_->CreateDataFile({.file_no = no,
                                     .backup = kTypes[t] == FileType::kBackupData,
                                     .comm_mode = kModes[m],
                                     .access = key1_only,
                                     .size = kDataSize});
          break;
        case FileType::kValue:
          s = card_->CreateValueFile({.file_no = no,
                                      .comm_mode = kModes[m],
                                      .access = key1_only,
                                      .lower_limit = 0,
                                      .upper_limit = 10000,
                                      .value = 500,
                                      .limited_credit_enabled = true});
          break;
        default:
          s = card_->CreateRecordFile({.file_no = no,
                                       .cyclic = kTypes[t] == FileType::kCyclicRecord,
                                       .comm_mode = kModes[m],
                                       .access = key1_only,
                                       .record_size = kRecordSize,
                                       .max_records = 4});
          break;
      }
      ASSERT_TRUE(s.ok()) << "create file " << int{no} << ": " << s;
    }
  }
  // A file with free read access: the card answers in plain whatever the file's mode.
  ASSERT_TRUE(
      card_
          ->CreateDataFile({.file_no = 20,
                            .comm_mode = CommMode::kFull,
                            .access = {.read = 0x0E, .write = 1, .read_write = 1, .change = 0},
                            .size = 16})
          .ok());
  auto ids = card_->GetFileIds();
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(ids->size(), 16u);

  // Key 1 does the work.
  absl::Status auth1;
  if (c.ev2_non_first) {
    // Still in key 0's EV2 (LRP) session: 0x77 switches keys, keeping TI and the counter.
    ASSERT_EQ(card_->session().scheme(), c.scheme);
    const uint16_t counter_before = card_->session().command_counter();
    const Bytes ti_before(card_->session().transaction_id().begin(),
                          card_->session().transaction_id().end());
    auth1 = card_->Authenticate(1, Key1(c, key1), c.scheme);
    ASSERT_TRUE(auth1.ok()) << auth1;
    EXPECT_GT(counter_before, 0);
    EXPECT_EQ(card_->session().command_counter(), counter_before);
    EXPECT_EQ(
        Bytes(card_->session().transaction_id().begin(), card_->session().transaction_id().end()),
        ti_before);
  } else {
    ASSERT_TRUE(card_->SelectApplication(kAid).ok());  // ends key 0's session

    auth1 = card_->Authenticate(1, Key1(c, key1), c.scheme);
    ASSERT_TRUE(auth1.ok()) << auth1;
  }
  EXPECT_EQ(card_->session().authenticated_key_no(), 1);
  EXPECT_EQ(card_->session().scheme(), c.scheme);

  for (size_t m = 0; m < 3; ++m) {
    SCOPED_TRACE(absl::StrCat("mode ", desfire::CommModeName(kModes[m])));
    // Settings come back as created.
    for (size_t t = 0; t < 5; ++t) {
      auto s = card_->GetFileSettings(FileNo(m, t));
      ASSERT_TRUE(s.ok()) << s.status();
      EXPECT_EQ(s->type, kTypes[t]);
      EXPECT_EQ(s->comm_mode, kModes[m]);
      EXPECT_EQ(s->access, key1_only);
    }
    // Standard data: a chained write, then whole-file and ranged reads.
    const uint8_t std_no = FileNo(m, 0);
    const Bytes data = Pattern(kDataSize, static_cast<uint8_t>(m));
    ASSERT_TRUE(card_->WriteData(std_no, 0, data).ok());
    auto whole = card_->ReadData(std_no, 0, 0);
    ASSERT_TRUE(whole.ok()) << whole.status();
    EXPECT_EQ(*whole, data);
    auto part = card_->ReadData(std_no, 10, 33);
    ASSERT_TRUE(part.ok()) << part.status();
    EXPECT_EQ(*part, Bytes(data.begin() + 10, data.begin() + 43));

    // Backup data: invisible until committed; an uncommitted write is rolled back.
    const uint8_t backup_no = FileNo(m, 1);
    ASSERT_TRUE(card_->WriteData(backup_no, 5, Pattern(40, 9), {.commit = false}).ok());
    ASSERT_TRUE(card_->AbortTransaction().ok());
    auto backup = card_->ReadData(backup_no, 5, 40);
    ASSERT_TRUE(backup.ok()) << backup.status();
    EXPECT_EQ(*backup, Bytes(40, 0));
    ASSERT_TRUE(card_->WriteData(backup_no, 5, Pattern(40, 9)).ok());
    backup = card_->ReadData(backup_no, 5, 40);
    ASSERT_TRUE(backup.ok()) << backup.status();
    EXPECT_EQ(*backup, Pattern(40, 9));

    // Value: credit, debit, limited credit, insufficient value.
    const uint8_t value_no = FileNo(m, 2);
    auto value = card_->GetValue(value_no);
    ASSERT_TRUE(value.ok()) << value.status();
    EXPECT_EQ(*value, 500);
    ASSERT_TRUE(card_->Credit(value_no, 250).ok());
    ASSERT_TRUE(card_->Debit(value_no, 100).ok());
    ASSERT_TRUE(card_->LimitedCredit(value_no, 40).ok());
    value = card_->GetValue(value_no);
    ASSERT_TRUE(value.ok()) << value.status();
    EXPECT_EQ(*value, 690);
    absl::Status too_much = card_->Debit(value_no, 100000);
    EXPECT_EQ(apdu::GetReason(too_much), std::string(desfire::kReasonInsufficientValue))
        << too_much;
    EXPECT_EQ(apdu::GetCommitState(too_much), apdu::CommitState::kNotCommitted);
    ASSERT_TRUE(card_->Authenticate(1, Key1(c, key1), c.scheme).ok());  // errors end it
    value = card_->GetValue(value_no);
    ASSERT_TRUE(value.ok()) << value.status();
    EXPECT_EQ(*value, 690);

    // Linear and cyclic records: written, read oldest first, cleared.
    for (size_t t : {3u, 4u}) {
      const uint8_t rec_no = FileNo(m, t);
      const size_t writes = kTypes[t] == FileType::kCyclicRecord ? 5 : 3;
      for (size_t i = 0; i < writes; ++i) {
        auto w = card_->WriteRecord(rec_no, 0, Pattern(kRecordSize, static_cast<uint8_t>(i)));
        ASSERT_TRUE(w.ok()) << "record " << i << ": " << w;
      }
      auto records = card_->ReadRecords(rec_no, 0, 0);
      ASSERT_TRUE(records.ok()) << records.status();
      // Linear: 3 writes, 3 records. Cyclic of 4: 5 writes, the newest 3 kept (one slot
      // stays free for the next write).
      const size_t kept = 3;
      ASSERT_EQ(records->size(), kept);
      EXPECT_EQ(records->back(), Pattern(kRecordSize, static_cast<uint8_t>(writes - 1)));
      EXPECT_EQ(records->front(), Pattern(kRecordSize, static_cast<uint8_t>(writes - kept)));
      auto newest = card_->ReadRecords(rec_no, 0, 1);
      ASSERT_TRUE(newest.ok()) << newest.status();
      ASSERT_EQ(newest->size(), 1u);
      EXPECT_EQ(newest->front(), records->back());
      ASSERT_TRUE(card_->ClearRecordFile(rec_no).ok());
      auto settings = card_->GetFileSettings(rec_no, /*refresh=*/true);
      ASSERT_TRUE(settings.ok()) << settings.status();
      EXPECT_EQ(settings->current_records, 0u);
    }
  }

  // Free read access: the full-mode file answers in plain.
  ASSERT_TRUE(card_->WriteData(20, 0, Pattern(16, 3)).ok());
  auto free_read = card_->ReadData(20, 0, 16);
  ASSERT_TRUE(free_read.ok()) << free_read.status();
  EXPECT_EQ(*free_read, Pattern(16, 3));

  // The emulator in this process lets the test look at the card's memory directly.
  if (bench_->emulator) {
    sim::CardState& state = bench_->emulator->card().mutable_state();
    ASSERT_EQ(state.applications.size(), 1u);
    const sim::File* f = state.applications[0].FindFile(FileNo(2, 0));
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->data, Pattern(kDataSize, 2));
    const sim::File* v = state.applications[0].FindFile(FileNo(1, 2));
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(v->value, 690);
  }
}

TEST_P(ConformanceTest, PiccCommandsAndKeys) {
  const AuthCase& c = std::get<1>(GetParam());
  constexpr uint32_t kAid = 0xABCDEF;
  ASSERT_NO_FATAL_FAILURE(CreateApplication(c, kAid));
  auto version = card_->GetVersion();
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(version->hardware.vendor_id, 0x04);
  EXPECT_NE(version->generation, desfire::CardGeneration::kUnknown);
  auto free_memory = card_->FreeMemory();
  ASSERT_TRUE(free_memory.ok()) << free_memory.status();
  EXPECT_GT(*free_memory, 0u);

  ASSERT_TRUE(card_->SelectApplication(kAid).ok());
  const Bytes zero = ZeroKey(c.type);
  ASSERT_TRUE(card_->Authenticate(0, {c.type, zero}, c.scheme).ok());
  auto settings = card_->GetKeySettings();
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->max_keys, 2);
  EXPECT_EQ(settings->key_family, c.family);
  // GetCardUID answers enciphered in every scheme but legacy.
  if (c.scheme != AuthScheme::kLegacy) {
    auto uid = card_->GetCardUid();
    ASSERT_TRUE(uid.ok()) << uid.status();
    EXPECT_EQ(uid->size(), 7u);
  }
  // A wrong key fails to authenticate with a clear reason; the right one still works.
  Bytes wrong = zero;
  wrong[0] ^= 0x02;
  absl::Status bad = card_->Authenticate(0, {c.type, wrong}, c.scheme);
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(apdu::GetReason(bad), std::string(desfire::kReasonAuthenticationFailed)) << bad;
  EXPECT_FALSE(card_->session().authenticated());
  ASSERT_TRUE(card_->Authenticate(0, {c.type, zero}, c.scheme).ok());
  // Key versions travel with ChangeKey: beside an AES key, in the parity bits of the others.
  const Bytes key1 = Hex(c.new_key_hex);
  const CardKey old_key{c.type, zero};
  ASSERT_TRUE(card_->ChangeKey(1, {c.type, key1, 0x21}, &old_key).ok());
  auto key_version = card_->GetKeyVersion(1);
  ASSERT_TRUE(key_version.ok()) << key_version.status();
  EXPECT_EQ(*key_version, 0x21);
  if (c.family == KeyFamily::kAes) {
    // The authenticated key changes itself (new key and version only); the session ends and
    // the new key authenticates.
    ASSERT_TRUE(card_->ChangeKey(0, {c.type, key1, 0x05}, nullptr).ok());
    EXPECT_FALSE(card_->session().authenticated());
    ASSERT_TRUE(card_->Authenticate(0, Key1(c, key1), c.scheme).ok());
    auto key0_version = card_->GetKeyVersion(0);
    ASSERT_TRUE(key0_version.ok()) << key0_version.status();
    EXPECT_EQ(*key0_version, 0x05);
  }
  ASSERT_TRUE(card_->DeleteApplication(kAid).ok());
  ASSERT_TRUE(card_->SelectApplication(0).ok());
  auto aids = card_->GetApplicationIds();
  ASSERT_TRUE(aids.ok()) << aids.status();
  EXPECT_TRUE(aids->empty());
}

// A key from the key store diversified per card (AN10922): the card's key 1 is set to the
// diversified key of its UID and AID; authenticating with the store's key then works, and the
// undiversified master key does not.
TEST(KeyStoreConformanceTest, DiversifiedKeyAuthenticates) {
  std::unique_ptr<Bench> bench = MakeBench(Backend::kEmulator);
  ASSERT_TRUE(bench->error.empty()) << bench->error;
  DesfireCard card(*bench->transport);
  auto store = keys::KeyStore::Parse(
      "key cards AES128 00112233445566778899aabbccddeeff diversify=an10922 system=4e5850\n",
      "test");
  ASSERT_TRUE(store.ok()) << store.status();
  const keys::Key& master = *store->Find("cards");
  constexpr uint32_t kAid = 0x0A0B0C;
  const Bytes picc_key = ZeroKey(KeyType::kDes);
  ASSERT_TRUE(card.Authenticate(0, {KeyType::kDes, picc_key}, AuthScheme::kIso).ok());
  ASSERT_TRUE(
      card.CreateApplication(
              {.aid = kAid, .key_settings = 0x0F, .num_keys = 2, .key_family = KeyFamily::kAes})
          .ok());
  auto version = card.GetVersion();
  ASSERT_TRUE(version.ok()) << version.status();
  auto diversified = keys::CardKeyFor(master, version->uid, kAid);
  ASSERT_TRUE(diversified.ok()) << diversified.status();
  ASSERT_NE(HexEncode(diversified->view()), HexEncode(master.value.view()));
  const Bytes zero(16, 0);
  ASSERT_TRUE(card.SelectApplication(kAid).ok());
  ASSERT_TRUE(card.Authenticate(0, {KeyType::kAes128, zero}).ok());
  const CardKey old_key{KeyType::kAes128, zero};
  ASSERT_TRUE(card.ChangeKey(1, {KeyType::kAes128, diversified->view(), 1}, &old_key).ok());
  EXPECT_FALSE(card.Authenticate(1, {KeyType::kAes128, master.value.view()}).ok());
  EXPECT_TRUE(card.Authenticate(1, {KeyType::kAes128, diversified->view()}).ok());
}

std::string ParamName(const ::testing::TestParamInfo<Param>& info) {
  return absl::StrCat(BackendName(std::get<0>(info.param)), "_", std::get<1>(info.param).name);
}

INSTANTIATE_TEST_SUITE_P(All, ConformanceTest,
                         ::testing::Combine(::testing::Values(Backend::kEmulator, Backend::kPcscd,
                                                              Backend::kReader),
                                            ::testing::ValuesIn(kAuthCases)),
                         ParamName);

// The same with key 1 in a SoftHSM2 token, every scheme but LRP (which refuses token keys).
std::vector<AuthCase> TokenKeyCases() {
  std::vector<AuthCase> out;
  for (const AuthCase& c : kAuthCases) {
    if (c.scheme != AuthScheme::kLrp) out.push_back(c);
  }
  return out;
}
INSTANTIATE_TEST_SUITE_P(TokenKeys, ConformanceTest,
                         ::testing::Combine(::testing::Values(Backend::kEmulatorTokenKeys),
                                            ::testing::ValuesIn(TokenKeyCases())),
                         ParamName);

// Legacy (0x0A) sessions: whole-file enciphered reads come as data ‖ CRC16 ‖ padding, where
// cards pad with 00.. or with 80 00..; both are read, for data lengths whose CRC ends a block
// (no padding), leaves room for the 80 marker only, and leaves more.
class LegacyPaddingTest : public ::testing::TestWithParam<Backend> {};

TEST_P(LegacyPaddingTest, WholeFileReadsAcceptZeroAndIsoPadding) {
  for (const bool pad80 : {false, true}) {
    SCOPED_TRACE(pad80 ? "80 00.. padding" : "00.. padding");
    std::unique_ptr<Bench> bench = MakeBench(GetParam(), pad80);
    if (!bench->skip.empty()) GTEST_SKIP() << bench->skip;
    ASSERT_TRUE(bench->error.empty()) << bench->error;
    DesfireCard card(*bench->transport);
    const Bytes zero = ZeroKey(KeyType::kDes);
    constexpr uint32_t kAid = 0x0A0A0A;
    ASSERT_TRUE(card.SelectApplication(0).ok());
    ASSERT_TRUE(card.Authenticate(0, {KeyType::kDes, zero}, AuthScheme::kIso).ok());
    ASSERT_TRUE(card.FormatPicc().ok());
    ASSERT_TRUE(
        card.CreateApplication(
                {.aid = kAid, .key_settings = 0x0F, .num_keys = 1, .key_family = KeyFamily::kDes})
            .ok());
    ASSERT_TRUE(card.SelectApplication(kAid).ok());
    ASSERT_TRUE(card.Authenticate(0, {KeyType::kDes, zero}, AuthScheme::kLegacy).ok());
    const AccessRights key0{.read = 0, .write = 0, .read_write = 0, .change = 0};
    for (const uint32_t size : {6u, 13u, 10u}) {  // + CRC16: 8 (no padding), 15 (80), 12 (80 00..)
      SCOPED_TRACE(absl::StrCat("file of ", size, " bytes"));
      const uint8_t file_no = static_cast<uint8_t>(size);
      ASSERT_TRUE(
          card.CreateDataFile(
                  {.file_no = file_no, .comm_mode = CommMode::kFull, .access = key0, .size = size})
              .ok());
      const Bytes data = Pattern(size, static_cast<uint8_t>(size));
      ASSERT_TRUE(card.WriteData(file_no, 0, data).ok());
      absl::StatusOr<Bytes> read = card.ReadData(file_no, 0, 0);
      ASSERT_TRUE(read.ok()) << read.status();
      EXPECT_EQ(HexEncode(*read), HexEncode(data));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, LegacyPaddingTest,
                         ::testing::Values(Backend::kEmulator, Backend::kPcscd),
                         [](const ::testing::TestParamInfo<Backend>& backend) {
                           return std::string(backend.param == Backend::kEmulator ? "emulator"
                                                                                  : "pcscd");
                         });

}  // namespace
}  // namespace desfired
