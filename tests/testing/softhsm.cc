#include "tests/testing/softhsm.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "core/keys/secret.h"
#include "core/pkcs11/import.h"
#include "core/pkcs11/module.h"
#include "core/pkcs11/token.h"
#include "core/pkcs11/uri.h"
#include "gtest/gtest.h"

namespace desfired::testing {
namespace {

constexpr char kSoftHsmUtil[] = "/usr/bin/softhsm2-util";

absl::Status WriteFile(const std::string& path, const std::string& text, mode_t mode) {
  std::ofstream f(path, std::ios::trunc);
  f << text;
  f.close();
  if (!f || chmod(path.c_str(), mode) != 0) {
    return absl::InternalError(absl::StrCat("cannot write ", path));
  }
  return absl::OkStatus();
}

}  // namespace

bool SoftHsmToken::Available() {
  return access(kSoftHsmModule, R_OK) == 0 && access(kSoftHsmUtil, X_OK) == 0;
}

absl::StatusOr<std::unique_ptr<SoftHsmToken>> SoftHsmToken::Create(const std::string& dir,
                                                                   const std::string& label) {
  auto t = std::unique_ptr<SoftHsmToken>(new SoftHsmToken());
  t->dir_ = dir;
  t->label_ = label;
  t->conf_ = dir + "/softhsm2.conf";
  t->pin_file_ = dir + "/token.pin";
  const std::string tokens = dir + "/tokens";
  mkdir(tokens.c_str(), 0700);
  absl::Status s = WriteFile(t->conf_,
                             absl::StrCat("directories.tokendir = ", tokens,
                                          "\nobjectstore.backend = file\nlog.level = ERROR\n"),
                             0600);
  if (s.ok()) s = WriteFile(t->pin_file_, absl::StrCat(kSoftHsmPin, "\n"), 0600);
  if (!s.ok()) return s;
  setenv("SOFTHSM2_CONF", t->conf_.c_str(), 1);
  const std::string init =
      absl::StrCat(kSoftHsmUtil, " --init-token --free --label ", label, " --so-pin ", kSoftHsmPin,
                   " --pin ", kSoftHsmPin, " > /dev/null 2>&1");
  if (std::system(init.c_str()) != 0) {
    return absl::InternalError("softhsm2-util --init-token failed");
  }
  return t;
}

absl::StatusOr<std::unique_ptr<SoftHsmToken>> SoftHsmToken::CreateTemp() {
  char templ[] = "/tmp/desfired-p11-XXXXXX";
  if (mkdtemp(templ) == nullptr) return absl::InternalError("mkdtemp failed");
  absl::StatusOr<std::unique_ptr<SoftHsmToken>> token = Create(templ);
  if (!token.ok()) {
    std::filesystem::remove_all(templ);
    return token.status();
  }
  (*token)->owns_dir_ = true;
  return token;
}

SoftHsmToken::~SoftHsmToken() {
  if (owns_dir_) std::filesystem::remove_all(dir_);
}

std::string SoftHsmToken::SettingsLine() const {
  return absl::StrCat("pkcs11 module=", kSoftHsmModule, " pin-file=", pin_file_, "\n");
}

absl::StatusOr<std::string> SoftHsmToken::ImportKeys(absl::string_view key_file,
                                                     const std::vector<std::string>& names) {
  absl::StatusOr<std::shared_ptr<pkcs11::Module>> module = pkcs11::Module::Load(kSoftHsmModule);
  if (!module.ok()) return module.status();
  absl::StatusOr<pkcs11::TokenUri> token_uri = pkcs11::TokenUri::Parse(uri() + ";object=any");
  if (!token_uri.ok()) return token_uri.status();
  const std::string pin = kSoftHsmPin;
  absl::StatusOr<std::shared_ptr<pkcs11::Token>> token =
      pkcs11::Token::Open(*module, *token_uri, keys::SecretBytes(Bytes(pin.begin(), pin.end())));
  if (!token.ok()) return token.status();
  absl::StatusOr<pkcs11::ImportedKeyFile> moved =
      pkcs11::ImportKeyFile(key_file, "test keys", **token, uri(), names);
  if (!moved.ok()) return moved.status();
  return SettingsLine() + moved->text;
}

bool P11KitServer::Available() {
  return access("/usr/bin/p11-kit", X_OK) == 0 && access(kP11KitClientModule, R_OK) == 0;
}

P11KitServer::P11KitServer(const SoftHsmToken& hsm)
    : socket_(hsm.dir() + "/p11kit.sock"), token_uri_(hsm.uri()) {
  setenv("P11_KIT_SERVER_ADDRESS", address().c_str(), 1);
  Start();
}

P11KitServer::~P11KitServer() { Stop(); }

bool P11KitServer::Start() {
  unlink(socket_.c_str());
  const pid_t pid = fork();
  if (pid == 0) {
    // A process group of its own: the connection handlers it forks stop with it (a restart of
    // the daemon is a restart of all of them), and its shell lines do not reach the test's output.
    setpgid(0, 0);
    if (freopen("/dev/null", "w", stdout) == nullptr) _exit(126);
    execl("/usr/bin/p11-kit", "p11-kit", "server", "-f", "-n", socket_.c_str(), "--provider",
          kSoftHsmModule, token_uri_.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  pid_ = pid;
  for (int i = 0; i < 500; ++i) {  // up to 5 s for the daemon to accept connections
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", socket_.c_str());
    const bool up = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    close(fd);
    if (up) return true;
    usleep(10000);
  }
  Stop();
  return false;
}

void P11KitServer::Stop() {
  if (pid_ <= 0) return;
  kill(-pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  // The connection handlers of the group exit too (up to 5 s).
  for (int i = 0; i < 500 && kill(-pid_, 0) == 0; ++i) usleep(10000);
  pid_ = -1;
}

std::unique_ptr<SoftHsmToken> SoftHsmOrSkip() {
  if (!SoftHsmToken::Available()) {
    [] { GTEST_SKIP() << "SoftHSM2 is not installed (scripts/setup)"; }();
    return nullptr;
  }
  absl::StatusOr<std::unique_ptr<SoftHsmToken>> hsm = SoftHsmToken::CreateTemp();
  if (!hsm.ok()) {
    ADD_FAILURE() << hsm.status();
    return nullptr;
  }
  return *std::move(hsm);
}

}  // namespace desfired::testing
