#include "core/ledger/head_file.h"

#include <fcntl.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/util/bytes.h"
#include "core/util/private_file.h"

namespace desfired::ledger {
namespace {

constexpr absl::string_view kMagic = "desfired-ledger-head";
constexpr absl::string_view kVersion = "1";
constexpr size_t kCheckHexDigits = 16;

// The first 8 bytes of SHA-256(text), in hex.
std::string Check(absl::string_view text) {
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return HexEncode(ByteSpan(digest, kCheckHexDigits / 2));
}

absl::Status Unavailable(absl::string_view what, const std::string& path) {
  return absl::UnavailableError(
      absl::StrCat("cannot ", what, " ledger head file ", path, ": ", std::strerror(errno)));
}

// Writes all of `data` at `offset`.
bool WriteAt(int fd, absl::string_view data, off_t offset) {
  while (!data.empty()) {
    const ssize_t n = ::pwrite(fd, data.data(), data.size(), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
    offset += n;
  }
  return true;
}

std::string DirOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

std::string HeadFilePathFor(absl::string_view ledger_path) {
  constexpr absl::string_view kSqlite = ".sqlite";
  if (ledger_path.size() > kSqlite.size() &&
      ledger_path.substr(ledger_path.size() - kSqlite.size()) == kSqlite) {
    return absl::StrCat(ledger_path.substr(0, ledger_path.size() - kSqlite.size()), ".head");
  }
  return absl::StrCat(ledger_path, ".head");
}

std::string EncodeHeadSlot(const Head& head) {
  const std::string text =
      absl::StrCat(kMagic, " ", kVersion, " ", head.seq, " ", HashHex(head.hash));
  std::string slot = absl::StrCat(text, " ", Check(text));
  slot.resize(kHeadSlotSize - 1, ' ');
  slot.push_back('\n');
  return slot;
}

std::optional<Head> DecodeHeadSlot(absl::string_view slot) {
  if (slot.size() != kHeadSlotSize || slot.back() != '\n') return std::nullopt;
  slot.remove_suffix(1);
  while (!slot.empty() && slot.back() == ' ') slot.remove_suffix(1);
  std::vector<absl::string_view> f = absl::StrSplit(slot, ' ');
  if (f.size() != 5 || f[0] != kMagic || f[1] != kVersion) return std::nullopt;
  const absl::string_view text = slot.substr(0, slot.rfind(' '));
  if (f[4] != Check(text)) return std::nullopt;
  Head head;
  std::optional<Hash> hash = ParseHashHex(f[3]);
  if (!absl::SimpleAtoi(f[2], &head.seq) || head.seq < 0 || !hash) return std::nullopt;
  if (f[2] != absl::StrCat(head.seq)) return std::nullopt;  // canonical digits only
  head.hash = *hash;
  return head;
}

absl::StatusOr<std::optional<Head>> HeadFile::Read(const std::string& path,
                                                   bool check_permissions) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<Head>();
    if (errno == EACCES) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot open ledger head file ", path, ": ", std::strerror(errno)));
    }
    if (errno == ELOOP) {
      return absl::FailedPreconditionError(
          absl::StrCat("ledger head file ", path, " is a symbolic link"));
    }
    return Unavailable("open", path);
  }
  struct stat st {};
  std::string bytes(kHeadFileSize + 1, '\0');
  ssize_t n = -1;
  absl::Status status;
  if (::fstat(fd, &st) != 0) {
    status = Unavailable("read", path);
  } else if (!S_ISREG(st.st_mode)) {
    status = absl::FailedPreconditionError(
        absl::StrCat("ledger head file ", path, " is not a regular file"));
  } else if (check_permissions) {
    status = CheckPrivateMode(st.st_mode, "ledger head file", path);
  }
  if (status.ok()) {
    n = ::pread(fd, bytes.data(), bytes.size(), 0);
    if (n < 0) status = Unavailable("read", path);
  }
  ::close(fd);
  if (!status.ok()) return status;
  if (static_cast<size_t>(n) != kHeadFileSize) {
    return absl::DataLossError(absl::StrCat("ledger head file ", path, " is damaged (", n,
                                            " bytes, not ", kHeadFileSize, ")"));
  }
  std::optional<Head> best;
  for (size_t slot = 0; slot < 2; ++slot) {
    std::optional<Head> h =
        DecodeHeadSlot(absl::string_view(bytes).substr(slot * kHeadSlotSize, kHeadSlotSize));
    if (h && (!best || h->seq > best->seq)) best = h;
  }
  if (!best) {
    return absl::DataLossError(
        absl::StrCat("ledger head file ", path, " is damaged (no valid head in it)"));
  }
  return best;
}

absl::StatusOr<std::unique_ptr<HeadFile>> HeadFile::Create(const std::string& path,
                                                           const Head& head) {
  const std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());
  const int tfd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (tfd < 0) return Unavailable("create", tmp);
  const std::string slot = EncodeHeadSlot(head);
  const bool written =
      WriteAt(tfd, slot, 0) && WriteAt(tfd, slot, kHeadSlotSize) && ::fsync(tfd) == 0;
  absl::Status status = written ? absl::OkStatus() : Unavailable("write", tmp);
  ::close(tfd);
  if (status.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) status = Unavailable("rename", tmp);
  if (!status.ok()) {
    ::unlink(tmp.c_str());
    return status;
  }
  // The rename is durable once the directory is.
  const std::string dir = DirOf(path);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return Unavailable("sync the directory of", path);
  const bool synced = ::fsync(dfd) == 0;
  ::close(dfd);
  if (!synced) return Unavailable("sync the directory of", path);
  return OpenForWrite(path);
}

absl::StatusOr<std::unique_ptr<HeadFile>> HeadFile::OpenForWrite(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return Unavailable("open", path);
  return std::unique_ptr<HeadFile>(new HeadFile(path, fd));
}

HeadFile::~HeadFile() { ::close(fd_); }

absl::Status HeadFile::Write(const Head& head) {
  const off_t offset = static_cast<off_t>((head.seq % 2) * kHeadSlotSize);
  if (!WriteAt(fd_, EncodeHeadSlot(head), offset)) return Unavailable("write", path_);
  return absl::OkStatus();
}

absl::Status HeadFile::Sync() {
  if (::fdatasync(fd_) != 0) return Unavailable("sync", path_);
  return absl::OkStatus();
}

}  // namespace desfired::ledger
