// IsoRef: a data or record operation asks for the ISO/IEC 7816-4 commands instead of the native
// ones (iso_access.h runs them; docs/ev3.md "ISO 7816-4 file access").
//
// Thread-compatible: a value type.
#ifndef DESFIRED_CORE_CARDOPS_ISO_REF_H_
#define DESFIRED_CORE_CARDOPS_ISO_REF_H_

#include <cstdint>
#include <optional>

#include "core/util/bytes.h"

namespace desfired::cardops {

struct IsoRef {
  bool enabled = false;  // READ/UPDATE BINARY, READ RECORD, APPEND RECORD
  // The application is selected by ISO SELECT: by this DF name (P1 04), else by this DF id
  // (P1 00), else natively by the request's aid.
  Bytes df_name = {};
  std::optional<uint16_t> df_file_id = {};
  // The file is selected by its ISO file id (P1 02) and read as the current EF (offsets up to
  // 32767); without it the file is named by its short file id, the file number (offsets up to
  // 255).
  std::optional<uint16_t> ef_file_id = {};
};

}  // namespace desfired::cardops

#endif  // DESFIRED_CORE_CARDOPS_ISO_REF_H_
