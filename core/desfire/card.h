// DesfireCard: the typed DESFire command API over one CardTransport.
//
//   transport (PcscCard, ScriptedTransport, an in-process emulator)
//     └─ Channel (framing, chaining, status table)
//          └─ Session (authentication, secure messaging)
//               └─ DesfireCard (one method per command, typed results, file settings
//                  cache, transactions)
//
//   DesfireCard card(pcsc_card);
//   DESFIRED_ASSIGN_OR_RETURN(CardVersion version, card.GetVersion());
//   DESFIRED_RETURN_IF_ERROR(card.SelectApplication(0xF51001));
//   DESFIRED_RETURN_IF_ERROR(card.Authenticate(1, {KeyType::kAes128, key}));
//   DESFIRED_ASSIGN_OR_RETURN(int32_t value, card.GetValue(1));
//   DESFIRED_RETURN_IF_ERROR(card.Debit(1, 150));          // commits by default
//
// Communication modes. A file operation is protected as the card will protect it: the file's
// mode from GetFileSettings, or plain when one of the access rights the operation uses is
// free (0xE). Settings are cached per selected application and session: the cache is dropped
// on SelectApplication, on every authentication, on errors that end the session and after
// ChangeFileSettings / DeleteFile / Create*File. Nothing is cached process-wide; one
// DesfireCard per card handle.
//
// Transactions. Credit, Debit, LimitedCredit, WriteRecord, UpdateRecord, ClearRecordFile and
// WriteData on a backup file are followed by CommitTransaction unless `commit = false`. When
// the change or the commit fails, the card keeps nothing: AbortTransaction is sent when the
// card is still there (the card rolls back by itself when it left the field). The error
// then carries a commit-state payload (apdu::GetCommitState): kNotCommitted when the card cannot
// have committed (the failure came before the commit command, or the card refused the
// commit), kUnknown when the commit was sent and its answer was lost (only the card's next
// contact can tell; the server's ledger reconciles this).
//
// Transaction MAC (card_tmac.cc; tmac.h; docs/ev3.md). The card object collects the
// Transaction MAC Input of the open transaction as the card does (every data, value and record
// command since the last select, authentication, commit or abort; not the ISO commands, not
// reads of a TransactionMAC file). With TxOptions::reader_id the change is followed by
// CommitReaderID, with TxOptions::transaction_mac the commit asks for TMC ‖ TMV (option 01);
// last_transaction_mac() then holds them with the host's TMI, for VerifyTransactionMac.
//
// Errors: those of Session and Channel (status.h, core/apdu/status_payload.h), plus
//   INVALID_ARGUMENT   an argument out of range (AID > 24 bits, file number > 31, offsets and
//                      lengths beyond 24 bits, a negative amount, an empty write), checked
//                      before anything is sent
//   FAILED_PRECONDITION / NOT_AUTHENTICATED   MAC / full mode needed and no session
//   FAILED_PRECONDITION / WRONG_FILE_TYPE     e.g. GetValue on a data file
//   OUT_OF_RANGE / INSUFFICIENT_VALUE         Debit beyond the lower limit (card status BE)
//
// Key material is never retained beyond a call, never logged and never put in an error.
//
// Thread-compatible: one worker owns a card handle and the DesfireCard over it.
#ifndef DESFIRED_CORE_DESFIRE_CARD_H_
#define DESFIRED_CORE_DESFIRE_CARD_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/apdu/transport.h"
#include "core/crypto/key_cipher.h"
#include "core/crypto/key_type.h"
#include "core/desfire/card_types.h"
#include "core/desfire/channel.h"
#include "core/desfire/iso_apdu.h"
#include "core/desfire/session.h"
#include "core/desfire/tmac.h"
#include "core/util/bytes.h"

namespace desfired::desfire {

inline constexpr absl::string_view kReasonWrongFileType = "WRONG_FILE_TYPE";
inline constexpr absl::string_view kReasonInsufficientValue = "INSUFFICIENT_VALUE";

// A key to authenticate or change with. `value` is borrowed for the call only.
struct CardKey {
  crypto::KeyType type = crypto::KeyType::kAes128;
  ByteSpan value;
  // The key version ChangeKey writes: beside an AES key; into the parity bits of a DES, 2TDEA
  // or 3TDEA key (key_version.h), whatever parity bits `value` has. Authenticate ignores it.
  uint8_t version = 0;
  // Set for a key whose value stays elsewhere (a PKCS#11 token): Authenticate runs the card
  // key's operations through it and ignores `value`; ChangeKey refuses it. Not owned.
  const crypto::KeyCipher* cipher = nullptr;
};

// The usual scheme for a key type: ISO 0x1A for the DES family, AES 0xAA for AES.
AuthScheme DefaultScheme(crypto::KeyType type);

struct TxOptions {
  bool commit = true;  // send CommitTransaction after the change
  // Called after the card accepted the change and before CommitTransaction is sent (only
  // when `commit`). A non-OK status stops there: the transaction is aborted and the call
  // fails with that status and commit state NOT_COMMITTED. (The audit ledger writes its
  // PENDING row here: server/audit/change_recorder.h, core/ledger/ledger.h.)
  std::function<absl::Status()> before_commit = nullptr;
  // Transaction MAC (when `commit`): `reader_id` (16 bytes; empty: none) is sent with
  // CommitReaderID after the change and before `before_commit`; `transaction_mac` commits with
  // option 01 (an application with a TransactionMAC file), filling last_transaction_mac().
  Bytes reader_id = {};
  bool transaction_mac = false;
};

class DesfireCard {
 public:
  struct Options {
    RandomSource random = nullptr;  // RndA; default OpenSSL RAND
    FrameLogger frame_logger = nullptr;
  };

  explicit DesfireCard(apdu::CardTransport& transport) : DesfireCard(transport, Options{}) {}
  DesfireCard(apdu::CardTransport& transport, Options options);
  DesfireCard(const DesfireCard&) = delete;
  DesfireCard& operator=(const DesfireCard&) = delete;

  // --- PICC level -----------------------------------------------------------------------
  absl::StatusOr<CardVersion> GetVersion();
  absl::StatusOr<Bytes> GetCardUid();  // needs a session (enciphered reply)
  absl::StatusOr<uint32_t> FreeMemory();
  absl::StatusOr<std::vector<uint32_t>> GetApplicationIds();
  absl::StatusOr<std::vector<DfName>> GetDfNames();
  // Selecting ends the session and rolls back an open transaction on the card.
  absl::Status SelectApplication(uint32_t aid);
  absl::Status CreateApplication(const ApplicationSpec& spec);
  absl::Status DeleteApplication(uint32_t aid);
  absl::Status FormatPicc();
  // ReadSig (0x3C 00): the 56-byte originality signature r ‖ s (originality.h), sent plain
  // (FAILED_PRECONDITION inside a session: read it before authenticating). A wrong status or
  // length: INTERNAL / PROTOCOL_ERROR (originality.h DecodeReadSigAnswer). In read_sig.cc.
  absl::StatusOr<Bytes> ReadSignature();
  // SetConfiguration (0x5C), option 0x00..0x02, enciphered.
  absl::Status SetConfiguration(uint8_t option, ByteSpan data);

  // --- Keys -----------------------------------------------------------------------------
  // Authenticates with key `key_no` of the selected application (or the PICC). kEv2 uses
  // AuthenticateEV2NonFirst when an EV2 session is already open, EV2First otherwise; kLrp the
  // same with AuthenticateLRPNonFirst / LRPFirst.
  absl::Status Authenticate(uint8_t key_no, const CardKey& key,
                            std::optional<AuthScheme> scheme = std::nullopt);
  absl::StatusOr<KeySettings> GetKeySettings();
  absl::Status ChangeKeySettings(uint8_t settings);  // enciphered, needs the master key
  absl::StatusOr<uint8_t> GetKeyVersion(uint8_t key_no);
  // `old_key` is needed when changing a key other than the authenticated one; its `version`
  // must be the one the card holds (for the DES family, XOR with the card's key includes the
  // parity bits: another version makes the card refuse with INTEGRITY_ERROR, changing nothing).
  absl::Status ChangeKey(uint8_t key_no, const CardKey& new_key, const CardKey* old_key = nullptr);

  // --- Files ----------------------------------------------------------------------------
  absl::StatusOr<std::vector<uint8_t>> GetFileIds();
  absl::StatusOr<std::vector<uint16_t>> GetIsoFileIds();
  // Cached per session (see the header comment); `refresh` asks the card again.
  absl::StatusOr<FileSettings> GetFileSettings(uint8_t file_no, bool refresh = false);
  absl::Status ChangeFileSettings(uint8_t file_no, CommMode comm_mode, const AccessRights& access);
  // ChangeFileSettings of a standard data file with SDM enabled (FileOption bit 6 and the SDM
  // settings, sdm_settings.h), checked against the file's size and the session's scheme (LRP:
  // 48-character PICCData) before anything is sent: INVALID_ARGUMENT naming the field;
  // FAILED_PRECONDITION / WRONG_FILE_TYPE for another file type. In card_sdm.cc.
  absl::Status ChangeFileSettings(uint8_t file_no, CommMode comm_mode, const AccessRights& access,
                                  const SdmSettings& sdm);
  absl::Status CreateDataFile(const DataFileSpec& spec);
  absl::Status CreateValueFile(const ValueFileSpec& spec);
  absl::Status CreateRecordFile(const RecordFileSpec& spec);
  // CreateTransactionMACFile (0xCE): the key and its version enciphered, so only in an
  // authenticated session (FAILED_PRECONDITION / NOT_AUTHENTICATED otherwise); INVALID_ARGUMENT
  // for a key that is not 16 bytes. In card_tmac.cc.
  absl::Status CreateTransactionMacFile(const TransactionMacFileSpec& spec);
  absl::Status DeleteFile(uint8_t file_no);

  // --- Data -----------------------------------------------------------------------------
  // `length` 0 reads to the end of the file.
  absl::StatusOr<Bytes> ReadData(uint8_t file_no, uint32_t offset, uint32_t length);
  // Backup data files are committed (TxOptions); standard files take effect at once.
  absl::Status WriteData(uint8_t file_no, uint32_t offset, ByteSpan data, TxOptions tx = {});
  absl::StatusOr<int32_t> GetValue(uint8_t file_no);
  absl::Status Credit(uint8_t file_no, int32_t amount, TxOptions tx = {});
  absl::Status Debit(uint8_t file_no, int32_t amount, TxOptions tx = {});
  absl::Status LimitedCredit(uint8_t file_no, int32_t amount, TxOptions tx = {});
  absl::Status WriteRecord(uint8_t file_no, uint32_t offset, ByteSpan data, TxOptions tx = {});
  // EV2 UpdateRecord (0xDB): `record_no` 0 is the newest record.
  absl::Status UpdateRecord(uint8_t file_no, uint32_t record_no, uint32_t offset, ByteSpan data,
                            TxOptions tx = {});
  // Records `newest_offset` .. newest_offset + count - 1 counted back from the newest
  // (count 0: all of them), returned oldest first, one entry per record.
  absl::StatusOr<std::vector<Bytes>> ReadRecords(uint8_t file_no, uint32_t newest_offset,
                                                 uint32_t count);
  absl::Status ClearRecordFile(uint8_t file_no, TxOptions tx = {});
  absl::Status CommitTransaction();
  // CommitTransaction with option 01 (card_tmac.cc): TMC and TMV of the transaction, with the
  // TMI and reader id the host collected; also kept as last_transaction_mac(). The card answers
  // PARAMETER_ERROR without a TransactionMAC file, PERMISSION_DENIED when CommitReaderID is
  // enabled and the transaction has none; INTERNAL / PROTOCOL_ERROR for an answer that is not
  // 12 bytes.
  absl::StatusOr<TransactionMac> CommitTransactionMac();
  absl::Status AbortTransaction();
  // EV2 CommitReaderID (0xC8, needs an EV2 session and a transaction MAC file; card_tmac.cc):
  // sends the 16-byte reader id and returns EncTMRI, the previous transaction's reader id
  // enciphered under this one's SesTMENCKey (tmac.h DecryptPreviousReaderId).
  absl::StatusOr<Bytes> CommitReaderId(ByteSpan reader_id);
  // The Transaction MAC of the last commit that asked for it (TxOptions::transaction_mac or
  // CommitTransactionMac); reset when the next change starts.
  const std::optional<TransactionMac>& last_transaction_mac() const { return last_tmac_; }
  // The Transaction MAC Input collected in the open transaction.
  ByteSpan transaction_mac_input() const { return tmi_; }
  // EV2/EV3 GetFileCounters (0xF6): the file's SDM read counter (24 bits), enciphered reply.
  absl::StatusOr<uint32_t> GetFileCounters(uint8_t file_no);

  // --- ISO/IEC 7816-4 file access (iso_files.cc; iso_apdu.h; docs/ev3.md) ----------------
  // Plain APDUs (CLA 00) beside the native commands. The cards offer them without secure
  // messaging: on a file whose access needs a key, authenticate natively (EV2 or LRP) first;
  // the session is left as it is (no command counter step, as NXP's reader library does). In
  // an EV1 or legacy session FAILED_PRECONDITION: EV1 cards append a CMAC to ISO answers that
  // the host does not check. Any error ends the session, as a native error does.
  // SELECT FILE: selecting a DF (by FID or name; 3F00 the PICC level) ends the session and
  // rolls back an open transaction, as SelectApplication does; selecting an EF (kChildEf, or
  // kFileId naming an EF of the current DF) keeps them.
  absl::Status IsoSelectFile(IsoSelectBy by, ByteSpan id);
  // READ BINARY from `offset` of a standard or backup file; `length` 0 reads to the end (in
  // reads of up to 256 bytes).
  absl::StatusOr<Bytes> IsoReadBinary(IsoFile file, uint32_t offset, uint32_t length);
  // UPDATE BINARY (in writes of up to 255 bytes), then CommitTransaction unless !tx.commit (a
  // backup file keeps the change in the transaction; a standard file takes it at once and the
  // commit finds nothing to do).
  absl::Status IsoUpdateBinary(IsoFile file, uint32_t offset, ByteSpan data, TxOptions tx = {});
  // READ RECORD: `count` records from `first` (1: the newest) towards the oldest, newest first;
  // count 0: to the oldest. The list ends early where the card answers 6A83 (no such record;
  // the session ends with that error).
  absl::StatusOr<std::vector<Bytes>> IsoReadRecords(IsoFile file, uint32_t first, uint32_t count);
  // APPEND RECORD (1..255 bytes, at most the record size), then CommitTransaction unless
  // !tx.commit.
  absl::Status IsoAppendRecord(IsoFile file, ByteSpan data, TxOptions tx = {});

  // --- State ----------------------------------------------------------------------------
  // Uses `settings` for `file_no` until the session ends, instead of asking the card (for
  // applications whose key settings forbid GetFileSettings without the master key).
  void AssumeFileSettings(uint8_t file_no, const FileSettings& settings);
  std::optional<uint32_t> selected_aid() const { return selected_aid_; }
  Session& session() { return session_; }
  Channel& channel() { return channel_; }

 private:
  // Plain in the legacy and EV1 schemes, MACed in EV2 and LRP (management commands, read requests
  // and write acknowledgements of non-plain files, as the data sheets list them).
  CommMode MacInEv2() const;
  absl::StatusOr<Bytes> Run(Command command);
  // Sends `change` (its TMI entry `tmi_params` ‖ `tmi_data`), then CommitTransaction when
  // tx.commit; aborts on failure.
  absl::Status RunChange(Command change, TxOptions tx, Bytes tmi_params = {},
                         ByteSpan tmi_data = {});
  // Adds a command's entry to the TMI (each part zero-padded to 16 bytes; `data` when any).
  void CollectTmi(ByteSpan params, ByteSpan data = {});
  // Starts a new transaction on the host's side: no TMI, no reader id.
  void ResetTransaction();
  // The commit part of RunChange for a change that was sent with status `changed`.
  absl::Status FinishChange(absl::Status changed, TxOptions tx);
  // Sends one ISO APDU and decodes the answer (iso_files.cc); an error ends the session.
  absl::StatusOr<Bytes> RunIso(const apdu::CommandApdu& command, size_t max_data);
  // ChangeFileSettings' exchange: `data` (FileOption ‖ access rights ‖ ...) enciphered unless
  // the file's change right is free.
  absl::Status SendFileSettings(uint8_t file_no, const FileSettings& current, const Bytes& data);
  absl::StatusOr<FileSettings> SettingsFor(uint8_t file_no, FileType want, absl::string_view op);
  absl::Status ChangeValue(Ins ins, uint8_t file_no, int32_t amount, TxOptions tx);
  absl::Status WriteChange(Ins ins, uint8_t file_no, Bytes header, ByteSpan data, TxOptions tx,
                           bool commit_needed);
  void DropSessionState();

  Channel channel_;
  Session session_;
  std::optional<uint32_t> selected_aid_;
  absl::flat_hash_map<uint8_t, FileSettings> settings_cache_;
  Bytes tmi_;        // the open transaction's Transaction MAC Input
  Bytes reader_id_;  // the TMRI CommitReaderID sent in it
  std::optional<TransactionMac> last_tmac_;
};

}  // namespace desfired::desfire

#endif  // DESFIRED_CORE_DESFIRE_CARD_H_
