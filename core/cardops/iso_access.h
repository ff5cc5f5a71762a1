// The data and record operations over the ISO/IEC 7816-4 file commands (request.iso.enabled):
// ReadData as READ BINARY, WriteData as UPDATE BINARY, ReadRecords as READ RECORD, WriteRecord
// as APPEND RECORD (core/desfire/card.h "ISO/IEC 7816-4 file access"; docs/ev3.md).
//
// The prologue differs from session.h's Begin in the selection: expected UID and key as Begin;
// then ISO SELECT of the DF (request.iso.df_name or df_file_id) or the native
// SelectApplication(aid); ISO SELECT of the EF when iso.ef_file_id is set; then the native
// authentication when a key is given (EV2 or LRP: INVALID_ARGUMENT / field "auth.scheme" for
// an EV1 or legacy scheme, whose sessions the ISO commands cannot follow). The session is
// always a fresh one.
//
// Besides the errors of Begin and of the DesfireCard ISO calls: INVALID_ARGUMENT for a
// communication mode override other than plain ("communication_mode"), defer_commit with an
// ISO selection of the application ("defer_commit": CommitTransaction continues only a session
// on an application selected by aid), WriteRecord with an
// offset ("offset": APPEND RECORD writes a whole record). ReadRecords cannot learn the record
// count with ISO commands: total_records is the count read so far (start + records), and a full
// page always has a next_page_token (the next page may be empty).
//
// Thread-compatible: on the thread that owns the CardContext.
#ifndef DESFIRED_CORE_CARDOPS_ISO_ACCESS_H_
#define DESFIRED_CORE_CARDOPS_ISO_ACCESS_H_

#include "absl/status/statusor.h"
#include "core/cardops/context.h"
#include "core/cardops/data.h"
#include "core/cardops/records.h"
#include "core/util/bytes.h"

namespace desfired::cardops {

absl::StatusOr<Bytes> IsoReadData(CardContext& ctx, const ReadDataRequest& request);
absl::StatusOr<WriteResult> IsoWriteData(CardContext& ctx, const WriteDataRequest& request);
absl::StatusOr<RecordPage> IsoReadRecords(CardContext& ctx, const ReadRecordsRequest& request);
absl::StatusOr<WriteResult> IsoWriteRecord(CardContext& ctx, const WriteRecordRequest& request);

}  // namespace desfired::cardops

#endif  // DESFIRED_CORE_CARDOPS_ISO_ACCESS_H_
