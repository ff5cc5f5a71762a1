// NatsPublisher: desfired's reader and card events and its change outcomes on NATS JetStream
// (docs/fleet.md, "Events on NATS"). Each event of the hub is published once, in order, on
//   desfired.<instance>.<reader>.<kind>     (subjects.h)
// as the proto3 JSON of the WatchCardsResponse a WatchCards stream with include_changes would
// carry, with the header Nats-Msg-Id "<instance>.<boot>.<sequence>" so that JetStream drops a
// resend.
//
//   EventHub ── Subscription ──▶ [hub reader thread] ──Append──▶ EventSpool (disk, bounded)
//                                                                     │ Front / PopFront
//                                 JetStream ◀── js_Publish, acked ── [sender thread]
//
// The card path never waits for NATS: the hub never waits for a subscriber, and the hub reader
// only converts and appends to the spool. The sender publishes the spool's front and waits for
// JetStream's acknowledgement before the next one (so the stream holds the events in order;
// about 1 / round trip events a second per box). While NATS is away (or the stream is missing)
// it retries the front, backing off to 1 s; the events wait in the spool. Dropped, and counted
// (desfired_nats_dropped_total{reason}):
//   buffer_full   the spool holds buffer_bytes already: the new event is dropped (the older ones
//                 stay, in order; the event sequence numbers in the payloads show the gap)
//   overrun       the hub reader fell more than the hub's queue behind and the events were no
//                 longer in the hub's history (a disk slower than the events)
//   rejected      JetStream refused the message for good (e.g. larger than its max payload)
//
// UIDs are left out of the payloads (card events carry no uid) unless include_uids; key
// material is never in an event.
//
// Thread-safe: Stop and stats() from any thread. The hub must outlive the publisher.
#ifndef DESFIRED_SERVER_NATS_NATS_PUBLISHER_H_
#define DESFIRED_SERVER_NATS_NATS_PUBLISHER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/nats/event_spool.h"
#include "server/readers/event_hub.h"

namespace desfired::log {
class Logger;
}  // namespace desfired::log
namespace desfired::server {
class Metrics;
}  // namespace desfired::server

namespace desfired::server::nats {

struct NatsPublisherOptions {
  // nats://host:4222 or tls://host:4222 (several: comma-separated). No user or password in it:
  // they would be on the command line; use creds_file.
  std::string url = {};
  // A NATS credentials file (a user JWT and its NKey seed, as `nsc` writes it), mode 0600.
  std::string creds_file = {};
  // TLS: the CA certificates to trust (PEM), and a client certificate with its key (key mode
  // 0600). Any of them turns TLS on.
  std::string tls_ca_file = {};
  std::string tls_cert_file = {};
  std::string tls_key_file = {};
  // This box's id (subjects.h CheckInstance).
  std::string instance = {};
  // The spool's directory and bound (event_spool.h).
  std::string buffer_dir = {};
  uint64_t buffer_bytes = uint64_t{64} << 20;
  bool include_uids = false;
  // The JetStream stream expected to take desfired.<instance>.>. create_stream: create it when
  // missing (subjects "desfired.>", file storage, the server's defaults otherwise); never
  // changes an existing stream.
  std::string stream = "DESFIRED";
  bool create_stream = false;
  // How long one publish waits for JetStream's acknowledgement before it is sent again.
  absl::Duration ack_timeout = absl::Seconds(2);
};

struct NatsPublisherStats {
  uint64_t published = 0;   // acknowledged by JetStream (duplicates included)
  uint64_t duplicates = 0;  // acknowledged as a duplicate (a resend)
  uint64_t dropped_buffer_full = 0;
  uint64_t dropped_overrun = 0;
  uint64_t dropped_rejected = 0;
  uint64_t buffered_bytes = 0;
  uint64_t buffered_events = 0;
  bool connected = false;
  uint64_t boot = 0;
};

class NatsPublisher {
 public:
  // Checks the options (INVALID_ARGUMENT naming the flag: the instance, a URL with a user or
  // password in it; FAILED_PRECONDITION: a creds or key file others may read), opens the spool
  // (UNAVAILABLE), counts the boot up, subscribes to `hub` and starts the threads. NATS need not
  // be reachable: the connection is retried in the background. `metrics` and `logger` may be
  // null; they must outlive the publisher.
  static absl::StatusOr<std::unique_ptr<NatsPublisher>> Start(EventHub& hub,
                                                              NatsPublisherOptions options,
                                                              Metrics* metrics,
                                                              log::Logger* logger);
  ~NatsPublisher();  // Stop()
  NatsPublisher(const NatsPublisher&) = delete;
  NatsPublisher& operator=(const NatsPublisher&) = delete;

  // Stops the threads and closes the connection. Events not yet acknowledged stay in the spool
  // and are sent by the next start. Idempotent.
  void Stop();

  NatsPublisherStats stats() const;

 private:
  class Connection;
  NatsPublisher(EventHub& hub, NatsPublisherOptions options, Metrics* metrics, log::Logger* logger);

  void ReadHub();
  void Send();
  // Converts and appends one event (the hub reader thread).
  void Spool(const CardEvent& event);
  void Log(bool warn, absl::string_view msg, absl::string_view detail = {}) const;
  void UpdateGauges() const;
  // The stream exists (created when missing: create_stream). The sender thread.
  bool EnsureStream();

  EventHub& hub_;
  const NatsPublisherOptions options_;
  Metrics* const metrics_;
  log::Logger* const logger_;
  std::unique_ptr<EventSpool> spool_;
  std::unique_ptr<Connection> connection_;
  uint64_t boot_ = 0;
  std::unique_ptr<Subscription> subscription_;  // the hub reader's
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> published_{0}, duplicates_{0}, dropped_full_{0}, dropped_overrun_{0},
      dropped_rejected_{0};
  std::thread reader_;
  std::thread sender_;
};

}  // namespace desfired::server::nats

#endif  // DESFIRED_SERVER_NATS_NATS_PUBLISHER_H_
