// Tap MAC scenarios for tests: one key file per tap rule kind (static, EV2, 2TDEA, terminal,
// per-card AES and 2TDEA, terminal + per-card + static) with, for each, the key a record must be
// MACed with, and random records under a scenario (valid and invalid MACs, recurring and new
// cards, a few malformed). batch_test compares the batched paths with the one-record paths over
// them; pkcs11's token tap test compares token keys with file keys.
#ifndef DESFIRED_TESTS_UNIT_CORE_TAP_SCENARIOS_H_
#define DESFIRED_TESTS_UNIT_CORE_TAP_SCENARIOS_H_

#include <functional>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/crypto/an10922.h"
#include "core/keys/key_store.h"
#include "core/tap/mac_verifier.h"
#include "gtest/gtest.h"
#include "tests/unit/core/tap/test_records.h"

namespace desfired::tap::testing {

inline constexpr char kAesKey[] = "000102030405060708090a0b0c0d0e0f";
inline constexpr char kAesKey2[] = "f0e1d2c3b4a5968778695a4b3c2d1e0f";

struct Scenario {
  std::string name;
  std::string key_file;
  // The key type and bytes whose MAC a record from `terminal` with card `uid` must carry, and
  // the algorithm; nullopt when no rule applies.
  std::function<std::optional<std::pair<crypto::KeyType, Bytes>>(uint32_t terminal,
                                                                 const uint8_t* uid)>
      key_for;
  std::function<crypto::MacAlgorithm(uint32_t terminal)> algorithm_for;
};

// A system id short enough for the DES family's 15-byte diversification input.
inline constexpr char kShortSystemHex[] = "3042f5";

inline Bytes CardKey(crypto::KeyType type, const char* master_hex, const uint8_t* uid) {
  Bytes input(uid, uid + kUidDiversifyLength);
  const Bytes system =
      *HexDecode(type == crypto::KeyType::kAes128 ? kCardSystemHex : kShortSystemHex);
  input.insert(input.end(), system.begin(), system.end());
  return *crypto::DiversifyKey(type, *HexDecode(master_hex), input);
}

inline std::vector<Scenario> Scenarios() {
  using crypto::KeyType;
  using crypto::MacAlgorithm;
  std::vector<Scenario> out;
  auto fixed = [](KeyType type, const char* hex) {
    return [type, hex](uint32_t, const uint8_t*) {
      return std::optional(std::pair(type, *HexDecode(hex)));
    };
  };
  auto always = [](MacAlgorithm a) { return [a](uint32_t) { return a; }; };
  out.push_back({"static AES", absl::StrCat("key s AES128 ", kAesKey, "\ntap static key=s\n"),
                 fixed(KeyType::kAes128, kAesKey), always(MacAlgorithm::kAes128Cmac)});
  out.push_back({"static EV2",
                 absl::StrCat("key s AES128 ", kAesKey, "\ntap static key=s mac=AES128_CMAC_EV2\n"),
                 fixed(KeyType::kAes128, kAesKey), always(MacAlgorithm::kAes128CmacEv2)});
  out.push_back({"static 2TDEA", absl::StrCat("key s 2TDEA ", kTdes2KeyHex, "\ntap static key=s\n"),
                 fixed(KeyType::k2Tdea, kTdes2KeyHex), always(MacAlgorithm::kTdesCmac)});
  // Terminals 1..4 with their own keys; the others under no rule.
  out.push_back({"terminal",
                 absl::StrCat("key a AES128 ", kAesKey, "\nkey b AES128 ", kAesKey2,
                              "\nkey c 2TDEA ", kTdes2KeyHex, "\nkey d 3TDEA ", kTdes3KeyHex,
                              "\ntap terminal 1 key=a\ntap terminal 2 key=b mac=AES128_CMAC_EV2\n"
                              "tap terminal 3 key=c\ntap terminal 4 key=d\n"),
                 [](uint32_t t, const uint8_t*) -> std::optional<std::pair<KeyType, Bytes>> {
                   switch (t) {
                     case 1:
                       return std::pair(KeyType::kAes128, *HexDecode(kAesKey));
                     case 2:
                       return std::pair(KeyType::kAes128, *HexDecode(kAesKey2));
                     case 3:
                       return std::pair(KeyType::k2Tdea, *HexDecode(kTdes2KeyHex));
                     case 4:
                       return std::pair(KeyType::k3Tdea, *HexDecode(kTdes3KeyHex));
                   }
                   return std::nullopt;
                 },
                 [](uint32_t t) {
                   return t == 2   ? MacAlgorithm::kAes128CmacEv2
                          : t >= 3 ? MacAlgorithm::kTdesCmac
                                   : MacAlgorithm::kAes128Cmac;
                 }});
  // Per-card keys diversified from `master_hex` (AN10922) with `system_hex`.
  auto per_card = [&always](const char* name, KeyType type, const char* master_hex,
                            const char* system_hex, MacAlgorithm alg) {
    return Scenario{name,
                    absl::StrCat("key m ", crypto::KeyTypeName(type), " ", master_hex,
                                 "\ntap card key=m system=", system_hex, "\n"),
                    [type, master_hex](uint32_t, const uint8_t* uid) {
                      return std::optional(std::pair(type, CardKey(type, master_hex, uid)));
                    },
                    always(alg)};
  };
  out.push_back(per_card("per-card AES", KeyType::kAes128, kCardMasterHex, kCardSystemHex,
                         MacAlgorithm::kAes128Cmac));
  out.push_back(per_card("per-card 2TDEA", KeyType::k2Tdea, kTdes2KeyHex, kShortSystemHex,
                         MacAlgorithm::kTdesCmac));
  // Terminal 1 by its own key, every other terminal by the per-card key (the static rule is
  // shadowed by the card rule).
  out.push_back(
      {"terminal + per-card + static",
       absl::StrCat("key t AES128 ", kAesKey, "\nkey m AES128 ", kCardMasterHex, "\nkey s AES128 ",
                    kAesKey2, "\ntap terminal 1 key=t\ntap card key=m system=", kCardSystemHex,
                    "\ntap static key=s\n"),
       [](uint32_t t, const uint8_t* uid) {
         if (t == 1) return std::optional(std::pair(KeyType::kAes128, *HexDecode(kAesKey)));
         return std::optional(
             std::pair(KeyType::kAes128, CardKey(KeyType::kAes128, kCardMasterHex, uid)));
       },
       always(MacAlgorithm::kAes128Cmac)});
  return out;
}

// Random records under `s`: terminals 1..6, cards from a pool of 40 (recurring) or new, about
// a third with a wrong MAC; a few too short, too long or of a bad type. *valid[i] says whether
// record i's MAC is right.
inline std::vector<Bytes> MakeRecords(const Scenario& s, size_t n, std::mt19937& rng,
                                      std::vector<bool>* valid) {
  std::vector<Bytes> out;
  valid->clear();
  for (size_t i = 0; i < n; ++i) {
    RecordSpec spec;
    spec.type = static_cast<uint8_t>(1 + rng() % 3);
    spec.timestamp = 1700000000 + static_cast<uint32_t>(rng() % 100000);
    spec.terminal = 1 + static_cast<uint32_t>(rng() % 6);
    const uint32_t card =
        rng() % 2 == 0 ? static_cast<uint32_t>(rng() % 40) : static_cast<uint32_t>(1000 + i);
    for (int b = 0; b < 4; ++b) spec.uid[3 + b] = static_cast<uint8_t>(card >> (8 * (3 - b)));
    Bytes r = MakeRecord(spec);
    bool ok = false;
    if (auto key = s.key_for(spec.terminal, spec.uid)) {
      auto cmac = *crypto::Cmac::Create(key->first, key->second);
      MacVerifier::ComputeTapMac(cmac, s.algorithm_for(spec.terminal), r.data(), &r[kMacOffset]);
      ok = true;
    }
    if (rng() % 3 == 0) {
      r[kMacOffset + rng() % kMacLength] ^= static_cast<uint8_t>(1 + rng() % 255);
      ok = false;
    }
    FixCrc(&r);
    switch (rng() % 40) {
      case 0:
        r.resize(20);  // too short: REJECTED
        break;
      case 1:
        r.push_back(0);  // too long: REJECTED
        break;
      case 2:
        r[kTypeOffset] = 9;  // bad type: REJECTED (and the MAC no longer matches)
        ok = false;
        break;
      case 3:
        r.resize(29);  // truncated: still verified
        break;
    }
    out.push_back(std::move(r));
    valid->push_back(ok);
  }
  return out;
}

inline keys::KeyStore Store(const std::string& text) {
  absl::StatusOr<keys::KeyStore> s = keys::KeyStore::Parse(text, "test");
  EXPECT_TRUE(s.ok()) << s.status();
  return std::move(*s);
}

}  // namespace desfired::tap::testing

#endif  // DESFIRED_TESTS_UNIT_CORE_TAP_SCENARIOS_H_
