// desfired.v1 card requests as the card-operation tests build them: on the emulated reader, the
// transit application, the keys of the test key store (tests/unit/core/cardops/fixture.h).
#ifndef DESFIRED_TESTS_UNIT_SERVER_RPC_CARD_REQUESTS_H_
#define DESFIRED_TESTS_UNIT_SERVER_RPC_CARD_REQUESTS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "core/apdu/error_metadata.h"
#include "desfired/v1/card.pb.h"
#include "proto/convert/status_convert.h"

namespace desfired::server::testing {

inline constexpr uint32_t kTransitAid = 0xF51001;
inline constexpr uint32_t kAdminAid = 0xA1A2A3;
inline constexpr char kReader[] = "Emulated Reader 00 00";

inline void SetAuth(v1::KeyRef* auth, const std::string& name, uint32_t number,
                    v1::AuthScheme scheme = v1::AUTH_SCHEME_UNSPECIFIED) {
  auth->set_key_name(name);
  auth->set_key_number(number);
  auth->set_scheme(scheme);
}

// A request on the transit application (or `aid`) with the reader named.
template <typename Request>
Request On(uint32_t aid = kTransitAid) {
  Request r;
  r.mutable_target()->set_reader(kReader);
  r.set_aid(aid);
  return r;
}

// A request on file `file_no` of the transit application (or `aid`) with the key `key_name`
// as key `key_number`.
template <typename Request>
Request OnFile(uint32_t file_no, const std::string& key_name, uint32_t key_number,
               uint32_t aid = kTransitAid) {
  Request r = On<Request>(aid);
  r.set_file_no(file_no);
  SetAuth(r.mutable_auth(), key_name, key_number);
  return r;
}

// The "field" of an INVALID_ARGUMENT as the client sees it (ToErrorInfo); "" otherwise.
inline std::string Field(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kInvalidArgument) return "";
  const google::rpc::ErrorInfo info = ToErrorInfo(status);
  auto it = info.metadata().find(std::string(apdu::kMetadataField));
  return it == info.metadata().end() ? "" : it->second;
}

// Debit of `amount` on the transit value file with the debit key.
inline v1::DebitRequest DebitOf(int32_t amount, bool defer = false) {
  auto r = OnFile<v1::DebitRequest>(1, "app_debit", 2);
  r.set_amount(amount);
  r.set_defer_commit(defer);
  return r;
}

// The tap records (file 3) with the read key.
inline v1::ReadRecordsRequest ReadTapsOf(int32_t page_size, std::string token) {
  auto r = OnFile<v1::ReadRecordsRequest>(3, "app_read", 1);
  r.set_page_size(page_size);
  r.set_page_token(std::move(token));
  return r;
}

// Application `aid` (AES, 3 keys) with the key settings byte `settings`, by the PICC key.
inline v1::CreateApplicationRequest CreateAppOf(uint32_t aid, uint8_t settings) {
  auto create = On<v1::CreateApplicationRequest>(aid);
  SetAuth(create.mutable_auth(), "picc", 0);
  v1::KeySettings* ks = create.mutable_key_settings();
  ks->set_master_key_changeable((settings & 0x01) != 0);
  ks->set_free_directory_list((settings & 0x02) != 0);
  ks->set_free_create_delete((settings & 0x04) != 0);
  ks->set_configuration_changeable((settings & 0x08) != 0);
  ks->set_change_key_access(settings >> 4);
  create.set_key_count(3);
  create.set_key_family(v1::KEY_FAMILY_AES);
  return create;
}

// File `file_no` of `type` in `aid`: access rights read, write and read-write key 1, change key
// 0; 48 bytes, values 0..1000 (100 at first, limited credit), or 4 records of 16.
inline v1::CreateFileRequest MakeFileOf(uint32_t file_no, v1::FileType type,
                                        v1::CommunicationMode mode,
                                        const std::string& key = "zero_aes",
                                        uint32_t aid = kAdminAid) {
  auto create = OnFile<v1::CreateFileRequest>(file_no, key, 0, aid);
  v1::FileSettings* s = create.mutable_settings();
  s->set_file_type(type);
  s->set_communication_mode(mode);
  s->mutable_access_rights()->set_read(1);
  s->mutable_access_rights()->set_write(1);
  s->mutable_access_rights()->set_read_write(1);
  s->mutable_access_rights()->set_change_settings(0);
  switch (type) {
    case v1::FILE_TYPE_STANDARD:
    case v1::FILE_TYPE_BACKUP:
      s->mutable_data()->set_size(48);
      break;
    case v1::FILE_TYPE_VALUE:
      s->mutable_value()->set_upper_limit(1000);
      s->mutable_value()->set_limited_credit_enabled(true);
      create.set_initial_value(100);
      break;
    default:
      s->mutable_record()->set_record_size(16);
      s->mutable_record()->set_max_records(4);
      break;
  }
  return create;
}

}  // namespace desfired::server::testing

#endif  // DESFIRED_TESTS_UNIT_SERVER_RPC_CARD_REQUESTS_H_
