#include "server/security/auth.h"

#include <openssl/evp.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/apdu/error_metadata.h"
#include "core/apdu/status_payload.h"
#include "core/crypto/random.h"
#include "core/util/bytes.h"
#include "core/util/echo.h"
#include "core/util/enum_table.h"
#include "core/util/private_file.h"
#include "grpc/grpc_security_constants.h"
#include "grpcpp/security/auth_context.h"
#include "grpcpp/server_context.h"
#include "proto/convert/status_convert.h"
#include "server/security/key_policy.h"

namespace desfired::server {
namespace {

constexpr size_t kMaxTokensFileSize = 1 << 20;
constexpr size_t kMaxNameLength = 64;
constexpr absl::string_view kHashPrefix = "sha256:";
constexpr absl::string_view kCertPrefix = "cert:";

constexpr MethodRole kMethodRoles[] = {
    // Reading: viewer.
    {"CardService", "ListReaders", Role::kViewer},
    {"CardService", "WatchCards", Role::kViewer},
    {"CardService", "GetCardInfo", Role::kViewer},
    {"CardService", "ListApplications", Role::kViewer},
    {"CardService", "ListFiles", Role::kViewer},
    {"CardService", "GetFileSettings", Role::kViewer},
    {"CardService", "ReadData", Role::kViewer},
    {"CardService", "GetValue", Role::kViewer},
    {"CardService", "ReadRecords", Role::kViewer},
    {"CardService", "ReadTapLog", Role::kViewer},
    {"CardService", "VerifyOriginality", Role::kViewer},
    {"TapService", "ParseTaps", Role::kViewer},
    {"TapService", "ParseTapStream", Role::kViewer},
    {"TapService", "VerifySun", Role::kViewer},
    {"TapService", "VerifySunStream", Role::kViewer},
    // Changing the contents of files: operator.
    {"CardService", "WriteData", Role::kOperator},
    {"CardService", "Credit", Role::kOperator},
    {"CardService", "Debit", Role::kOperator},
    {"CardService", "LimitedCredit", Role::kOperator},
    {"CardService", "WriteRecord", Role::kOperator},
    {"CardService", "ClearRecordFile", Role::kOperator},
    {"CardService", "CommitTransaction", Role::kOperator},
    {"CardService", "AbortTransaction", Role::kOperator},
    // Issuing cards (structure and keys): admin.
    {"CardService", "FormatCard", Role::kAdmin},
    {"CardService", "CreateApplication", Role::kAdmin},
    {"CardService", "DeleteApplication", Role::kAdmin},
    {"CardService", "CreateFile", Role::kAdmin},
    {"CardService", "DeleteFile", Role::kAdmin},
    {"CardService", "ChangeFileSettings", Role::kAdmin},
    {"CardService", "ChangeKey", Role::kAdmin},
    {"CardService", "ChangeKeySettings", Role::kAdmin},
};

std::array<uint8_t, 32> Sha256(absl::string_view data) {
  std::array<uint8_t, 32> digest{};
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest.data(), &size, EVP_sha256(), nullptr);
  return digest;
}

bool ValidName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '.' && c != '_' && c != '@' && c != '-') return false;
  }
  return true;
}

bool ValidCommonName(absl::string_view cn) {
  if (cn.empty() || cn.size() > kMaxNameLength) return false;
  for (char c : cn) {
    if (!absl::ascii_isgraph(c)) return false;
  }
  return true;
}

absl::Status Unauthenticated(absl::string_view reason, absl::string_view message) {
  return apdu::WithReason(absl::UnauthenticatedError(message), reason);
}

// The token of an "authorization" value "Bearer TOKEN" (scheme in any case); nullopt when the
// value is not of that form.
std::optional<absl::string_view> BearerToken(absl::string_view value) {
  value = absl::StripAsciiWhitespace(value);
  const size_t space = value.find_first_of(" \t");
  if (space == absl::string_view::npos) return std::nullopt;
  if (!absl::EqualsIgnoreCase(value.substr(0, space), "bearer")) return std::nullopt;
  absl::string_view token = absl::StripLeadingAsciiWhitespace(value.substr(space));
  if (token.empty()) return std::nullopt;
  return token;
}

}  // namespace

constexpr EnumRow<Role, absl::string_view> kRoleNames[] = {
    {Role::kViewer, "viewer"}, {Role::kOperator, "operator"}, {Role::kAdmin, "admin"}};

absl::string_view RoleName(Role role) { return ValueOf(kRoleNames, role).value_or("admin"); }

std::optional<Role> ParseRole(absl::string_view name) { return KeyOf(kRoleNames, name); }

absl::Span<const MethodRole> MethodRoles() { return kMethodRoles; }

Role RequiredRole(absl::string_view method) {
  for (const MethodRole& m : kMethodRoles) {
    if (m.method == method) return m.role;
  }
  return Role::kAdmin;
}

bool IsStreamMethod(absl::string_view method) {
  return method == "WatchCards" || method == "ParseTapStream" || method == "VerifySunStream";
}

std::string TokenHash(absl::string_view token) {
  const std::array<uint8_t, 32> digest = Sha256(token);
  return absl::StrCat(kHashPrefix, HexEncode(ByteSpan(digest.data(), digest.size())));
}

// ---------------------------------------------------------------------------------------
// CallerTable.

absl::StatusOr<CallerTable> CallerTable::LoadFile(const std::string& path) {
  absl::StatusOr<std::string> text =
      ReadSmallFile(path, {.what = "tokens file", .max_bytes = kMaxTokensFileSize});
  if (!text.ok()) return text.status();
  return Parse(*text, path);
}

absl::StatusOr<CallerTable> CallerTable::Parse(absl::string_view text, absl::string_view source) {
  CallerTable table;
  absl::flat_hash_map<std::string, int> names;    // token NAME → line
  absl::flat_hash_map<std::string, int> digests;  // digest → line
  absl::flat_hash_map<std::string, int> cns;      // cert CN → line
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    // Errors describe fields by position and never quote them: a token pasted into the wrong
    // field must not end up in a log.
    auto error = [&](absl::string_view what) {
      return absl::InvalidArgumentError(
          absl::StrCat("tokens file ", source, " line ", line_no, ": ", what));
    };
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (fields[0] == "token") {
      if (fields.size() != 4) {
        return error(absl::StrCat("expected 'token NAME ROLE sha256:HEX' (4 fields), got ",
                                  fields.size(), " fields"));
      }
      if (!ValidName(fields[1])) {
        return error("NAME (field 2) must be 1 to 64 of A-Z a-z 0-9 . _ @ -");
      }
      const std::optional<Role> role = ParseRole(fields[2]);
      if (!role) return error("unknown role in ROLE (field 3): use viewer, operator or admin");
      absl::string_view hash = fields[3];
      if (!absl::StartsWith(hash, kHashPrefix) || hash.size() != kHashPrefix.size() + 64) {
        return error(
            "field 4 must be sha256: and the 64 hex digits of the token's SHA-256 (made by "
            "desfired --hash_token); the token itself is not accepted in the file");
      }
      absl::StatusOr<Bytes> digest = HexDecode(hash.substr(kHashPrefix.size()));
      if (!digest.ok() || digest->size() != 32) {
        return error("field 4: the SHA-256 must be 64 hex digits");
      }
      const std::string name(fields[1]);
      if (auto [it, inserted] = names.try_emplace(name, line_no); !inserted) {
        return error(absl::StrCat("NAME (field 2) is already used on line ", it->second));
      }
      const std::string key(digest->begin(), digest->end());
      if (auto [it, inserted] = digests.try_emplace(key, line_no); !inserted) {
        return error(absl::StrCat("the same token digest as line ", it->second));
      }
      TokenEntry entry;
      std::copy(digest->begin(), digest->end(), entry.digest.begin());
      entry.principal = Principal{.name = name, .role = *role};
      table.tokens_.push_back(std::move(entry));
    } else if (fields[0] == "cert") {
      if (fields.size() != 3) {
        return error(absl::StrCat("expected 'cert CN ROLE' (3 fields; CN without spaces), got ",
                                  fields.size(), " fields"));
      }
      if (!ValidCommonName(fields[1])) {
        return error("CN (field 2) must be 1 to 64 printable characters without spaces");
      }
      const std::optional<Role> role = ParseRole(fields[2]);
      if (!role) return error("unknown role in ROLE (field 3): use viewer, operator or admin");
      const std::string cn(fields[1]);
      if (auto [it, inserted] = cns.try_emplace(cn, line_no); !inserted) {
        return error(absl::StrCat("CN (field 2) is already used on line ", it->second));
      }
      table.certs_.emplace(cn, Principal{.name = absl::StrCat(kCertPrefix, cn), .role = *role});
    } else {
      return error("an entry starts with 'token' or 'cert'");
    }
  }
  return table;
}

const Principal* CallerTable::FindToken(absl::string_view token) const {
  const std::array<uint8_t, 32> digest = Sha256(token);
  const Principal* found = nullptr;
  // Every entry is compared, each in constant time: the time taken says nothing about how
  // much of a digest matched.
  for (const TokenEntry& e : tokens_) {
    const bool equal = crypto::ConstantTimeEquals(ByteSpan(digest.data(), digest.size()),
                                                  ByteSpan(e.digest.data(), e.digest.size()));
    if (equal) found = &e.principal;
  }
  return found;
}

const Principal* CallerTable::FindCert(absl::string_view common_name) const {
  auto it = certs_.find(common_name);
  return it == certs_.end() ? nullptr : &it->second;
}

// ---------------------------------------------------------------------------------------
// Credentials of a call.

CallCredentials CredentialsOf(const grpc::CallbackServerContext* context) {
  CallCredentials c;
  const auto& metadata = context->client_metadata();
  if (auto it = metadata.find("authorization"); it != metadata.end()) {
    c.authorization = std::string(it->second.data(), it->second.size());
  }
  std::shared_ptr<const grpc::AuthContext> auth = context->auth_context();
  if (auth != nullptr && auth->IsPeerAuthenticated()) {
    std::vector<grpc::string_ref> type =
        auth->FindPropertyValues(GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME);
    if (!type.empty() &&
        absl::string_view(type[0].data(), type[0].size()) == GRPC_SSL_TRANSPORT_SECURITY_TYPE) {
      for (const grpc::string_ref& cn : auth->FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME)) {
        c.cert_common_names.emplace_back(cn.data(), cn.size());
      }
    }
  }
  c.peer = context->peer();
  return c;
}

// ---------------------------------------------------------------------------------------
// Authorizer.

absl::StatusOr<Principal> Authorizer::Identify(const CallCredentials& credentials) const {
  const CallerTable& table = options_.callers;
  if (table.open()) return Principal{.name = CallerName(credentials), .role = Role::kAdmin};
  if (credentials.authorization.has_value()) {
    std::optional<absl::string_view> token = BearerToken(*credentials.authorization);
    if (!token) {
      return Unauthenticated(kReasonTokenInvalid,
                             "the authorization metadata is not 'Bearer TOKEN'");
    }
    const Principal* p = table.FindToken(*token);
    if (p == nullptr) {
      return Unauthenticated(kReasonTokenInvalid, "the bearer token is not one this server knows");
    }
    return *p;
  }
  for (const std::string& cn : credentials.cert_common_names) {
    if (const Principal* p = table.FindCert(cn)) return *p;
  }
  std::string message = "this server needs a bearer token (metadata 'authorization: Bearer TOKEN')";
  if (!credentials.cert_common_names.empty()) {
    absl::StrAppend(&message, "; the client certificate (CN '",
                    Echo(credentials.cert_common_names[0]), "') is not in its tokens file");
  }
  return Unauthenticated(kReasonTokenMissing, message);
}

absl::Status Authorizer::Check(const CallCredentials& credentials, absl::string_view method) const {
  absl::StatusOr<Principal> principal = Identify(credentials);
  if (!principal.ok()) return principal.status();
  return CheckRole(*principal, method);
}

absl::Status Authorizer::CheckRole(const Principal& principal, absl::string_view method) {
  const Role required = RequiredRole(method);
  if (principal.role >= required) return absl::OkStatus();
  absl::Status denied =
      apdu::WithReason(absl::PermissionDeniedError(absl::StrCat(
                           "caller '", principal.name, "' has the role ", RoleName(principal.role),
                           "; ", method, " needs ", RoleName(required))),
                       kReasonRoleDenied);
  denied =
      apdu::WithErrorMetadata(std::move(denied), apdu::kMetadataRole, RoleName(principal.role));
  return apdu::WithErrorMetadata(std::move(denied), apdu::kMetadataRequired, RoleName(required));
}

std::string Authorizer::PrincipalName(const CallCredentials& credentials) const {
  if (credentials.authorization.has_value() && !options_.callers.open()) {
    if (std::optional<absl::string_view> token = BearerToken(*credentials.authorization)) {
      if (const Principal* p = options_.callers.FindToken(*token)) return p->name;
    }
  }
  if (!credentials.cert_common_names.empty()) {
    return absl::StrCat(kCertPrefix, credentials.cert_common_names[0]);
  }
  return "";
}

std::string Authorizer::CallerName(const CallCredentials& credentials) const {
  std::string name = PrincipalName(credentials);
  return name.empty() ? credentials.peer : name;
}

absl::Status Authorizer::AdmitStream(const std::string& caller, const void* call) {
  const size_t max = options_.max_streams_per_caller;
  absl::MutexLock lock(&mu_);
  size_t& open = open_[caller];
  if (max > 0 && open >= max) {
    if (open == 0) open_.erase(caller);
    return apdu::WithReason(
        absl::ResourceExhaustedError(absl::StrCat(
            "caller '", caller, "' has ", open, " streams open (WatchCards, ParseTapStream); ",
            "at most ", max, " per caller: close one or retry later")),
        kReasonTooManyStreams);
  }
  ++open;
  streams_.emplace(call, caller);
  return absl::OkStatus();
}

void Authorizer::EndCall(const void* call) {
  absl::MutexLock lock(&mu_);
  auto it = streams_.find(call);
  if (it == streams_.end()) return;
  auto open = open_.find(it->second);
  if (open != open_.end() && --open->second == 0) open_.erase(open);
  streams_.erase(it);
}

size_t Authorizer::open_streams(const std::string& caller) const {
  absl::MutexLock lock(&mu_);
  auto it = open_.find(caller);
  return it == open_.end() ? 0 : it->second;
}

ServerHooks WithAuthorizer(std::shared_ptr<Authorizer> authorizer, ServerHooks next) {
  ServerHooks hooks = next;
  const bool open = authorizer->options().callers.open();
  const bool count_streams = authorizer->options().max_streams_per_caller > 0;
  hooks.authorize = [authorizer, open, count_streams, next_authorize = next.authorize](
                        grpc::CallbackServerContext* context,
                        absl::string_view method) -> absl::Status {
    // An open table admits every call as admin: only a counted stream needs the caller.
    const bool admit_stream = count_streams && IsStreamMethod(method);
    std::string caller;
    if (!open || admit_stream) {
      const CallCredentials credentials = CredentialsOf(context);
      absl::StatusOr<Principal> principal = authorizer->Identify(credentials);
      if (!principal.ok()) return principal.status();
      if (absl::Status s = Authorizer::CheckRole(*principal, method); !s.ok()) return s;
      caller = std::move(principal->name);
    }
    if (next_authorize) {
      if (absl::Status s = next_authorize(context, method); !s.ok()) return s;
    }
    if (admit_stream) return authorizer->AdmitStream(caller, context);
    return absl::OkStatus();
  };
  hooks.key_check = [authorizer](grpc::CallbackServerContext* context) -> KeyCheck {
    absl::StatusOr<Principal> principal = authorizer->Identify(CredentialsOf(context));
    if (!principal.ok()) {
      return [status = principal.status()](const keys::KeyStore*, absl::string_view,
                                           const std::vector<KeyPresentation>&) { return status; };
    }
    return [role = principal->role](const keys::KeyStore* store, absl::string_view method,
                                    const std::vector<KeyPresentation>& presented) {
      return CheckKeyUse(store, role, method, presented);
    };
  };
  if (!next.caller) {
    hooks.caller = [authorizer](grpc::CallbackServerContext* context) {
      return authorizer->CallerName(CredentialsOf(context));
    };
  }
  if (!next.principal) {
    hooks.principal = [authorizer](grpc::CallbackServerContext* context) {
      return authorizer->PrincipalName(CredentialsOf(context));
    };
  }
  if (count_streams) {
    hooks.on_call_done = [authorizer, next_done = next.on_call_done](const CallInfo& info) {
      if (info.context != nullptr && IsStreamMethod(info.method)) {
        authorizer->EndCall(info.context);
      }
      if (next_done) next_done(info);
    };
  }
  return hooks;
}

}  // namespace desfired::server
