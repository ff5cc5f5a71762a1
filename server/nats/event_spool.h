// EventSpool: the bounded on-disk FIFO of the events the NATS publisher has not had
// acknowledged by JetStream yet. Every event goes through it: the hub's reader appends, the
// sender publishes the front and pops it once JetStream has stored it. While NATS is away the
// events wait here, in order, and survive a restart of desfired.
//
//   DESFIRED_ASSIGN_OR_RETURN(auto spool, EventSpool::Open({.dir = "/var/lib/desfired/nats",
//                                                          .max_bytes = 64 << 20}));
//   spool->Append({.msg_id = ..., .subject = ..., .payload = json});   // reader thread
//   if (auto front = spool->Front(absl::Milliseconds(200)); ...)        // sender thread
//     ... js_Publish(front) ... ; spool->PopFront();
//
// On disk (the directory is created mode 0700):
//   <20-digit number>.seg   segments of records, appended; a new one after segment_bytes;
//                           a segment is deleted once every record of it is popped
//   position                "<segment number> <offset>\n": the front (rewritten at each pop;
//                           not synced — after a power cut the front may be older: events
//                           are sent again, and JetStream drops them by their message id)
//   boot                    the boot counter (NextBoot)
// A record: u32 body length, u32 CRC-32 (core/crypto/crc.h) of the body, the body
//   (u16 length + message id, u16 length + subject, the payload). A torn or corrupt record at
//   the end of the last segment (a crash in the middle of a write) is cut off at Open; one
//   elsewhere ends its segment (the rest of it is skipped and counted in skipped_records()).
//
// The bound: Append refuses (RESOURCE_EXHAUSTED) an event that would bring the bytes of the
// records not yet popped above max_bytes; the caller drops it (the newest event is dropped, the
// buffered ones are kept in order). Records are not synced to disk per event: a crash of the
// process loses nothing appended, a power cut may lose the newest.
//
// Thread-safe: Append, Front, PopFront and the counters may be called from any thread; Front
// and PopFront belong to one consumer.
#ifndef DESFIRED_SERVER_NATS_EVENT_SPOOL_H_
#define DESFIRED_SERVER_NATS_EVENT_SPOOL_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace desfired::server::nats {

struct SpooledEvent {
  std::string msg_id;
  std::string subject;
  std::string payload;
};

class EventSpool {
 public:
  struct Options {
    std::string dir;
    uint64_t max_bytes = uint64_t{64} << 20;
    uint64_t segment_bytes = uint64_t{1} << 20;
  };

  // Opens (creating) the directory and finds the records not yet popped. Errors: UNAVAILABLE
  // (the directory or a file cannot be created, read or written; the message names it),
  // INVALID_ARGUMENT (max_bytes or segment_bytes 0).
  static absl::StatusOr<std::unique_ptr<EventSpool>> Open(Options options);
  ~EventSpool();
  EventSpool(const EventSpool&) = delete;
  EventSpool& operator=(const EventSpool&) = delete;

  // Counts the directory's boot counter up (synced and renamed into place) and returns the new
  // value: 1 on a new directory. UNAVAILABLE when it cannot be written; INVALID_ARGUMENT when
  // the file does not hold a number (the message names it).
  absl::StatusOr<uint64_t> NextBoot() ABSL_LOCKS_EXCLUDED(mu_);

  // Appends `event` at the end. RESOURCE_EXHAUSTED when it does not fit under max_bytes
  // (nothing written), INVALID_ARGUMENT when a field is too long for the record (64 KiB id or
  // subject, 16 MiB payload), UNAVAILABLE when the disk refuses (the record is not kept).
  absl::Status Append(const SpooledEvent& event) ABSL_LOCKS_EXCLUDED(mu_);

  // The oldest record not popped, waiting up to `timeout` for one; nullopt when none came.
  // UNAVAILABLE when the segment cannot be read.
  absl::StatusOr<std::optional<SpooledEvent>> Front(absl::Duration timeout)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Drops the record Front returned (after JetStream stored it) and records the new front.
  absl::Status PopFront() ABSL_LOCKS_EXCLUDED(mu_);

  // Wakes a Front that waits (shutdown).
  void Wake() ABSL_LOCKS_EXCLUDED(mu_);

  uint64_t bytes() const ABSL_LOCKS_EXCLUDED(mu_);   // of the records not popped
  uint64_t events() const ABSL_LOCKS_EXCLUDED(mu_);  // records not popped
  uint64_t skipped_records() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Segment {
    uint64_t number = 0;
    uint64_t size = 0;    // bytes of whole records
    uint64_t events = 0;  // records not popped
  };
  explicit EventSpool(Options options) : options_(std::move(options)) {}

  std::string SegmentPath(uint64_t number) const;
  absl::Status Scan() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves the front past finished segments (deleting them).
  void AdvanceLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status OpenWriterLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reads the record at the front into front_ (and its size into front_size_).
  absl::Status ReadFrontLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WritePositionLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  mutable absl::Mutex mu_;
  std::deque<Segment> segments_ ABSL_GUARDED_BY(mu_);  // oldest first; never empty after Open
  uint64_t front_segment_ ABSL_GUARDED_BY(mu_) = 0;    // the number of segments_.front()
  uint64_t front_offset_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t events_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t skipped_ ABSL_GUARDED_BY(mu_) = 0;
  int writer_fd_ ABSL_GUARDED_BY(mu_) = -1;  // segments_.back()
  int reader_fd_ ABSL_GUARDED_BY(mu_) = -1;  // segments_.front()
  uint64_t reader_segment_ ABSL_GUARDED_BY(mu_) = 0;
  int position_fd_ ABSL_GUARDED_BY(mu_) = -1;
  std::optional<SpooledEvent> front_ ABSL_GUARDED_BY(mu_);  // read, not popped yet
  uint64_t front_size_ ABSL_GUARDED_BY(mu_) = 0;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace desfired::server::nats

#endif  // DESFIRED_SERVER_NATS_EVENT_SPOOL_H_
