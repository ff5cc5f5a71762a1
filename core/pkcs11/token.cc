#include "core/pkcs11/token.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace desfired::pkcs11 {

Token::Token(std::shared_ptr<Module> module, const TokenUri& uri, keys::SecretBytes pin)
    : module_(std::move(module)),
      uri_(uri),
      name_(uri.token_part().empty() ? uri.text() : uri.token_part()),
      pin_(std::move(pin)) {}

Token::~Token() {
  absl::MutexLock lock(&mu_);
  for (CK_SESSION_HANDLE s : idle_) module_->f()->C_CloseSession(s);
}

bool Token::MeansRestart(CK_RV rv) {
  switch (rv) {
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_SESSION_CLOSED:
    case CKR_USER_NOT_LOGGED_IN:
    case CKR_DEVICE_REMOVED:
    case CKR_DEVICE_ERROR:
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_TOKEN_NOT_RECOGNIZED:
    case CKR_CRYPTOKI_NOT_INITIALIZED:
    case CKR_SLOT_ID_INVALID:
      return true;
    default:
      return false;
  }
}

bool Token::PinRefused(CK_RV rv) {
  return rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED || rv == CKR_PIN_LEN_RANGE;
}

absl::StatusOr<std::shared_ptr<Token>> Token::Open(std::shared_ptr<Module> module,
                                                   const TokenUri& uri, keys::SecretBytes pin) {
  std::shared_ptr<Token> token(new Token(std::move(module), uri, std::move(pin)));
  absl::MutexLock lock(&token->mu_);
  CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
  if (absl::Status s = token->Login(&session); !s.ok()) return s;
  token->idle_.push_back(session);
  return token;
}

absl::Status Token::Login(CK_SESSION_HANDLE* session) {
  CK_FUNCTION_LIST* f = module_->f();
  CK_ULONG count = 0;
  CK_RV rv = f->C_GetSlotList(CK_TRUE, nullptr, &count);
  std::vector<CK_SLOT_ID> slots(count);
  if (rv == CKR_OK && count > 0) rv = f->C_GetSlotList(CK_TRUE, slots.data(), &count);
  if (rv != CKR_OK) return CkError(absl::StrCat("token ", name_, ": C_GetSlotList"), rv);
  slots.resize(count);
  bool found = false;
  for (CK_SLOT_ID slot : slots) {
    CK_TOKEN_INFO info = {};
    if (f->C_GetTokenInfo(slot, &info) == CKR_OK && uri_.MatchesToken(info)) {
      slot_ = slot;
      found = true;
      break;
    }
  }
  if (!found) {
    return absl::NotFoundError(absl::StrCat("no token matching ", name_, " in the PKCS#11 module ",
                                            module_->path(), " (", slots.size(),
                                            " slot(s) with a token)"));
  }
  rv = f->C_OpenSession(slot_, CKF_SERIAL_SESSION, nullptr, nullptr, session);
  if (rv != CKR_OK) return CkError(absl::StrCat("token ", name_, ": C_OpenSession"), rv);
  ByteSpan pin = pin_.view();
  rv = f->C_Login(*session, CKU_USER, const_cast<CK_UTF8CHAR*>(pin.data()), pin.size());
  if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
    f->C_CloseSession(*session);
    if (PinRefused(rv)) {
      return WithCkRv(absl::FailedPreconditionError(absl::StrCat(
                          "token ", name_, ": the PIN was refused (", CkName(rv), ")")),
                      rv);
    }
    return CkError(absl::StrCat("token ", name_, ": C_Login"), rv);
  }
  ++epoch_;
  return absl::OkStatus();
}

absl::StatusOr<CK_SESSION_HANDLE> Token::Acquire(uint64_t* epoch) {
  absl::MutexLock lock(&mu_);
  *epoch = epoch_;
  if (!idle_.empty()) {
    CK_SESSION_HANDLE s = idle_.back();
    idle_.pop_back();
    return s;
  }
  CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
  const CK_RV rv = module_->f()->C_OpenSession(slot_, CKF_SERIAL_SESSION, nullptr, nullptr, &s);
  if (rv != CKR_OK) return CkError(absl::StrCat("token ", name_, ": C_OpenSession"), rv);
  return s;
}

void Token::Release(CK_SESSION_HANDLE session, uint64_t epoch) {
  absl::MutexLock lock(&mu_);
  if (epoch == epoch_ && idle_.size() < kMaxIdleSessions) {
    idle_.push_back(session);
  } else {
    module_->f()->C_CloseSession(session);
  }
}

absl::Status Token::Restart(uint64_t seen_epoch) {
  absl::MutexLock lock(&mu_);
  if (epoch_ != seen_epoch) return absl::OkStatus();  // another thread logged in again
  for (CK_SESSION_HANDLE s : idle_) module_->f()->C_CloseSession(s);
  idle_.clear();
  CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
  absl::Status s = Login(&session);
  if (!s.ok() && !PinRefused(CkRvOf(s).value_or(CKR_OK))) {
    // The module itself lost its token or daemon (a network HSM's client after the daemon
    // restarted, or one that found no token while the daemon was away): initialize it again,
    // which reconnects and lists the slots anew, and log in once more.
    s = module_->Reinitialize();
    if (s.ok()) s = Login(&session);
  }
  if (s.ok()) idle_.push_back(session);
  return s;
}

absl::StatusOr<CK_RV> Token::Run(const Op& op) {
  for (int attempt = 0;; ++attempt) {
    uint64_t epoch = 0;
    absl::StatusOr<CK_SESSION_HANDLE> session = Acquire(&epoch);
    CK_RV rv = CKR_SESSION_HANDLE_INVALID;
    if (session.ok()) rv = op(*session, epoch);
    if (!MeansRestart(rv)) {
      Release(*session, epoch);
      return rv;
    }
    if (session.ok()) module_->f()->C_CloseSession(*session);
    if (attempt > 0) {
      if (!session.ok()) return session.status();
      return rv;
    }
    if (absl::Status s = Restart(epoch); !s.ok()) return s;
  }
}

absl::StatusOr<CK_SESSION_HANDLE> Token::OpenSession(uint64_t* epoch) {
  for (int attempt = 0;; ++attempt) {
    CK_RV rv = CKR_OK;
    CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
    {
      absl::MutexLock lock(&mu_);
      *epoch = epoch_;
      rv = module_->f()->C_OpenSession(slot_, CKF_SERIAL_SESSION, nullptr, nullptr, &session);
    }
    if (rv == CKR_OK) return session;
    if (attempt > 0 || !MeansRestart(rv)) {
      return CkError(absl::StrCat("token ", name_, ": C_OpenSession"), rv);
    }
    if (absl::Status s = Restart(*epoch); !s.ok()) return s;
  }
}

void Token::CloseSession(CK_SESSION_HANDLE session) { module_->f()->C_CloseSession(session); }

absl::StatusOr<CK_RV> Token::RunWritable(const Op& op) {
  CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
  uint64_t epoch = 0;
  {
    absl::MutexLock lock(&mu_);
    epoch = epoch_;
    const CK_RV rv = module_->f()->C_OpenSession(slot_, CKF_SERIAL_SESSION | CKF_RW_SESSION,
                                                 nullptr, nullptr, &session);
    if (rv != CKR_OK) return CkError(absl::StrCat("token ", name_, ": C_OpenSession (rw)"), rv);
  }
  const CK_RV rv = op(session, epoch);
  module_->f()->C_CloseSession(session);
  return rv;
}

uint64_t Token::epoch() const {
  absl::MutexLock lock(&mu_);
  return epoch_;
}

}  // namespace desfired::pkcs11
