// SoftHsmToken: a SoftHSM2 token of its own for one test. It writes <dir>/softhsm2.conf (token
// directory <dir>/tokens), points SOFTHSM2_CONF at it (SoftHSM reads it at C_Initialize:
// create the token before the module is loaded in this process, and release every
// Module/Token before the next test's), initializes a token with softhsm2-util, and writes its
// user PIN to <dir>/token.pin (mode 600).
//
//   auto hsm = testing::SoftHsmToken::Create(dir);          // skips when SoftHSM2 is missing
//   auto file = hsm->ImportKeys(kTransitKeyFile, {"transit-debit"});
//   // file: "pkcs11 module=... pin-file=...\nkey transit-debit AES128
//   pkcs11:token=desfired;object=transit-debit ..."
//
// Keys are imported through core/pkcs11 (ImportKeyFile): sensitive and not extractable.
#ifndef DESFIRED_TESTS_TESTING_SOFTHSM_H_
#define DESFIRED_TESTS_TESTING_SOFTHSM_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace desfired::testing {

inline constexpr char kSoftHsmModule[] = "/usr/lib/softhsm/libsofthsm2.so";
inline constexpr char kSoftHsmPin[] = "1029384756";
inline constexpr char kSoftHsmLabel[] = "desfired";

class SoftHsmToken {
 public:
  // False when the module or softhsm2-util is not installed (scripts/setup installs them).
  static bool Available();
  static absl::StatusOr<std::unique_ptr<SoftHsmToken>> Create(
      const std::string& dir, const std::string& label = kSoftHsmLabel);

  // The same in a new temporary directory, removed by the destructor.
  static absl::StatusOr<std::unique_ptr<SoftHsmToken>> CreateTemp();
  ~SoftHsmToken();

  const std::string& dir() const { return dir_; }
  const std::string& conf() const { return conf_; }
  const std::string& pin_file() const { return pin_file_; }
  // "pkcs11:token=<label>"
  std::string uri() const { return "pkcs11:token=" + label_; }
  // "pkcs11 module=<module> pin-file=<pin file>\n"
  std::string SettingsLine() const;

  // Imports the keys `names` (all file keys when empty) of the key file `key_file` and returns
  // the key file that names them by URI, with the settings line first. Logs in and releases the
  // token again (so that another process may use it).
  absl::StatusOr<std::string> ImportKeys(absl::string_view key_file,
                                         const std::vector<std::string>& names = {});

 private:
  std::string dir_, conf_, pin_file_, label_;
  bool owns_dir_ = false;
};

// `p11-kit server` exporting the token of `hsm` on a unix socket in its directory: a token
// behind a daemon, reached through p11-kit's client module (kP11KitClientModule, with
// P11_KIT_SERVER_ADDRESS set to address() in this process's environment). Restart() stops the
// daemon and starts a new one on the same socket; the destructor stops it.
inline constexpr char kP11KitClientModule[] = "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so";
class P11KitServer {
 public:
  static bool Available();
  explicit P11KitServer(const SoftHsmToken& hsm);
  ~P11KitServer();
  P11KitServer(const P11KitServer&) = delete;
  P11KitServer& operator=(const P11KitServer&) = delete;

  bool running() const { return pid_ > 0; }
  std::string address() const { return "unix:path=" + socket_; }
  void Stop();
  bool Start();
  bool Restart() {
    Stop();
    return Start();
  }

 private:
  std::string socket_, token_uri_;
  int pid_ = -1;
};

// For a fixture's SetUp: a token in a temporary directory, or null with the test skipped
// (SoftHSM2 is not installed) or failed.
std::unique_ptr<SoftHsmToken> SoftHsmOrSkip();

}  // namespace desfired::testing

#endif  // DESFIRED_TESTS_TESTING_SOFTHSM_H_
