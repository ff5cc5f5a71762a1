#include "server/nats/event_spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/crypto/crc.h"

namespace desfired::server::nats {
namespace {

constexpr size_t kHeaderBytes = 8;  // u32 body length, u32 CRC
constexpr size_t kMaxField = 0xFFFF;
constexpr size_t kMaxPayload = size_t{16} << 20;
constexpr absl::string_view kSegmentSuffix = ".seg";

absl::Status IoError(absl::string_view what, const std::string& path) {
  return absl::UnavailableError(
      absl::StrCat("NATS buffer: cannot ", what, " ", path, ": ", std::strerror(errno)));
}

void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void PutU16(std::string& out, size_t v) {
  out.push_back(static_cast<char>(v & 0xFF));
  out.push_back(static_cast<char>((v >> 8) & 0xFF));
}
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint16_t GetU16(const char* p) {
  return static_cast<uint16_t>(static_cast<uint8_t>(p[0]) | (static_cast<uint8_t>(p[1]) << 8));
}

uint32_t CrcOf(absl::string_view body) {
  return crypto::Crc32Desfire(ByteSpan(reinterpret_cast<const uint8_t*>(body.data()), body.size()));
}

// The event in `body`, or nullopt when its fields do not add up.
std::optional<SpooledEvent> DecodeBody(absl::string_view body) {
  SpooledEvent e;
  if (body.size() < 2) return std::nullopt;
  size_t n = GetU16(body.data());
  body.remove_prefix(2);
  if (body.size() < n + 2) return std::nullopt;
  e.msg_id = std::string(body.substr(0, n));
  body.remove_prefix(n);
  n = GetU16(body.data());
  body.remove_prefix(2);
  if (body.size() < n) return std::nullopt;
  e.subject = std::string(body.substr(0, n));
  body.remove_prefix(n);
  e.payload = std::string(body);
  return e;
}

// The size of the whole, valid record at `offset` of `data`, or 0 when there is none.
size_t RecordAt(absl::string_view data, size_t offset) {
  if (data.size() - offset < kHeaderBytes) return 0;
  const uint32_t len = GetU32(data.data() + offset);
  if (len > data.size() - offset - kHeaderBytes) return 0;
  const absl::string_view body = data.substr(offset + kHeaderBytes, len);
  if (CrcOf(body) != GetU32(data.data() + offset + 4) || !DecodeBody(body)) return 0;
  return kHeaderBytes + len;
}

absl::StatusOr<std::string> ReadAll(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return IoError("open", path);
  std::string out;
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const absl::Status s = IoError("read", path);
      ::close(fd);
      return s;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

bool WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

std::string EventSpool::SegmentPath(uint64_t number) const {
  return absl::StrFormat("%s/%020u%s", options_.dir, number, kSegmentSuffix);
}

absl::StatusOr<std::unique_ptr<EventSpool>> EventSpool::Open(Options options) {
  if (options.max_bytes == 0 || options.segment_bytes == 0) {
    return absl::InvalidArgumentError("NATS buffer: the byte limits must be above 0");
  }
  if (::mkdir(options.dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return IoError("create the directory", options.dir);
  }
  std::unique_ptr<EventSpool> spool(new EventSpool(std::move(options)));
  absl::MutexLock lock(&spool->mu_);
  if (absl::Status s = spool->Scan(); !s.ok()) return s;
  return spool;
}

EventSpool::~EventSpool() {
  absl::MutexLock lock(&mu_);
  for (int fd : {writer_fd_, reader_fd_, position_fd_}) {
    if (fd >= 0) ::close(fd);
  }
}

absl::Status EventSpool::Scan() {
  const std::string& dir = options_.dir;
  std::vector<uint64_t> numbers;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return IoError("list", dir);
  while (const dirent* entry = ::readdir(d)) {
    absl::string_view name = entry->d_name;
    uint64_t number = 0;
    if (absl::ConsumeSuffix(&name, kSegmentSuffix) && absl::SimpleAtoi(name, &number)) {
      numbers.push_back(number);
    }
  }
  ::closedir(d);
  std::sort(numbers.begin(), numbers.end());

  const std::string position_path = absl::StrCat(dir, "/position");
  uint64_t pos_segment = 0, pos_offset = 0;
  if (absl::StatusOr<std::string> text = ReadAll(position_path); text.ok()) {
    std::vector<absl::string_view> parts =
        absl::StrSplit(absl::StripTrailingAsciiWhitespace(*text), ' ');
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &pos_segment) ||
        !absl::SimpleAtoi(parts[1], &pos_offset)) {
      pos_segment = pos_offset = 0;  // unreadable: from the oldest record (resent, deduplicated)
    }
  }
  position_fd_ = ::open(position_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (position_fd_ < 0) return IoError("open", position_path);

  for (size_t i = 0; i < numbers.size(); ++i) {
    const uint64_t number = numbers[i];
    const std::string path = SegmentPath(number);
    if (number < pos_segment) {  // popped entirely before a stop
      ::unlink(path.c_str());
      continue;
    }
    absl::StatusOr<std::string> data = ReadAll(path);
    if (!data.ok()) return data.status();
    const bool front = segments_.empty();
    const uint64_t start = front && number == pos_segment ? pos_offset : 0;
    Segment seg{.number = number};
    uint64_t offset = 0, events = 0, bytes = 0;
    bool aligned = start == 0;
    while (offset < data->size()) {
      const size_t n = RecordAt(*data, offset);
      if (n == 0) break;
      if (offset == start) aligned = true;
      offset += n;
      if (offset > start) {
        ++events;
        bytes += n;
      }
    }
    if (offset < data->size()) {  // a torn or corrupt record: the segment ends before it
      if (i + 1 == numbers.size()) {
        if (::truncate(path.c_str(), static_cast<off_t>(offset)) != 0) {
          return IoError("cut the torn record off", path);
        }
      } else {
        ++skipped_;
      }
    }
    seg.size = offset;
    if (front) {
      front_segment_ = number;
      front_offset_ = start;
      if (!aligned) {  // the position names no record boundary: from the segment's start
        front_offset_ = 0;
        events = bytes = 0;
        for (uint64_t o = 0; o < offset;) {
          const size_t n = RecordAt(*data, o);
          o += n;
          ++events;
          bytes += n;
        }
      }
    }
    seg.events = events;
    events_ += events;
    bytes_ += bytes;
    segments_.push_back(seg);
  }
  if (segments_.empty()) {
    const uint64_t number = std::max<uint64_t>(pos_segment, 1);
    segments_.push_back(Segment{.number = number});
    front_segment_ = number;
    front_offset_ = 0;
  }
  if (absl::Status s = OpenWriterLocked(); !s.ok()) return s;
  WritePositionLocked();
  return absl::OkStatus();
}

absl::Status EventSpool::OpenWriterLocked() {
  if (writer_fd_ >= 0) ::close(writer_fd_);
  const std::string path = SegmentPath(segments_.back().number);
  writer_fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (writer_fd_ < 0) return IoError("open", path);
  return absl::OkStatus();
}

void EventSpool::WritePositionLocked() {
  const std::string text = absl::StrFormat("%020u %020u\n", front_segment_, front_offset_);
  (void)::pwrite(position_fd_, text.data(), text.size(), 0);
}

absl::StatusOr<uint64_t> EventSpool::NextBoot() {
  absl::MutexLock lock(&mu_);
  const std::string path = absl::StrCat(options_.dir, "/boot");
  uint64_t boot = 0;
  if (absl::StatusOr<std::string> text = ReadAll(path); text.ok()) {
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &boot)) {
      return absl::InvalidArgumentError(
          absl::StrCat("NATS buffer: ", path,
                       " does not hold a boot number; remove it only if "
                       "no event of this instance is in JetStream's duplicate window"));
    }
  } else if (errno != ENOENT) {
    return text.status();
  }
  ++boot;
  const std::string tmp = path + ".new";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return IoError("create", tmp);
  const bool ok = WriteAll(fd, absl::StrCat(boot, "\n")) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) return IoError("write", path);
  if (const int dfd = ::open(options_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
  return boot;
}

absl::Status EventSpool::Append(const SpooledEvent& event) {
  if (event.msg_id.size() > kMaxField || event.subject.size() > kMaxField ||
      event.payload.size() > kMaxPayload) {
    return absl::InvalidArgumentError("NATS buffer: an event too large for a record");
  }
  std::string body;
  body.reserve(4 + event.msg_id.size() + event.subject.size() + event.payload.size());
  PutU16(body, event.msg_id.size());
  body += event.msg_id;
  PutU16(body, event.subject.size());
  body += event.subject;
  body += event.payload;
  std::string record;
  record.reserve(kHeaderBytes + body.size());
  PutU32(record, static_cast<uint32_t>(body.size()));
  PutU32(record, CrcOf(body));
  record += body;

  absl::MutexLock lock(&mu_);
  if (bytes_ + record.size() > options_.max_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "NATS buffer full: ", bytes_, " bytes of events wait, the bound is ", options_.max_bytes));
  }
  if (segments_.back().size >= options_.segment_bytes) {
    segments_.push_back(Segment{.number = segments_.back().number + 1});
    if (absl::Status s = OpenWriterLocked(); !s.ok()) {
      segments_.pop_back();
      (void)OpenWriterLocked();
      return s;
    }
  }
  Segment& seg = segments_.back();
  if (!WriteAll(writer_fd_, record)) {
    const absl::Status s = IoError("append to", SegmentPath(seg.number));
    (void)::ftruncate(writer_fd_, static_cast<off_t>(seg.size));
    return s;
  }
  seg.size += record.size();
  ++seg.events;
  bytes_ += record.size();
  ++events_;
  return absl::OkStatus();
}

void EventSpool::AdvanceLocked() {
  while (segments_.size() > 1 && front_offset_ >= segments_.front().size) {
    ::unlink(SegmentPath(segments_.front().number).c_str());
    segments_.pop_front();
    front_segment_ = segments_.front().number;
    front_offset_ = 0;
  }
}

absl::Status EventSpool::ReadFrontLocked() {
  Segment& seg = segments_.front();
  if (reader_fd_ < 0 || reader_segment_ != seg.number) {
    if (reader_fd_ >= 0) ::close(reader_fd_);
    reader_fd_ = ::open(SegmentPath(seg.number).c_str(), O_RDONLY | O_CLOEXEC);
    if (reader_fd_ < 0) return IoError("open", SegmentPath(seg.number));
    reader_segment_ = seg.number;
  }
  std::string data(seg.size - front_offset_, '\0');
  size_t got = 0;
  while (got < data.size()) {
    const ssize_t n = ::pread(reader_fd_, data.data() + got, data.size() - got,
                              static_cast<off_t>(front_offset_ + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return IoError("read", SegmentPath(seg.number));
    got += static_cast<size_t>(n);
    if (got >= kHeaderBytes && got >= kHeaderBytes + GetU32(data.data())) break;
  }
  const size_t n = RecordAt(absl::string_view(data.data(), got), 0);
  if (n == 0) {  // damaged on disk since it was written: the rest of the segment is skipped
    ++skipped_;
    events_ -= seg.events;
    bytes_ -= seg.size - front_offset_;
    seg.events = 0;
    seg.size = front_offset_;
    return absl::OkStatus();
  }
  front_ = DecodeBody(absl::string_view(data.data() + kHeaderBytes, n - kHeaderBytes));
  front_size_ = n;
  return absl::OkStatus();
}

absl::StatusOr<std::optional<SpooledEvent>> EventSpool::Front(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  const absl::Time deadline = absl::Now() + timeout;
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return events_ > 0 || woken_; };
  mu_.AwaitWithDeadline(absl::Condition(&ready), deadline);
  woken_ = false;
  while (!front_.has_value() && events_ > 0) {
    AdvanceLocked();
    if (front_offset_ >= segments_.front().size) return std::nullopt;  // (not reached)
    if (absl::Status s = ReadFrontLocked(); !s.ok()) return s;
  }
  return front_;
}

absl::Status EventSpool::PopFront() {
  absl::MutexLock lock(&mu_);
  if (!front_.has_value()) return absl::FailedPreconditionError("NATS buffer: no front to pop");
  front_.reset();
  front_offset_ += front_size_;
  bytes_ -= front_size_;
  --events_;
  --segments_.front().events;
  AdvanceLocked();
  WritePositionLocked();
  return absl::OkStatus();
}

void EventSpool::Wake() {
  absl::MutexLock lock(&mu_);
  woken_ = true;
}

uint64_t EventSpool::bytes() const {
  absl::MutexLock lock(&mu_);
  return bytes_;
}

uint64_t EventSpool::events() const {
  absl::MutexLock lock(&mu_);
  return events_;
}

uint64_t EventSpool::skipped_records() const {
  absl::MutexLock lock(&mu_);
  return skipped_;
}

}  // namespace desfired::server::nats
