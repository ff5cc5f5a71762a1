// The keys a CardService request would have desfired present to the card, and where: what the
// key policy (ServerHooks::key_check, server/security/key_policy.h) decides on before anything
// is recorded or queued.
//
//   std::vector<KeyPresentation> keys = PresentedKeys(request);   // e.g. a GetCardInfoRequest
//   // {{"picc", 0, 0}}: auth.key_name at the card level
//
// Where each request authenticates (core/cardops): in `aid` for the requests with one, except
// CreateApplication (the card level: `aid` is the application to create) and DeleteApplication
// (the card level first, then the application: both are listed). GetCardInfo, ListApplications
// and FormatCard work at the card level. ChangeKey also presents new_key_name, and old_key_name
// when key_number differs from auth.key_number, as key `key_number` of `aid`. A Transaction MAC
// key (Credit / Debit / LimitedCredit transaction_mac.key_name, CreateFile
// settings.transaction_mac.key_name) is presented on `aid` as kTmacKeySlot (no key number of the
// application: its use is the method's, write or change). An empty key name presents nothing.
//
// Thread-safe: pure functions.
#ifndef DESFIRED_SERVER_RPC_PRESENTED_KEYS_H_
#define DESFIRED_SERVER_RPC_PRESENTED_KEYS_H_

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "desfired/v1/card.pb.h"
#include "server/rpc/hooks.h"

namespace desfired::server {

// The key number a Transaction MAC key is presented as (docs/ev3.md).
inline constexpr uint8_t kTmacKeySlot = 0x0F;

template <typename Request>
std::vector<KeyPresentation> PresentedKeys(const Request& r) {
  std::vector<KeyPresentation> out;
  uint32_t aid = 0;
  if constexpr (requires { r.aid(); }) aid = r.aid();
  constexpr bool kCreatesApplication = std::is_same_v<Request, v1::CreateApplicationRequest>;
  constexpr bool kDeletesApplication = std::is_same_v<Request, v1::DeleteApplicationRequest>;
  if constexpr (kCreatesApplication || kDeletesApplication) aid = 0;
  if constexpr (!requires { r.auth(); })
    return out;  // VerifyOriginality: no key
  else {
    const std::string& name = r.auth().key_name();
    const auto key_no = static_cast<uint8_t>(r.auth().key_number());
    if (!name.empty()) {
      out.push_back({name, aid, key_no});
      if constexpr (kDeletesApplication) out.push_back({name, r.aid(), key_no});
    }
    if constexpr (std::is_same_v<Request, v1::ChangeKeyRequest>) {
      const auto changed = static_cast<uint8_t>(r.key_number());
      if (!r.new_key_name().empty()) out.push_back({r.new_key_name(), aid, changed});
      if (!r.old_key_name().empty() && r.key_number() != r.auth().key_number()) {
        out.push_back({r.old_key_name(), aid, changed});
      }
    }
    if constexpr (requires { r.transaction_mac(); }) {
      if (!r.transaction_mac().key_name().empty()) {
        out.push_back({r.transaction_mac().key_name(), aid, kTmacKeySlot});
      }
    }
    if constexpr (std::is_same_v<Request, v1::CreateFileRequest>) {
      const std::string& tmac = r.settings().transaction_mac().key_name();
      if (!tmac.empty()) out.push_back({tmac, aid, kTmacKeySlot});
    }
    return out;
  }
}

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_RPC_PRESENTED_KEYS_H_
