// core/pkcs11 against SoftHSM2 (each test has its own token directory, SOFTHSM2_CONF): URIs,
// keys imported sensitive and not extractable, token keys computing what file keys compute,
// the errors (wrong PIN, missing object, wrong type, absent module) and a token restart.
#include <stdlib.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/strings/match.h"
#include "core/crypto/an10922.h"
#include "core/crypto/block_cipher.h"
#include "core/crypto/cmac.h"
#include "core/crypto/key_cipher.h"
#include "core/keys/key_store.h"
#include "core/pkcs11/bind.h"
#include "core/pkcs11/module.h"
#include "core/pkcs11/token_key.h"
#include "core/pkcs11/uri.h"
#include "gtest/gtest.h"
#include "tests/testing/softhsm.h"
#include "tests/unit/hex_testing.h"

namespace desfired::pkcs11 {
namespace {

using crypto::KeyType;
using test_util::Hex;

constexpr char kKeys[] = R"(
key aes   AES128 2b7e151628aed2a6abf7158809cf4f3c
key tdea2 2TDEA  0123456789abcdeffedcba9876543210
key tdea3 3TDEA  00112233445566778899aabbccddeeff0123456789abcdef
key des   DES    8899aabbccddeeff
key div   AES128 00112233445566778899aabbccddeeff diversify=an10922 system=4e5850
)";
// The values above, for comparing outputs and for checking that no message quotes them.
constexpr char kValues[][49] = {
    "2b7e151628aed2a6abf7158809cf4f3c", "0123456789abcdeffedcba9876543210",
    "00112233445566778899aabbccddeeff0123456789abcdef", "8899aabbccddeeff"};

class TokenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    hsm_ = testing::SoftHsmOrSkip();
    if (hsm_ == nullptr) return;
  }
  void TearDown() override {
    store_.reset();
    binder_.reset();
  }

  // Imports kKeys and binds the store that names them by URI.
  absl::Status ImportAndBind(const std::string& extra = "") {
    absl::StatusOr<std::string> file = hsm_->ImportKeys(kKeys);
    if (!file.ok()) return file.status();
    return Bind(*file + extra);
  }
  absl::Status Bind(const std::string& text) {
    absl::StatusOr<keys::KeyStore> store = keys::KeyStore::Parse(text, "keys.conf");
    if (!store.ok()) return store.status();
    store_ = std::make_unique<keys::KeyStore>(*std::move(store));
    binder_ = std::make_unique<TokenKeyBinder>();
    return binder_->Bind(*store_);
  }
  static void ExpectNoSecret(const absl::Status& s) {
    for (const char* v : kValues) EXPECT_FALSE(absl::StrContains(s.message(), v)) << s;
    EXPECT_FALSE(absl::StrContains(s.message(), testing::kSoftHsmPin)) << s;
  }

  std::unique_ptr<testing::SoftHsmToken> hsm_;
  std::unique_ptr<TokenKeyBinder> binder_;
  std::unique_ptr<keys::KeyStore> store_;
};

TEST(TokenUriTest, ParsedByP11Kit) {
  auto uri = TokenUri::Parse("pkcs11:token=desfired;object=transit%2Ddebit;type=secret-key");
  ASSERT_TRUE(uri.ok()) << uri.status();
  EXPECT_EQ(uri->token_part(), "pkcs11:token=desfired");
  EXPECT_TRUE(uri->module_path().empty());
  auto with_query = TokenUri::Parse(
      "pkcs11:token=t;id=%01%02?module-path=/usr/lib/x.so&pin-source=file:/etc/pin");
  ASSERT_TRUE(with_query.ok()) << with_query.status();
  EXPECT_EQ(with_query->module_path(), "/usr/lib/x.so");
  EXPECT_EQ(with_query->pin_source(), "file:/etc/pin");

  for (const char* bad :
       {"pkcs12:token=t;object=k", "pkcs11:token=t", "pkcs11:token=t;object=k;type=private",
        "pkcs11:token=t;object=k?pin-value=1234", "pkcs11:token=t;object=%zz"}) {
    auto refused = TokenUri::Parse(bad);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_FALSE(absl::StrContains(refused.status().message(), "pin-value=1234"));
  }
}

TEST_F(TokenTest, ImportedKeysCannotBeRead) {
  ASSERT_TRUE(ImportAndBind().ok());
  auto* key = dynamic_cast<const TokenKey*>(store_->Find("aes")->cipher.get());
  ASSERT_NE(key, nullptr);
  CK_FUNCTION_LIST* f = key->token().module().f();
  auto uri = TokenUri::Parse(store_->Find("aes")->token_uri);
  ASSERT_TRUE(uri.ok());
  std::vector<CK_ATTRIBUTE> templ = uri->ObjectTemplate();
  uint8_t value[32] = {};
  CK_BBOOL sensitive = CK_FALSE, extractable = CK_TRUE;
  CK_RV read_rv = CKR_OK, flags_rv = CKR_OK;
  auto ran = const_cast<Token&>(key->token()).Run([&](CK_SESSION_HANDLE s, uint64_t) {
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    CK_ULONG n = 0;
    f->C_FindObjectsInit(s, templ.data(), templ.size());
    f->C_FindObjects(s, &h, 1, &n);
    f->C_FindObjectsFinal(s);
    CK_ATTRIBUTE a = {CKA_VALUE, value, sizeof(value)};
    read_rv = f->C_GetAttributeValue(s, h, &a, 1);
    CK_ATTRIBUTE flags[] = {{CKA_SENSITIVE, &sensitive, sizeof(sensitive)},
                            {CKA_EXTRACTABLE, &extractable, sizeof(extractable)}};
    flags_rv = f->C_GetAttributeValue(s, h, flags, 2);
    return CKR_OK;
  });
  ASSERT_TRUE(ran.ok()) << ran.status();
  EXPECT_EQ(read_rv, CKR_ATTRIBUTE_SENSITIVE) << CkName(read_rv);
  EXPECT_EQ(flags_rv, CKR_OK);
  EXPECT_EQ(sensitive, CK_TRUE);
  EXPECT_EQ(extractable, CK_FALSE);
  EXPECT_EQ(Bytes(value, value + 16), Bytes(16, 0));
}

// ECB, CBC, CMAC and AN10922 in the token give what the same key in memory gives.
TEST_F(TokenTest, TokenKeysComputeWhatFileKeysCompute) {
  ASSERT_TRUE(ImportAndBind().ok());
  const struct {
    const char* name;
    KeyType type;
    const char* value;
  } cases[] = {{"aes", KeyType::kAes128, kValues[0]},
               {"tdea2", KeyType::k2Tdea, kValues[1]},
               {"tdea3", KeyType::k3Tdea, kValues[2]},
               {"des", KeyType::kDes, kValues[3]}};
  const Bytes data = Hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const keys::Key* key = store_->Find(c.name);
    ASSERT_NE(key, nullptr);
    ASSERT_NE(key->cipher, nullptr);
    EXPECT_TRUE(key->value.view().empty());
    const crypto::KeyCipher& token = *key->cipher;
    auto local_cipher = crypto::BlockCipher::Create(c.type, Hex(c.value));
    ASSERT_TRUE(local_cipher.ok());
    crypto::LocalKeyCipher local(*std::move(local_cipher));
    const size_t blocks = data.size() / token.block_size();
    Bytes a = data, b = data;
    ASSERT_TRUE(token.EncryptBlocks(a.data(), a.data(), blocks).ok());
    ASSERT_TRUE(local.EncryptBlocks(b.data(), b.data(), blocks).ok());
    EXPECT_EQ(a, b);
    ASSERT_TRUE(token.DecryptBlocks(a.data(), a.data(), blocks).ok());
    EXPECT_EQ(a, data);
    Bytes iv_a(token.block_size(), 0x5A), iv_b = iv_a;
    ASSERT_TRUE(token.CbcEncrypt(absl::MakeSpan(iv_a), absl::MakeSpan(a)).ok());
    ASSERT_TRUE(local.CbcEncrypt(absl::MakeSpan(iv_b), absl::MakeSpan(b = data)).ok());
    EXPECT_EQ(a, b);
    EXPECT_EQ(iv_a, iv_b);
    ASSERT_TRUE(token.CbcDecrypt(absl::MakeSpan(iv_a), absl::MakeSpan(a)).ok());
    ASSERT_TRUE(local.CbcDecrypt(absl::MakeSpan(iv_b), absl::MakeSpan(b)).ok());
    EXPECT_EQ(a, b);
    for (size_t len : {0, 5, 16, 19, 32}) {
      auto cmac = crypto::Cmac::Create(c.type, Hex(c.value));
      ASSERT_TRUE(cmac.ok());
      uint8_t want[16] = {}, got[16] = {};
      cmac->Compute(ByteSpan(data.data(), len), want);
      const uint8_t* message = data.data();
      ASSERT_TRUE(crypto::CmacManyVia(token, &message, len, 1, got).ok());
      EXPECT_EQ(Bytes(got, got + 16), Bytes(want, want + 16)) << len;
    }
    if (c.type != KeyType::kDes) {
      const Bytes input = Hex("04782e21801d803042f54e585020416275");
      const ByteSpan m(input.data(), c.type == KeyType::kAes128 ? input.size() : 10);
      auto want = crypto::DiversifyKey(c.type, Hex(c.value), m);
      ASSERT_TRUE(want.ok());
      Bytes got(want->size());
      ASSERT_TRUE(crypto::DiversifyKeyVia(token, c.type, m, got.data()).ok());
      EXPECT_EQ(got, *want);
    }
  }
  // A diversified token key: the per-card key comes from the token's CMACs.
  auto file = keys::KeyStore::Parse(kKeys, "file");
  ASSERT_TRUE(file.ok());
  const Bytes uid = Hex("04782e21801d80");
  auto from_file = keys::CardKeyFor(*file->Find("div"), uid, 0xF51001);
  auto from_token = keys::CardKeyFor(*store_->Find("div"), uid, 0xF51001);
  ASSERT_TRUE(from_file.ok() && from_token.ok()) << from_token.status();
  EXPECT_EQ(Bytes(from_token->view().begin(), from_token->view().end()),
            Bytes(from_file->view().begin(), from_file->view().end()));
  // A token key that is not diversified has no value to give.
  auto none = keys::CardKeyFor(*store_->Find("aes"), uid, 0);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(TokenTest, WrongPinNamesTheKeyNotThePin) {
  ASSERT_TRUE(hsm_->ImportKeys(kKeys).ok());
  setenv("DESFIRED_TEST_WRONG_PIN", "111111", 1);
  absl::Status s = Bind(absl::StrCat("pkcs11 module=", testing::kSoftHsmModule,
                                     " pin-env=DESFIRED_TEST_WRONG_PIN\n"
                                     "key aes AES128 pkcs11:token=desfired;object=aes\n"));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "key 'aes'")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "CKR_PIN_INCORRECT")) << s;
  EXPECT_FALSE(absl::StrContains(s.message(), "111111")) << s;
  ExpectNoSecret(s);
  // The code travels in the status itself (what Token::Restart decides on).
  auto module = pkcs11::Module::Load(testing::kSoftHsmModule);
  ASSERT_TRUE(module.ok()) << module.status();
  auto uri = pkcs11::TokenUri::ParseToken("pkcs11:token=desfired");
  ASSERT_TRUE(uri.ok()) << uri.status();
  auto wrong = pkcs11::Token::Open(*module, *uri, keys::SecretBytes(Hex("313131313131")));
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(pkcs11::CkRvOf(wrong.status()), std::optional<CK_RV>(CKR_PIN_INCORRECT));
  EXPECT_TRUE(pkcs11::Token::PinRefused(*pkcs11::CkRvOf(wrong.status())));
  EXPECT_EQ(pkcs11::CkRvOf(pkcs11::CkError("C_Encrypt", CKR_MECHANISM_INVALID)),
            std::optional<CK_RV>(CKR_MECHANISM_INVALID));
  EXPECT_EQ(pkcs11::CkRvOf(absl::FailedPreconditionError("CKR_PIN_INCORRECT")), std::nullopt);
}

TEST_F(TokenTest, MissingObjectWrongTypeAbsentModuleAndPinProblemsAreClear) {
  absl::StatusOr<std::string> file = hsm_->ImportKeys(kKeys);
  ASSERT_TRUE(file.ok()) << file.status();
  const std::string settings = hsm_->SettingsLine();
  struct Case {
    std::string text;
    absl::StatusCode code;
    std::string says;
  };
  const Case cases[] = {
      {settings + "key gone AES128 pkcs11:token=desfired;object=nothing\n",
       absl::StatusCode::kNotFound, "no secret key object"},
      {settings + "key aes 2TDEA pkcs11:token=desfired;object=aes\n",
       absl::StatusCode::kFailedPrecondition,
       "the key file says 2TDEA but the token object is CKK_AES"},
      {settings + "key tdea3 AES128 pkcs11:token=desfired;object=tdea3\n",
       absl::StatusCode::kFailedPrecondition, "CKK_DES3"},
      {settings + "key aes AES128 pkcs11:token=elsewhere;object=aes\n", absl::StatusCode::kNotFound,
       "no token matching pkcs11:token=elsewhere"},
      {"pkcs11 module=/nonexistent/libp11.so pin-file=" + hsm_->pin_file() +
           "\nkey aes AES128 pkcs11:token=desfired;object=aes\n",
       absl::StatusCode::kNotFound, "cannot load the PKCS#11 module /nonexistent/libp11.so"},
      {"key aes AES128 pkcs11:token=desfired;object=aes\n", absl::StatusCode::kInvalidArgument,
       "no PKCS#11 module"},
      {absl::StrCat("pkcs11 module=", testing::kSoftHsmModule,
                    "\nkey aes AES128 pkcs11:token=desfired;object=aes\n"),
       absl::StatusCode::kFailedPrecondition, "no PIN"},
      {absl::StrCat(
           "pkcs11 module=", testing::kSoftHsmModule,
           " pin-env=DESFIRED_TEST_UNSET_PIN\nkey aes AES128 pkcs11:token=desfired;object=aes\n"),
       absl::StatusCode::kFailedPrecondition, "DESFIRED_TEST_UNSET_PIN is not set"},
  };
  unsetenv("DESFIRED_TEST_UNSET_PIN");
  for (const Case& c : cases) {
    absl::Status s = Bind(c.text);
    EXPECT_EQ(s.code(), c.code) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), c.says)) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), "key '")) << s;
    ExpectNoSecret(s);
  }
  // A PIN file others may read is refused like a key file.
  chmod(hsm_->pin_file().c_str(), 0644);
  absl::Status s = Bind(*file);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "chmod 600")) << s;
  ExpectNoSecret(s);
  // A PIN in the key file or the URI is refused.
  auto in_line = keys::KeyStore::Parse("pkcs11 pin=1234\n", "k");
  EXPECT_EQ(in_line.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(absl::StrContains(in_line.status().message(), "1234"));
  auto in_uri =
      keys::KeyStore::Parse("key a AES128 pkcs11:token=desfired;object=a?pin-value=9876\n", "k");
  EXPECT_EQ(in_uri.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(in_uri.status().message(), "key 'a'")) << in_uri.status();
  EXPECT_FALSE(absl::StrContains(in_uri.status().message(), "9876")) << in_uri.status();
}

TEST_F(TokenTest, LogsInAgainAfterTheTokenRestarts) {
  ASSERT_TRUE(ImportAndBind().ok());
  auto* key = dynamic_cast<const TokenKey*>(store_->Find("aes")->cipher.get());
  ASSERT_NE(key, nullptr);
  uint8_t block[16] = {}, before[16] = {}, after[16] = {};
  ASSERT_TRUE(key->EncryptBlocks(block, before, 1).ok());
  EXPECT_EQ(key->token().epoch(), 1u);
  // The module loses every session and the login, as when a token daemon restarts.
  auto module = Module::Load(testing::kSoftHsmModule);
  ASSERT_TRUE(module.ok());
  ASSERT_TRUE((*module)->Reinitialize().ok());
  absl::Status s = key->EncryptBlocks(block, after, 1);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(Bytes(after, after + 16), Bytes(before, before + 16));
  EXPECT_EQ(key->token().epoch(), 2u);
  // The other keys of the token use the new login (their handles are looked up again).
  ASSERT_TRUE(store_->Find("tdea3")->cipher->EncryptBlocks(block, after, 1).ok());
  EXPECT_EQ(key->token().epoch(), 2u);
}

// A token behind a daemon (p11-kit server, reached through p11-kit's client module): when the
// daemon restarts, the next operation logs in again on the new one.
TEST_F(TokenTest, LogsInAgainAfterTheTokenDaemonRestarts) {
  if (!testing::P11KitServer::Available()) GTEST_SKIP() << "p11-kit server is not installed";
  absl::StatusOr<std::string> file = hsm_->ImportKeys(kKeys, {"aes"});
  ASSERT_TRUE(file.ok()) << file.status();
  testing::P11KitServer daemon(*hsm_);
  ASSERT_TRUE(daemon.running());
  std::string text = *file;
  text.replace(text.find(testing::kSoftHsmModule), std::string(testing::kSoftHsmModule).size(),
               testing::kP11KitClientModule);
  ASSERT_TRUE(Bind(text).ok());
  const crypto::KeyCipher& key = *store_->Find("aes")->cipher;
  uint8_t block[16] = {}, before[16] = {}, after[16] = {};
  ASSERT_TRUE(key.EncryptBlocks(block, before, 1).ok());
  ASSERT_TRUE(daemon.Restart());
  absl::Status s = key.EncryptBlocks(block, after, 1);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(Bytes(after, after + 16), Bytes(before, before + 16));
  EXPECT_EQ(dynamic_cast<const TokenKey&>(key).token().epoch(), 2u);
  // CBC through a module that cannot pass an IV: ECB in the token, chained on the host.
  auto local = crypto::BlockCipher::Create(KeyType::kAes128, Hex(kValues[0]));
  ASSERT_TRUE(local.ok());
  const Bytes data = Hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
  Bytes a = data, b = data, iv_a(16, 7), iv_b(16, 7);
  ASSERT_TRUE(key.CbcEncrypt(absl::MakeSpan(iv_a), absl::MakeSpan(a)).ok());
  ASSERT_TRUE(local->CbcEncrypt(absl::MakeSpan(iv_b), absl::MakeSpan(b)).ok());
  EXPECT_EQ(a, b);
  EXPECT_EQ(iv_a, iv_b);
  iv_a = iv_b = Bytes(16, 7);
  ASSERT_TRUE(key.CbcDecrypt(absl::MakeSpan(iv_a), absl::MakeSpan(a)).ok());
  ASSERT_TRUE(local->CbcDecrypt(absl::MakeSpan(iv_b), absl::MakeSpan(b)).ok());
  EXPECT_EQ(a, data);
  EXPECT_EQ(iv_a, iv_b);
  // While the daemon is away, an operation fails with a clear error naming the key.
  daemon.Stop();
  s = key.EncryptBlocks(block, after, 1);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(absl::StrContains(s.message(), "key 'aes'")) << s;
  ExpectNoSecret(s);
  ASSERT_TRUE(daemon.Start());
  s = key.EncryptBlocks(block, after, 1);
  EXPECT_TRUE(s.ok()) << s;
  store_.reset();
  binder_.reset();
}

TEST_F(TokenTest, ReloadKeepsTheLogin) {
  absl::StatusOr<std::string> file = hsm_->ImportKeys(kKeys);
  ASSERT_TRUE(file.ok());
  auto first = keys::KeyStore::Parse(*file, "k");
  auto second = keys::KeyStore::Parse(*file, "k");
  ASSERT_TRUE(first.ok() && second.ok());
  TokenKeyBinder binder;
  ASSERT_TRUE(binder.Bind(*first).ok());
  ASSERT_TRUE(binder.Bind(*second).ok());
  auto* a = dynamic_cast<const TokenKey*>(first->Find("aes")->cipher.get());
  auto* b = dynamic_cast<const TokenKey*>(second->Find("aes")->cipher.get());
  ASSERT_TRUE(a != nullptr && b != nullptr);
  EXPECT_EQ(&a->token(), &b->token());
}

}  // namespace
}  // namespace desfired::pkcs11
