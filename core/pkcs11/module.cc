#include "core/pkcs11/module.h"

#include <dlfcn.h>
#include <signal.h>

#include <map>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"

namespace desfired::pkcs11 {
namespace {

struct Registry {
  absl::Mutex mu;
  std::map<std::string, std::weak_ptr<Module>> modules ABSL_GUARDED_BY(mu);
};

Registry& TheRegistry() {
  static Registry* const registry = new Registry();  // never destroyed (process lifetime)
  return *registry;
}

// A module that reaches its token over a socket (a network HSM's client, p11-kit's client)
// writes to a closed socket when the daemon goes away: with SIGPIPE at its default action that
// would end this process instead of failing the call. A handler the process set is kept.
void IgnoreSigpipeUnlessHandled() {
  struct sigaction current = {};
  if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
    signal(SIGPIPE, SIG_IGN);
  }
}

CK_RV Initialize(CK_FUNCTION_LIST* f) {
  CK_C_INITIALIZE_ARGS args = {};
  args.flags = CKF_OS_LOCKING_OK;
  return f->C_Initialize(&args);
}

}  // namespace

std::string CkName(CK_RV rv) {
  switch (rv) {
#define DESFIRED_CKR(name) \
  case name:               \
    return #name;
    DESFIRED_CKR(CKR_OK)
    DESFIRED_CKR(CKR_GENERAL_ERROR)
    DESFIRED_CKR(CKR_ARGUMENTS_BAD)
    DESFIRED_CKR(CKR_ATTRIBUTE_SENSITIVE)
    DESFIRED_CKR(CKR_ATTRIBUTE_TYPE_INVALID)
    DESFIRED_CKR(CKR_DATA_LEN_RANGE)
    DESFIRED_CKR(CKR_DEVICE_ERROR)
    DESFIRED_CKR(CKR_DEVICE_MEMORY)
    DESFIRED_CKR(CKR_DEVICE_REMOVED)
    DESFIRED_CKR(CKR_FUNCTION_FAILED)
    DESFIRED_CKR(CKR_KEY_HANDLE_INVALID)
    DESFIRED_CKR(CKR_KEY_TYPE_INCONSISTENT)
    DESFIRED_CKR(CKR_KEY_FUNCTION_NOT_PERMITTED)
    DESFIRED_CKR(CKR_MECHANISM_INVALID)
    DESFIRED_CKR(CKR_MECHANISM_PARAM_INVALID)
    DESFIRED_CKR(CKR_OBJECT_HANDLE_INVALID)
    DESFIRED_CKR(CKR_OPERATION_ACTIVE)
    DESFIRED_CKR(CKR_PIN_INCORRECT)
    DESFIRED_CKR(CKR_PIN_LOCKED)
    DESFIRED_CKR(CKR_PIN_LEN_RANGE)
    DESFIRED_CKR(CKR_SESSION_CLOSED)
    DESFIRED_CKR(CKR_SESSION_HANDLE_INVALID)
    DESFIRED_CKR(CKR_SLOT_ID_INVALID)
    DESFIRED_CKR(CKR_TOKEN_NOT_PRESENT)
    DESFIRED_CKR(CKR_TOKEN_NOT_RECOGNIZED)
    DESFIRED_CKR(CKR_USER_NOT_LOGGED_IN)
    DESFIRED_CKR(CKR_USER_PIN_NOT_INITIALIZED)
    DESFIRED_CKR(CKR_BUFFER_TOO_SMALL)
    DESFIRED_CKR(CKR_CRYPTOKI_NOT_INITIALIZED)
    DESFIRED_CKR(CKR_CRYPTOKI_ALREADY_INITIALIZED)
#undef DESFIRED_CKR
  }
  return absl::StrFormat("CKR_0x%08X", static_cast<unsigned long>(rv));
}

absl::Status CkError(absl::string_view what, CK_RV rv) {
  std::string message = absl::StrCat(what, ": ", CkName(rv));
  switch (rv) {
    case CKR_DEVICE_ERROR:
    case CKR_DEVICE_REMOVED:
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_SESSION_CLOSED:
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_CRYPTOKI_NOT_INITIALIZED:
      return WithCkRv(absl::UnavailableError(message), rv);
    default:
      return WithCkRv(absl::FailedPreconditionError(message), rv);
  }
}

absl::Status WithCkRv(absl::Status status, CK_RV rv) {
  if (!status.ok()) status.SetPayload(kCkRvTypeUrl, absl::Cord(absl::StrCat(rv)));
  return status;
}

std::optional<CK_RV> CkRvOf(const absl::Status& status) {
  auto payload = status.GetPayload(kCkRvTypeUrl);
  CK_RV rv = 0;
  if (!payload.has_value() || !absl::SimpleAtoi(std::string(*payload), &rv)) return std::nullopt;
  return rv;
}

Module::Module(std::string path, void* handle, CK_FUNCTION_LIST* functions, bool finalize)
    : path_(std::move(path)), handle_(handle), functions_(functions), finalize_(finalize) {}

Module::~Module() {
  if (finalize_) functions_->C_Finalize(nullptr);
  dlclose(handle_);
}

absl::StatusOr<std::shared_ptr<Module>> Module::Load(const std::string& path) {
  Registry& registry = TheRegistry();
  absl::MutexLock lock(&registry.mu);
  if (std::shared_ptr<Module> loaded = registry.modules[path].lock()) return loaded;
  IgnoreSigpipeUnlessHandled();
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    return absl::NotFoundError(absl::StrCat("cannot load the PKCS#11 module ", path, ": ",
                                            why != nullptr ? why : "dlopen failed"));
  }
  auto get_list = reinterpret_cast<CK_C_GetFunctionList>(dlsym(handle, "C_GetFunctionList"));
  CK_FUNCTION_LIST* functions = nullptr;
  if (get_list == nullptr || get_list(&functions) != CKR_OK || functions == nullptr) {
    dlclose(handle);
    return absl::FailedPreconditionError(
        absl::StrCat(path, " is not a PKCS#11 module (no C_GetFunctionList)"));
  }
  const CK_RV rv = Initialize(functions);
  if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
    dlclose(handle);
    return CkError(absl::StrCat("C_Initialize of ", path), rv);
  }
  std::shared_ptr<Module> module(new Module(path, handle, functions, rv == CKR_OK));
  registry.modules[path] = module;
  return module;
}

absl::Status Module::Reinitialize() {
  functions_->C_Finalize(nullptr);
  const CK_RV rv = Initialize(functions_);
  if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
    return CkError(absl::StrCat("C_Initialize of ", path_), rv);
  }
  return absl::OkStatus();
}

}  // namespace desfired::pkcs11
