#include "core/tap/mac_verifier.h"

#include <cstring>

#include "core/crypto/an10922.h"
#include "core/crypto/random.h"
#include "core/tap/format.h"
#include "core/util/status_macros.h"

namespace desfired::tap {
namespace {

// Distinct cards whose diversified key stays prepared; the cache is cleared when full.
constexpr size_t kCardCacheSize = 4096;

absl::StatusOr<std::unique_ptr<crypto::Cmac>> PrepareCmac(crypto::KeyType type, ByteSpan key) {
  DESFIRED_ASSIGN_OR_RETURN(crypto::Cmac cmac, crypto::Cmac::Create(type, key));
  return std::make_unique<crypto::Cmac>(std::move(cmac));
}

}  // namespace

MacVerifier::MacVerifier(MacVerifier&&) noexcept = default;
MacVerifier& MacVerifier::operator=(MacVerifier&&) noexcept = default;
MacVerifier::~MacVerifier() = default;

absl::StatusOr<MacVerifier> MacVerifier::Create(const keys::KeyStore& store) {
  MacVerifier v;
  for (const keys::TapRule& rule : store.terminal_rules()) {
    Prepared p;
    DESFIRED_ASSIGN_OR_RETURN(p.cmac, PrepareCmac(rule.key->type, rule.key->value.view()));
    p.algorithm = rule.mac;
    p.name = &rule.key->name;
    v.terminal_.emplace(rule.terminal_id, std::move(p));
  }
  if (const auto& rule = store.card_rule()) {
    v.card_ = std::make_unique<CardRule>();
    DESFIRED_ASSIGN_OR_RETURN(v.card_->master.cmac,
                              PrepareCmac(rule->key->type, rule->key->value.view()));
    v.card_->master.algorithm = rule->mac;
    v.card_->master.name = &rule->key->name;
    v.card_->type = rule->key->type;
    v.card_->input.assign(kUidDiversifyLength, 0);
    v.card_->input.insert(v.card_->input.end(), rule->system_id.begin(), rule->system_id.end());
  }
  if (const auto& rule = store.static_rule()) {
    Prepared p;
    DESFIRED_ASSIGN_OR_RETURN(p.cmac, PrepareCmac(rule->key->type, rule->key->value.view()));
    p.algorithm = rule->mac;
    p.name = &rule->key->name;
    v.static_ = std::move(p);
  }
  return v;
}

void MacVerifier::ComputeTapMac(const crypto::Cmac& cmac, crypto::MacAlgorithm algorithm,
                                const uint8_t* record, uint8_t out[8]) {
  uint8_t full[16];
  cmac.Compute(ByteSpan(record, kMacCoveredLength), full);
  if (algorithm == crypto::MacAlgorithm::kAes128CmacEv2) {
    for (int i = 0; i < 8; ++i) out[i] = full[2 * i + 1];
  } else {
    std::memcpy(out, full, 8);
  }
}

MacVerifier::Outcome MacVerifier::Check(const Prepared& p, const crypto::Cmac& cmac,
                                        const uint8_t* record) {
  uint8_t expected[kMacLength];
  ComputeTapMac(cmac, p.algorithm, record, expected);
  Outcome o;
  o.key_name = p.name;
  o.algorithm = p.algorithm;
  o.verified = crypto::ConstantTimeEquals(ByteSpan(expected, kMacLength),
                                          ByteSpan(record + kMacOffset, kMacLength));
  return o;
}

const crypto::Cmac* MacVerifier::CardKey(const uint8_t* record) {
  uint64_t uid = 0;
  for (size_t i = 0; i < kUidDiversifyLength; ++i) {
    uid = uid << 8 | record[kUidOffset + i];
  }
  auto it = card_->cache.find(uid);
  if (it != card_->cache.end()) return it->second.get();
  if (card_->cache.size() >= kCardCacheSize) card_->cache.clear();
  std::memcpy(card_->input.data(), record + kUidOffset, kUidDiversifyLength);
  uint8_t key[24];
  const size_t key_len = crypto::KeyLength(card_->type);
  if (!crypto::DiversifyKeyWith(*card_->master.cmac, card_->type, card_->input, key).ok()) {
    return nullptr;
  }
  absl::StatusOr<std::unique_ptr<crypto::Cmac>> cmac =
      PrepareCmac(card_->type, ByteSpan(key, key_len));
  crypto::SecureWipe(MutableByteSpan(key, sizeof(key)));
  if (!cmac.ok()) return nullptr;
  const crypto::Cmac* out = cmac->get();
  card_->cache.emplace(uid, std::move(*cmac));
  return out;
}

MacVerifier::Outcome MacVerifier::Verify(const uint8_t* record, uint32_t terminal_id) {
  if (!terminal_.empty()) {
    auto it = terminal_.find(terminal_id);
    if (it != terminal_.end()) return Check(it->second, *it->second.cmac, record);
  }
  if (card_) {
    const crypto::Cmac* cmac = CardKey(record);
    if (cmac != nullptr) return Check(card_->master, *cmac, record);
    Outcome failed;  // diversification failed: the key applies but cannot verify
    failed.key_name = card_->master.name;
    failed.algorithm = card_->master.algorithm;
    return failed;
  }
  if (static_) return Check(*static_, *static_->cmac, record);
  return Outcome{};
}

}  // namespace desfired::tap
