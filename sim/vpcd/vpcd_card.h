// VpcdCard: puts an emulated Card on a vsmartcard-vpcd virtual reader.
//
// The card side of the vpcd protocol: the card connects to the reader's TCP port; every
// message is a 2-byte big-endian length and a payload. A 1-byte payload is a control
// message (00 power off, 01 power on, 02 reset, 04 get ATR -> the card's ATR, 3B 81 80 01 80
// 80 unless SetConfiguration changed the ATS);
// anything longer is a command APDU, answered with the response APDU. Connected = card in
// the field; the connection closed = card removed.
//
// Latency: TCP_NODELAY is set and TCP_QUICKACK re-armed after every recv (without it every
// APDU costs ~48 ms, see shared/PCSC_TESTING.md).
//
// Control (all handled by the one loop thread, never in a signal handler):
//   - signals: SIGUSR1 remove, SIGUSR2 insert, SIGHUP save the image, SIGTERM/SIGINT save
//     (when a save path is set) and exit;
//   - an optional unix stream socket taking one-line commands, each answered with one line
//     ("ok ..." or "error ..."):
//       insert | remove | save | status | quit | tear N | delay US | hang N | lose INS |
//       failuid N
//     `status` answers "ok inserted=<0|1> connected=<0|1> apdus=<n> hung=<0|1>".
// Faults (for tests): tear after N APDUs (the connection closes after the N-th command is
// received, without an answer, and the card stays removed until `insert`), a delay before
// every answer, and a hang after N APDUs (the N-th command is never answered, and nothing
// from the reader is read, until `remove` or the process ends), and N failed UID reads (the
// next N GET DATA (FF CA) commands are answered 6F 00, as a reader that cannot read the UID
// just then, e.g. while pcscd restarts).
//
// Thread-compatible: Run() owns the card and blocks; construct and run on one thread.
#ifndef DESFIRED_SIM_VPCD_VPCD_CARD_H_
#define DESFIRED_SIM_VPCD_VPCD_CARD_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "sim/card/card.h"

namespace desfired::sim {

struct VpcdOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 35963;
  bool start_inserted = true;
  std::chrono::milliseconds reconnect_interval{50};
  std::optional<uint64_t> tear_after_apdus;
  std::optional<uint64_t> hang_after_apdus;
  // The next command with this DESFire instruction (the INS of an ISO-wrapped 90 xx APDU, or
  // the first byte of a native one) is carried out, but its answer is never sent: the card
  // leaves the field right after it (a card pulled away just after it committed).
  std::optional<uint8_t> lose_answer_ins;
  // The next N GET DATA (FF CA) commands are answered 6F 00 (no precise diagnosis).
  uint64_t fail_uid_reads = 0;
  std::chrono::microseconds apdu_delay{0};
  std::string control_socket;  // empty: none
  std::string save_path;       // empty: never save
  bool verbose = false;        // log every APDU in hex on stderr
};

// The ATR of a DESFire card (default ATS) under a PC/SC contactless reader.
inline constexpr uint8_t kDesfireAtr[] = {0x3B, 0x81, 0x80, 0x01, 0x80, 0x80};

class VpcdCard {
 public:
  // `card` must outlive this object.
  VpcdCard(Card& card, VpcdOptions options);
  ~VpcdCard();
  VpcdCard(const VpcdCard&) = delete;
  VpcdCard& operator=(const VpcdCard&) = delete;

  // Serves until SIGTERM/SIGINT or `quit`. Blocks those signals and SIGUSR1/2/SIGHUP in the
  // calling thread (they are read through a signalfd). Returns INTERNAL when the control
  // socket or the signalfd cannot be set up, or the final save fails.
  absl::Status Run();

 private:
  void Connect();
  void Disconnect(const char* why);
  bool ServeOne();  // one message from vpcd; false when the connection ended
  void HandleControlClient(int fd);
  std::string Command(const std::string& line);
  absl::Status Save();

  Card& card_;
  VpcdOptions opt_;
  int sock_ = -1;
  int control_ = -1;
  int signal_fd_ = -1;
  bool inserted_ = true;
  bool hung_ = false;
  bool quit_ = false;
  uint64_t apdus_ = 0;
  std::chrono::steady_clock::time_point next_connect_{};
};

}  // namespace desfired::sim

#endif  // DESFIRED_SIM_VPCD_VPCD_CARD_H_
