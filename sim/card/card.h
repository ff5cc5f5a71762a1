// Card: an emulated MIFARE DESFire EV1/EV2 card — the command dispatcher over a CardState.
//
// Every byte from the reader goes through one path:
//
//   Transmit(apdu)
//     ├─ FF CA 00 00 00 (reader GET DATA)      -> UID ‖ 90 00 (as a PC/SC reader answers;
//     │                                            P1 01: the ATS historical bytes)
//     ├─ 00 INS .. (ISO/IEC 7816-4: SELECT FILE, READ/UPDATE BINARY, READ RECORD, APPEND
//     │            RECORD; card_iso.cc)          -> data ‖ 90 00 / 6A 82 / 69 82 ...
//     ├─ 90 INS 00 00 [Lc data] [00] (wrapped)  -> ProcessFrame(INS ‖ data) -> data ‖ 91 status
//     └─ INS data (native frame)                -> ProcessFrame           -> status ‖ data
//   ProcessFrame: 0xAF continuation (pending output frames, authentication step 2, chained
//     input) or Dispatch -> command handler (unwraps secure messaging, checks rights, acts
//     on the state, returns data and how to protect it) -> Emit (secure messaging, frames).
//
// Malformed input never crashes the card and always gets a status word: wrong Lc 67 00,
// P1/P2 not 00 6A 86, unknown CLA 6E 00, unknown ISO INS 6D 00, unknown native command 1C,
// wrong data length 7E.
//
// Behaviour worth knowing (matches real cards where the vectors tell; see docs/simulator.md):
//   - any error status drops the authentication;
//   - selecting an application, a new authentication, PowerOff() and Reset() roll back the
//     open transaction (and its Transaction MAC Input);
//   - an application with a TransactionMAC file collects the TMI of every data, value and
//     record command (not the ISO ones, not reads of that file) and answers
//     CommitTransaction(01) with TMC ‖ TMV (card_tmac.cc, docs/ev3.md);
//   - responses are split into frames of at most 59 data bytes (enciphered: whole cipher
//     blocks, 48 for AES, 56 for DES).
//
//   Card card(CardState::Blank());
//   Bytes r = card.Transmit(*HexDecode("9060000000"));  // 04 01 01 01 00 1A 05 91 AF
//
// Thread-compatible: one thread drives a card (the vpcd loop).
#ifndef DESFIRED_SIM_CARD_CARD_H_
#define DESFIRED_SIM_CARD_CARD_H_

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "core/util/bytes.h"
#include "sim/card/auth.h"
#include "sim/card/model.h"
#include "sim/card/protocol.h"
#include "sim/card/secure_channel.h"

namespace desfired::sim {

class Card {
 public:
  // `random` defaults to the OpenSSL CSPRNG; tests pass a fixed source.
  explicit Card(CardState state, RandomSource random = nullptr);

  // One command APDU in, one response APDU out (see the diagram above).
  Bytes Transmit(ByteSpan apdu);

  // The card leaves the field / is reset: rolls back the transaction, drops the session,
  // selects the PICC level, forgets pending frames. Draws a new random UID when enabled.
  void PowerOff();
  void Reset() { PowerOff(); }

  // The UID a reader reports (the random one when random UID is on).
  ByteSpan reader_uid() const { return reader_uid_; }
  // The ATS of the current activation (SetConfiguration option 2 takes effect at the next
  // PowerOff/Reset) and the ATR a PC/SC reader shows for it.
  ByteSpan ats() const { return ats_; }
  ByteSpan atr() const { return atr_; }
  const CardState& state() const { return state_; }
  CardState& mutable_state() { return state_; }
  const SecureChannel& channel() const { return channel_; }
  // Legacy (0x0A) sessions pad whole-file enciphered reads with 80 00.. instead of 00.., as
  // some cards do (desfire-sim --legacy-pad80).
  void set_legacy_pad80(bool on) { channel_.set_legacy_pad80(on); }
  // LRP mode, as SetConfiguration switches a real EV3 / NTAG 424 DNA (auth.h): AES keys
  // answer only AuthenticateLRPFirst / NonFirst, then LRP secure messaging.
  void set_lrp_mode(bool on) { auth_.set_lrp_mode(on); }
  // The originality key (a P-224 private scalar, 28 bytes) ReadSig signs the UID with: a test
  // key pair's, never NXP's. Empty (the default): ReadSig answers ILLEGAL_COMMAND, as an EV1.
  void set_originality_key(Bytes private_key) { originality_key_ = std::move(private_key); }
  // The selected application (nullopt at PICC level).
  std::optional<uint32_t> selected_aid() const { return selected_; }

 private:
  struct Result {
    Sw status = Sw::kOk;
    Bytes data;
    RespProtection protection = RespProtection::kMacEv2;
    std::vector<size_t> frames;  // explicit frame sizes of the plain data (GetVersion ...)
    bool raw = false;            // bypasses secure messaging (authentication, select)
    size_t need_total = 0;       // > 0: command incomplete, wait for this many bytes
  };
  struct Frame {
    Sw status;
    Bytes data;
  };

  Frame ProcessFrame(ByteSpan frame);
  Result Dispatch(Ins ins, ByteSpan data);
  Frame Emit(Ins ins, ByteSpan data, Result result);
  // CLA 00: SELECT FILE, READ/UPDATE BINARY, READ RECORD, APPEND RECORD (card_iso.cc).
  Bytes TransmitIso(ByteSpan apdu);
  Bytes IsoSelectFile(uint8_t p1, ByteSpan id);
  // The file an ISO command names: SFI `sfi` of the selected application, or the current EF
  // when `sfi` is nullopt; checks the read (or write) rights and plain communication.
  IsoSw IsoFileOf(std::optional<uint8_t> sfi, bool write, File*& f);
  Bytes IsoBinary(uint8_t ins, uint8_t p1, uint8_t p2, ByteSpan data, std::optional<size_t> ne);
  Bytes IsoRecord(uint8_t ins, uint8_t p1, uint8_t p2, ByteSpan data, std::optional<size_t> ne);
  Bytes TransmitReader(ByteSpan apdu);

  // Helpers.
  static Result Error(Sw sw) {
    Result r;
    r.status = sw;
    return r;
  }
  static Result Raw(Sw sw) {
    Result r = Error(sw);
    r.raw = true;
    return r;
  }
  static Result Reply(Bytes data, RespProtection p = RespProtection::kMacEv2) {
    Result r;
    r.data = std::move(data);
    r.protection = p;
    return r;
  }
  static Result NeedMore(size_t total) {
    Result r;
    r.need_total = total;
    return r;
  }
  Application* CurrentApp();
  const Key* FindKey(uint8_t key_no);
  uint8_t KeyCount();
  void AbortTransaction();
  void Select(std::optional<uint32_t> aid);
  // Unwraps a command whose data is all protected under kMacEv2 (management commands).
  Sw UnwrapManagement(Ins ins, ByteSpan data, Bytes& body);
  // Checks that the session allows `rights` (any of them) on a file; sets `comm` to the
  // communication mode that applies (plain for free access).
  Sw CheckFileAccess(const File& file, std::initializer_list<uint8_t> rights, uint8_t& comm);
  // Directory rights: free listing (key settings bit 1) or master key authenticated.
  Sw CheckDirectoryAccess();
  // A PICC-level listing (GetApplicationIDs, GetDFNames): no data, no application selected,
  // directory rights.
  Sw CheckPiccListing(Ins ins, ByteSpan data);
  // A management command on one file (its number the only data, under kMacEv2): the
  // selected application and the file, or LENGTH_ERROR, PERMISSION_DENIED, FILE_NOT_FOUND.
  Sw ManagedFile(Ins ins, ByteSpan data, Application*& app, File*& f);
  // The data of a write (WriteData, WriteRecord): `length` bytes after the 7-byte header,
  // unwrapped under the protection of `comm` into `body`. A Result to answer with instead:
  // NeedMore until all of it has come, or an error.
  std::optional<Result> UnwrapWrite(Ins ins, ByteSpan data, uint8_t comm, uint32_t length,
                                    Bytes& body);
  // The file data[0] names in the selected application: LENGTH_ERROR without data,
  // PERMISSION_DENIED at PICC level, FILE_NOT_FOUND.
  Sw FileOfCommand(ByteSpan data, File*& f);
  // A read (ReadData, ReadRecords) of `f`: the read rights, then the 7-byte header (file,
  // offset, count) unwrapped into `header`; `comm` is the mode the access gave.
  Sw UnwrapRead(Ins ins, ByteSpan data, const File& f, uint8_t& comm, Bytes& header);
  // What a plain read of SDM file `f` shows: its data with the SDM mirrors filled in
  // (sdm.h), the read counter incremented. kPermissionDenied at the counter's limit or when an
  // SDM key is not an AES key of the application. For every read command that mirrors (ReadData;
  // ISO READ BINARY).
  Sw SdmContent(File& f, Bytes& shown);
  // Transaction MAC (card_tmac.cc). The TransactionMAC file of the selected application, or
  // nullptr.
  File* TmacFile();
  // Adds a command on `f` to the Transaction MAC Input when the application has a
  // TransactionMAC file (not for that file itself): `params`, zero-padded to 16 bytes, then
  // `data` the same way when there is any.
  void CollectTmi(const File& f, ByteSpan params, ByteSpan data = {});
  // CommitTransaction's Transaction MAC part, checked before anything is committed: the
  // reader id rule (CommitReaderID enabled: a transaction with commands needs one).
  Sw CheckTmacCommit(bool want_tmac);
  // After the files are committed: TMC + 1, TMV over the TMI, TMRI kept; returns TMC ‖ TMV
  // when `want_tmac`.
  Bytes CommitTmac(bool want_tmac);

  // Adds a new file to `app` in file-number order: DUPLICATE_ERROR for a number (or ISO file
  // id) in use, COUNT_ERROR past 32 files, OUT_OF_EEPROM without the memory.
  Sw AddFile(Application& app, File f);
  // Create/delete rights: key settings bit 2 or master key authenticated.
  Sw CheckCreateAccess();
  bool MasterKeyAuthenticated();
  // The first key of a new application of `family` (SetConfiguration option 1).
  Key DefaultKey(crypto::KeyType family) const;

  // Command handlers (one per instruction).
  Result Authenticate(Ins ins, ByteSpan data);
  Result GetVersion(Ins ins, ByteSpan data);
  Result SelectApplication(ByteSpan data);
  Result GetApplicationIds(Ins ins, ByteSpan data);
  Result GetDfNames(Ins ins, ByteSpan data);
  Result CreateApplication(Ins ins, ByteSpan data);
  Result DeleteApplication(Ins ins, ByteSpan data);
  Result FormatPicc(Ins ins, ByteSpan data);
  Result FreeMemory(Ins ins, ByteSpan data);
  Result GetCardUid(Ins ins, ByteSpan data);
  Result ReadSig(ByteSpan data);  // card_sig.cc
  Result SetConfiguration(Ins ins, ByteSpan data);
  Result GetKeySettings(Ins ins, ByteSpan data);
  Result ChangeKeySettings(Ins ins, ByteSpan data);
  Result GetKeyVersion(Ins ins, ByteSpan data);
  Result ChangeKey(Ins ins, ByteSpan data);
  Result GetFileIds(Ins ins, ByteSpan data, bool iso);
  Result GetFileSettings(Ins ins, ByteSpan data);
  Result ChangeFileSettings(Ins ins, ByteSpan data);
  Result CreateFile(Ins ins, ByteSpan data);
  Result CreateTransactionMacFile(Ins ins, ByteSpan data);  // card_tmac.cc
  Result CommitReaderId(Ins ins, ByteSpan data);            // card_tmac.cc
  Result DeleteFile(Ins ins, ByteSpan data);
  Result ReadData(Ins ins, ByteSpan data);
  Result WriteData(Ins ins, ByteSpan data);
  Result GetValue(Ins ins, ByteSpan data);
  Result ChangeValue(Ins ins, ByteSpan data);  // Credit, Debit, LimitedCredit
  Result WriteRecord(Ins ins, ByteSpan data);
  Result ReadRecords(Ins ins, ByteSpan data);
  Result ClearRecordFile(Ins ins, ByteSpan data);
  Result CommitTransaction(Ins ins, ByteSpan data);
  Result AbortTransactionCmd(Ins ins, ByteSpan data);

  CardState state_;
  RandomSource random_;
  Bytes originality_key_;
  Bytes reader_uid_;
  Bytes ats_;
  Bytes atr_;
  std::optional<uint32_t> selected_;
  std::optional<uint8_t> iso_ef_;  // the current EF (file number) of the ISO commands
  SecureChannel channel_;
  CardAuthenticator auth_;
  // Output chaining: frames still to send; the last one carries `pending_status_`.
  std::deque<Bytes> pending_out_;
  Sw pending_status_ = Sw::kOk;
  // The open transaction's Transaction MAC Input and the reader id CommitReaderID gave it
  // (both dropped with the transaction).
  Bytes tmi_;
  std::optional<Bytes> tmri_cur_;
  // Input chaining: the command collected so far.
  std::optional<Ins> pending_ins_;
  Bytes pending_in_;
  size_t pending_total_ = 0;
};

}  // namespace desfired::sim

#endif  // DESFIRED_SIM_CARD_CARD_H_
