#include "tests/testing/nats_sandbox.h"

#include <fcntl.h>
#include <nats/nats.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/testing/free_port.h"

namespace desfired::testing {
namespace {

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A JetStream context on a connection of its own; destroyed with it.
class Js {
 public:
  absl::Status Connect(const std::string& url) {
    if (natsStatus s = natsConnection_ConnectTo(&nc_, url.c_str()); s != NATS_OK) {
      return absl::UnavailableError(absl::StrCat("connect ", url, ": ", natsStatus_GetText(s)));
    }
    if (natsStatus s = natsConnection_JetStream(&js_, nc_, nullptr); s != NATS_OK) {
      return absl::InternalError(natsStatus_GetText(s));
    }
    return absl::OkStatus();
  }
  ~Js() {
    if (js_ != nullptr) jsCtx_Destroy(js_);
    if (nc_ != nullptr) natsConnection_Destroy(nc_);
  }
  jsCtx* js() const { return js_; }

 private:
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
};

}  // namespace

bool NatsSandbox::Available() { return access(kNatsServer, X_OK) == 0; }

absl::StatusOr<std::unique_ptr<NatsSandbox>> NatsSandbox::Start() {
  char templ[] = "/tmp/desfired-nats-XXXXXX";
  if (mkdtemp(templ) == nullptr) return absl::InternalError("mkdtemp failed");
  auto nats = std::unique_ptr<NatsSandbox>(new NatsSandbox());
  nats->dir_ = templ;
  for (int attempt = 0; attempt < 5; ++attempt) {  // the port may be taken meanwhile
    nats->port_ = FreeLoopbackPort();
    if (nats->Launch()) return nats;
  }
  return absl::InternalError(
      absl::StrCat("nats-server did not start; see ", nats->dir_, "/server.log"));
}

bool NatsSandbox::Launch() {
  const std::string log = dir_ + "/server.log";
  const size_t log_before = ReadText(log).size();
  const std::string port = std::to_string(port_), store = dir_ + "/store";
  pid_ = fork();
  if (pid_ == 0) {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execl(kNatsServer, kNatsServer, "-js", "-a", "127.0.0.1", "-p", port.c_str(), "-sd",
          store.c_str(), "--server_name", "sandbox", static_cast<char*>(nullptr));
    _exit(127);
  }
  for (int i = 0; i < 1000; ++i) {  // up to 10 s
    const std::string text = ReadText(log);
    if (text.size() > log_before &&
        absl::StrContains(absl::string_view(text).substr(log_before), "Server is ready")) {
      return true;
    }
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    usleep(10000);
  }
  Kill();
  return false;
}

NatsSandbox::~NatsSandbox() {
  if (pid_ > 0) {
    kill(pid_, SIGCONT);
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
  if (!dir_.empty()) std::filesystem::remove_all(dir_);
}

std::string NatsSandbox::url() const { return absl::StrCat("nats://127.0.0.1:", port_); }

void NatsSandbox::Pause() {
  if (pid_ > 0) kill(pid_, SIGSTOP);
}

void NatsSandbox::Resume() {
  if (pid_ > 0) kill(pid_, SIGCONT);
}

void NatsSandbox::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

absl::Status NatsSandbox::Restart() {
  for (int attempt = 0; attempt < 50; ++attempt) {  // the port is free once the kernel lets go
    if (Launch()) return absl::OkStatus();
    usleep(100000);
  }
  return absl::InternalError(
      absl::StrCat("nats-server did not start again; see ", dir_, "/server.log"));
}

absl::Status NatsSandbox::AddStream(absl::string_view name, absl::string_view subjects,
                                    absl::Duration duplicates) {
  Js js;
  if (absl::Status s = js.Connect(url()); !s.ok()) return s;
  jsStreamConfig config;
  jsStreamConfig_Init(&config);
  const std::string n(name), subj(subjects);
  const char* list[] = {subj.c_str()};
  config.Name = n.c_str();
  config.Subjects = list;
  config.SubjectsLen = 1;
  config.Storage = js_FileStorage;
  config.Duplicates = absl::ToInt64Nanoseconds(duplicates);
  jsStreamInfo* info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  const natsStatus s = js_AddStream(&info, js.js(), &config, nullptr, &code);
  if (info != nullptr) jsStreamInfo_Destroy(info);
  if (s != NATS_OK) {
    return absl::InternalError(absl::StrCat("add stream ", name, ": ", natsStatus_GetText(s),
                                            " (JetStream error ", static_cast<int>(code), ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<StoredMessage>> NatsSandbox::Messages(absl::string_view name) {
  Js js;
  if (absl::Status s = js.Connect(url()); !s.ok()) return s;
  const std::string n(name);
  jsStreamInfo* info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&info, js.js(), n.c_str(), nullptr, &code);
  if (s != NATS_OK) {
    return absl::NotFoundError(absl::StrCat("stream ", name, ": ", natsStatus_GetText(s)));
  }
  const uint64_t first = info->State.FirstSeq, last = info->State.LastSeq;
  const uint64_t count = info->State.Msgs;
  jsStreamInfo_Destroy(info);
  std::vector<StoredMessage> out;
  if (count == 0) return out;
  for (uint64_t seq = first; seq <= last; ++seq) {
    natsMsg* msg = nullptr;
    s = js_GetMsg(&msg, js.js(), n.c_str(), seq, nullptr, &code);
    if (s == NATS_NOT_FOUND) continue;  // deleted
    if (s != NATS_OK) {
      return absl::InternalError(absl::StrCat("get message ", seq, ": ", natsStatus_GetText(s)));
    }
    StoredMessage m;
    m.stream_sequence = seq;
    m.subject = natsMsg_GetSubject(msg);
    m.data.assign(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg)));
    const char* id = nullptr;
    if (natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) == NATS_OK && id != nullptr) m.msg_id = id;
    natsMsg_Destroy(msg);
    out.push_back(std::move(m));
  }
  return out;
}

std::unique_ptr<NatsSandbox> StartNatsOrSkip() {
  if (!NatsSandbox::Available()) {
    [] {
      GTEST_SKIP() << "nats-server is not installed (" << kNatsServer
                   << " missing; scripts/setup installs nats-server)";
    }();
    return nullptr;
  }
  absl::StatusOr<std::unique_ptr<NatsSandbox>> started = NatsSandbox::Start();
  if (!started.ok()) {
    ADD_FAILURE() << started.status();
    return nullptr;
  }
  return *std::move(started);
}

}  // namespace desfired::testing
