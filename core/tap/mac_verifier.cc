#include "core/tap/mac_verifier.h"

#include <algorithm>
#include <cstring>
#include <functional>

#include "absl/strings/str_cat.h"
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

// True when an AES-128 key MACs records through crypto::Aes128Cmac (AES-NI): faster than the
// OpenSSL context of crypto::Cmac, and cheap to set up for a new card's key.
bool UseAesSchedule(crypto::KeyType type) {
  return type == crypto::KeyType::kAes128 && crypto::Aes128Schedule::Accelerated();
}

// The tags of `count` records under `key` (16-byte slots); false when the token failed.
bool ComputeTags(const crypto::Aes128Cmac* aes, const crypto::Cmac* cmac,
                 const crypto::KeyCipher* cipher, const uint8_t* const* messages, size_t count,
                 uint8_t* tags) {
  if (aes != nullptr) {
    aes->ComputeMany(messages, kMacCoveredLength, count, tags);
    return true;
  }
  if (cmac != nullptr) {
    cmac->ComputeMany(messages, kMacCoveredLength, count, tags);
  } else if (!crypto::CmacManyVia(*cipher, messages, kMacCoveredLength, count, tags).ok()) {
    return false;
  }
  const size_t bs = cmac != nullptr ? cmac->block_size() : cipher->block_size();
  if (bs != 16) {  // spread 8-byte tags to the 16-byte slots
    for (size_t k = count; k-- > 0;) std::memmove(tags + k * 16, tags + k * 8, 8);
  }
  return true;
}

}  // namespace

MacVerifier::MacVerifier(MacVerifier&&) noexcept = default;
MacVerifier& MacVerifier::operator=(MacVerifier&&) noexcept = default;
MacVerifier::~MacVerifier() = default;

absl::StatusOr<MacVerifier::Prepared> MacVerifier::Prepare(const keys::TapRule& rule) {
  Prepared p;
  if (rule.key->in_token()) {
    if (rule.key->cipher == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("key '", rule.key->name, "' is in a PKCS#11 token and is not bound to it"));
    }
    p.key.cipher = rule.key->cipher;
  } else {
    DESFIRED_ASSIGN_OR_RETURN(p.key.cmac, PrepareCmac(rule.key->type, rule.key->value.view()));
    if (UseAesSchedule(rule.key->type)) {
      p.key.aes = std::make_unique<crypto::Aes128Cmac>(rule.key->value.view().data());
    }
  }
  p.algorithm = rule.mac;
  p.name = &rule.key->name;
  return p;
}

absl::StatusOr<MacVerifier> MacVerifier::Create(const keys::KeyStore& store) {
  MacVerifier v;
  for (const keys::TapRule& rule : store.terminal_rules()) {
    DESFIRED_ASSIGN_OR_RETURN(Prepared p, Prepare(rule));
    v.terminal_.emplace(rule.terminal_id, std::move(p));
  }
  if (const auto& rule = store.card_rule()) {
    v.card_ = std::make_unique<CardRule>();
    DESFIRED_ASSIGN_OR_RETURN(v.card_->master, Prepare(*rule));
    v.card_->type = rule->key->type;
    v.card_->input.assign(kUidDiversifyLength, 0);
    v.card_->input.insert(v.card_->input.end(), rule->system_id.begin(), rule->system_id.end());
  }
  if (const auto& rule = store.static_rule()) {
    DESFIRED_ASSIGN_OR_RETURN(v.static_, Prepare(*rule));
  }
  return v;
}

namespace {

// The 8 MAC bytes a record carries, from the full CMAC tag.
void TruncateTag(crypto::MacAlgorithm algorithm, const uint8_t* full, uint8_t out[8]) {
  if (algorithm == crypto::MacAlgorithm::kAes128CmacEv2) {
    crypto::TruncateMacOddBytes(full, out);
  } else {
    std::memcpy(out, full, 8);
  }
}

uint64_t CardId(const uint8_t* record) {
  uint64_t uid = 0;
  for (size_t i = 0; i < kUidDiversifyLength; ++i) uid = uid << 8 | record[kUidOffset + i];
  return uid;
}

}  // namespace

void MacVerifier::ComputeTapMac(const crypto::Cmac& cmac, crypto::MacAlgorithm algorithm,
                                const uint8_t* record, uint8_t out[8]) {
  uint8_t full[16];
  cmac.Compute(ByteSpan(record, kMacCoveredLength), full);
  TruncateTag(algorithm, full, out);
}

void MacVerifier::CardKeys(const uint8_t* const* records, const Prepared* const* rules,
                           size_t count, const MacKey** keys) {
  auto& cache = card_->cache;
  // Clearing the cache drops the keys it owns, so it happens before any is handed out.
  if (cache.size() + count > kCardCacheSize) cache.clear();
  size_t fresh[kMaxBatch];  // records whose card is new (each card once)
  size_t n_fresh = 0;
  for (size_t i = 0; i < count; ++i) {
    if (rules[i] != &card_->master) continue;
    auto [it, inserted] = cache.try_emplace(CardId(records[i]), nullptr);
    if (inserted) fresh[n_fresh++] = i;
    keys[i] = it->second.get();
  }
  if (n_fresh > 0) {
    const size_t input_length = card_->input.size();
    uint8_t inputs[kMaxBatch][kUidDiversifyLength + 32];
    const uint8_t* input_ptrs[kMaxBatch];
    for (size_t f = 0; f < n_fresh; ++f) {
      std::memcpy(inputs[f], card_->input.data(), input_length);  // system id after the UID
      std::memcpy(inputs[f], records[fresh[f]] + kUidOffset, kUidDiversifyLength);
      input_ptrs[f] = inputs[f];
    }
    const size_t key_length = crypto::KeyLength(card_->type);
    uint8_t diversified[kMaxBatch * 24];
    const MacKey& master = card_->master.key;
    // A master in the token diversifies there; the per-card keys come back to the host.
    const bool ok =
        input_length <= sizeof(inputs[0]) &&
        (master.cmac != nullptr ? crypto::DiversifyKeysWith(*master.cmac, card_->type, input_ptrs,
                                                            input_length, n_fresh, diversified)
                                : crypto::DiversifyKeysVia(*master.cipher, card_->type, input_ptrs,
                                                           input_length, n_fresh, diversified))
            .ok();
    for (size_t f = 0; f < n_fresh; ++f) {
      const uint64_t uid = CardId(records[fresh[f]]);
      if (ok && UseAesSchedule(card_->type)) {
        cache[uid] = std::make_unique<MacKey>(MacKey{
            std::make_unique<crypto::Aes128Cmac>(diversified + f * key_length), nullptr, nullptr});
        continue;
      }
      absl::StatusOr<std::unique_ptr<crypto::Cmac>> cmac =
          ok ? PrepareCmac(card_->type, ByteSpan(diversified + f * key_length, key_length))
             : absl::InternalError("diversification failed");
      if (cmac.ok()) {
        cache[uid] = std::make_unique<MacKey>(MacKey{nullptr, *std::move(cmac), nullptr});
      } else {
        cache.erase(uid);  // not cached: the next record of the card tries again
      }
    }
    crypto::SecureWipe(MutableByteSpan(diversified, n_fresh * key_length));
    for (size_t i = 0; i < count; ++i) {
      if (rules[i] != &card_->master || keys[i] != nullptr) continue;
      auto it = cache.find(CardId(records[i]));
      if (it != cache.end()) keys[i] = it->second.get();
    }
  }
}

void MacVerifier::VerifyChunk(const uint8_t* const* records, const uint32_t* terminal_ids,
                              size_t count, Outcome* out) {
  if (terminal_.empty() && !card_ && static_) {  // one static key: no rules to look up
    uint8_t tags[kMaxBatch * 16];
    const MacKey& key = static_->key;
    const bool ok =
        ComputeTags(key.aes.get(), key.cmac.get(), key.cipher.get(), records, count, tags);
    for (size_t i = 0; i < count; ++i) {
      Outcome o;
      o.key_name = static_->name;
      o.algorithm = static_->algorithm;
      if (ok) {
        uint8_t expected[kMacLength];
        TruncateTag(static_->algorithm, tags + i * 16, expected);
        o.verified = crypto::ConstantTimeEquals8(expected, records[i] + kMacOffset);
      } else {
        o.key_unavailable = true;
      }
      out[i] = o;
    }
    return;
  }

  const Prepared* rules[kMaxBatch];
  const MacKey* keys[kMaxBatch];
  bool any_card = false;
  for (size_t i = 0; i < count; ++i) {
    rules[i] = nullptr;
    keys[i] = nullptr;
    if (!terminal_.empty()) {
      auto it = terminal_.find(terminal_ids[i]);
      if (it != terminal_.end()) {
        rules[i] = &it->second;
        keys[i] = &it->second.key;
        continue;
      }
    }
    if (card_) {
      rules[i] = &card_->master;
      any_card = true;
    } else if (static_) {
      rules[i] = &*static_;
      keys[i] = &static_->key;
    }
  }
  if (any_card) CardKeys(records, rules, count, keys);

  uint8_t tags[kMaxBatch * 16];
  bool computed[kMaxBatch];
  size_t order[kMaxBatch];  // tag k belongs to record order[k]
  size_t n = 0;
  const MacKey* first_key = count > 0 ? keys[0] : nullptr;
  bool one_key = first_key != nullptr;
  for (size_t i = 1; i < count && one_key; ++i) one_key = keys[i] == first_key;
  if (one_key) {  // every record under the same key (a static key): the records as they are
    const bool ok = ComputeTags(first_key->aes.get(), first_key->cmac.get(),
                                first_key->cipher.get(), records, count, tags);
    for (size_t i = 0; i < count; ++i) order[i] = i;
    std::fill(computed, computed + count, ok);
    n = count;
  } else {
    // The records that have a key, ordered by key so that each key's records are MACed
    // together.
    for (size_t i = 0; i < count; ++i) {
      if (keys[i] != nullptr) order[n++] = i;
    }
    std::sort(order, order + n, [&keys](size_t a, size_t b) {
      return std::less<const MacKey*>()(keys[a], keys[b]) || (keys[a] == keys[b] && a < b);
    });
    const uint8_t* messages[kMaxBatch];
    for (size_t run = 0; run < n;) {
      const MacKey* key = keys[order[run]];
      size_t end = run;
      while (end < n && keys[order[end]] == key) {
        messages[end] = records[order[end]];
        ++end;
      }
      const bool ok = ComputeTags(key->aes.get(), key->cmac.get(), key->cipher.get(),
                                  messages + run, end - run, tags + run * 16);
      std::fill(computed + run, computed + end, ok);
      run = end;
    }
  }

  for (size_t i = 0; i < count; ++i) {
    out[i] = Outcome{};
    if (rules[i] == nullptr) continue;  // no rule applied
    out[i].key_name = rules[i]->name;
    out[i].algorithm = rules[i]->algorithm;
    // A key that applies but could not be derived or used: named, not verified.
    out[i].key_unavailable = true;
  }
  for (size_t k = 0; k < n; ++k) {
    const size_t i = order[k];
    if (!computed[k]) continue;
    uint8_t expected[kMacLength];
    TruncateTag(rules[i]->algorithm, tags + k * 16, expected);
    out[i].verified = crypto::ConstantTimeEquals8(expected, records[i] + kMacOffset);
    out[i].key_unavailable = false;
  }
}

void MacVerifier::VerifyBatch(const uint8_t* const* records, const uint32_t* terminal_ids,
                              size_t count, Outcome* out) {
  for (size_t first = 0; first < count; first += kMaxBatch) {
    VerifyChunk(records + first, terminal_ids + first, std::min(kMaxBatch, count - first),
                out + first);
  }
}

MacVerifier::Outcome MacVerifier::Verify(const uint8_t* record, uint32_t terminal_id) {
  Outcome out;
  VerifyBatch(&record, &terminal_id, 1, &out);
  return out;
}

}  // namespace desfired::tap
