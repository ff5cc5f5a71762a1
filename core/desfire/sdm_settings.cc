#include "core/desfire/sdm_settings.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/apdu/error_metadata.h"
#include "core/apdu/status_payload.h"

namespace desfired::desfire {
namespace {

constexpr uint8_t kOptUid = 0x80;
constexpr uint8_t kOptReadCtr = 0x40;
constexpr uint8_t kOptReadCtrLimit = 0x20;
constexpr uint8_t kOptEncFileData = 0x10;
constexpr uint8_t kOptAscii = 0x01;
constexpr uint8_t kOptKnown =
    kOptUid | kOptReadCtr | kOptReadCtrLimit | kOptEncFileData | kOptAscii;
constexpr uint8_t kMaxKeyNo = 0x0D;
constexpr uint32_t kMax24 = 0xFFFFFF;
constexpr uint32_t kEncBlockChars = 32;  // one 16-byte block as ASCII hex

bool IsKey(uint8_t right) { return right <= kMaxKeyNo; }

// Field names are those of desfired.v1.SdmSettings.
absl::Status Bad(const SdmLayout& layout, absl::string_view field, absl::string_view why) {
  const std::string path = absl::StrCat(layout.field_prefix, field);
  return apdu::InvalidFieldError(path, absl::StrCat(path, ": ", why));
}

// Which 3-byte fields a setting carries, in wire order.
struct Fields {
  bool uid = false, ctr = false, picc = false, mac = false, enc = false, limit = false;
};

Fields FieldsOf(uint8_t options, uint8_t meta_read, uint8_t file_read) {
  Fields f;
  f.uid = (options & kOptUid) && meta_read == kSdmPlain;
  f.ctr = (options & kOptReadCtr) && meta_read == kSdmPlain;
  f.picc = IsKey(meta_read);
  f.mac = IsKey(file_read);
  f.enc = f.mac && (options & kOptEncFileData);
  f.limit = (options & kOptReadCtrLimit) != 0;
  return f;
}

struct Region {
  const char* field;
  uint32_t offset;
  uint32_t length;
};

void Put24(Bytes& out, uint32_t v) {
  uint8_t b[3];
  StoreLe24(v, b);
  out.insert(out.end(), b, b + 3);
}

}  // namespace

uint32_t SdmPiccDataChars(bool lrp) { return lrp ? 48 : 32; }

absl::StatusOr<Bytes> EncodeSdmSettings(const SdmSettings& s, const SdmLayout& layout) {
  if (!IsKey(s.meta_read) && s.meta_read != kSdmPlain && s.meta_read != kSdmNone) {
    return Bad(layout, "meta_read", "must be a key number 0..13, 14 (plain) or 15 (none)");
  }
  if (!IsKey(s.file_read) && s.file_read != kSdmNone) {
    return Bad(layout, "file_read", "must be a key number 0..13 or 15 (none)");
  }
  if (s.ctr_ret > 0x0F) return Bad(layout, "counter_retrieval", "must be 0..15");
  const bool mirrors = s.uid_mirror || s.read_ctr_mirror;
  if (mirrors && s.meta_read == kSdmNone) {
    return Bad(layout, "meta_read", "the UID or counter mirror needs meta_read 0..14");
  }
  if (!mirrors && s.meta_read != kSdmNone) {
    return Bad(layout, "meta_read",
               absl::StrCat("is ", s.meta_read,
                            " but neither the UID nor the counter is mirrored (15: no mirror)"));
  }
  if (s.enc_file_data) {
    if (!IsKey(s.file_read))
      return Bad(layout, "file_read", "encrypted file data needs a file_read key");
    if (!s.uid_mirror || !s.read_ctr_mirror) {
      return Bad(layout, "encrypted_file_data",
                 "encrypted file data needs both the UID and counter mirrors");
    }
    if (s.enc_length == 0 || s.enc_length % kEncBlockChars != 0) {
      return Bad(layout, "encrypted_data_length", "must be a positive multiple of 32 characters");
    }
  }
  const uint8_t options =
      static_cast<uint8_t>((s.uid_mirror ? kOptUid : 0) | (s.read_ctr_mirror ? kOptReadCtr : 0) |
                           (s.read_ctr_limit.has_value() ? kOptReadCtrLimit : 0) |
                           (s.enc_file_data ? kOptEncFileData : 0) | kOptAscii);
  const Fields f = FieldsOf(options, s.meta_read, s.file_read);
  // A field the settings do not use must stay 0 (it would not reach the card).
  const struct {
    const char* name;
    uint32_t value;
    bool used;
  } fields[] = {{"uid_offset", s.uid_offset, f.uid},
                {"read_counter_offset", s.read_ctr_offset, f.ctr},
                {"picc_data_offset", s.picc_data_offset, f.picc},
                {"mac_input_offset", s.mac_input_offset, f.mac},
                {"encrypted_data_offset", s.enc_offset, f.enc},
                {"encrypted_data_length", s.enc_length, f.enc},
                {"mac_offset", s.mac_offset, f.mac},
                {"read_counter_limit", s.read_ctr_limit.value_or(0), f.limit}};
  for (const auto& field : fields) {
    if (!field.used && field.value != 0) {
      return Bad(layout, field.name, "is set but the other settings do not use it");
    }
    if (field.value > kMax24) return Bad(layout, field.name, "does not fit in 24 bits");
  }
  std::vector<Region> regions;
  if (f.uid) regions.push_back({"uid_offset", s.uid_offset, kSdmUidChars});
  if (f.ctr) regions.push_back({"read_counter_offset", s.read_ctr_offset, kSdmCtrChars});
  if (f.picc) {
    regions.push_back({"picc_data_offset", s.picc_data_offset, SdmPiccDataChars(layout.lrp)});
  }
  if (f.enc) regions.push_back({"encrypted_data_offset", s.enc_offset, s.enc_length});
  if (f.mac) {
    regions.push_back({"mac_offset", s.mac_offset, kSdmMacChars});
    if (s.mac_input_offset > s.mac_offset) {
      return Bad(layout, "mac_input_offset", "must not lie after mac_offset");
    }
    if (f.enc && (s.enc_offset < s.mac_input_offset ||
                  uint64_t{s.enc_offset} + s.enc_length > s.mac_offset)) {
      return Bad(layout, "encrypted_data_offset",
                 "the encrypted data must lie between mac_input_offset and "
                 "mac_offset");
    }
  }
  for (size_t i = 0; i < regions.size(); ++i) {
    const Region& a = regions[i];
    if (layout.file_size > 0 && uint64_t{a.offset} + a.length > layout.file_size) {
      return Bad(layout, a.field,
                 absl::StrFormat("the mirror (%d characters at %d) ends beyond the "
                                 "%d-byte file",
                                 a.length, a.offset, layout.file_size));
    }
    for (size_t j = 0; j < i; ++j) {
      const Region& b = regions[j];
      if (a.offset < b.offset + b.length && b.offset < a.offset + a.length) {
        return Bad(layout, a.field, absl::StrFormat("the mirror overlaps the one at %s", b.field));
      }
    }
  }
  Bytes out = {options, static_cast<uint8_t>(0xF0 | s.ctr_ret),
               static_cast<uint8_t>(s.meta_read << 4 | s.file_read)};
  if (f.uid) Put24(out, s.uid_offset);
  if (f.ctr) Put24(out, s.read_ctr_offset);
  if (f.picc) Put24(out, s.picc_data_offset);
  if (f.mac) Put24(out, s.mac_input_offset);
  if (f.enc) {
    Put24(out, s.enc_offset);
    Put24(out, s.enc_length);
  }
  if (f.mac) Put24(out, s.mac_offset);
  if (f.limit) Put24(out, *s.read_ctr_limit);
  return out;
}

absl::StatusOr<SdmSettings> DecodeSdmSettings(ByteSpan data) {
  if (data.size() < 3) return apdu::ProtocolError("SDM settings: fewer than 3 bytes");
  const uint8_t options = data[0];
  if ((options & ~kOptKnown) != 0 || (options & kOptAscii) == 0) {
    return apdu::ProtocolError(absl::StrFormat("SDM settings: unknown options %02X", options));
  }
  SdmSettings s;
  s.uid_mirror = (options & kOptUid) != 0;
  s.read_ctr_mirror = (options & kOptReadCtr) != 0;
  s.enc_file_data = (options & kOptEncFileData) != 0;
  s.ctr_ret = data[1] & 0x0F;
  s.meta_read = data[2] >> 4;
  s.file_read = data[2] & 0x0F;
  const Fields f = FieldsOf(options, s.meta_read, s.file_read);
  uint32_t* order[] = {
      f.uid ? &s.uid_offset : nullptr,        f.ctr ? &s.read_ctr_offset : nullptr,
      f.picc ? &s.picc_data_offset : nullptr, f.mac ? &s.mac_input_offset : nullptr,
      f.enc ? &s.enc_offset : nullptr,        f.enc ? &s.enc_length : nullptr,
      f.mac ? &s.mac_offset : nullptr};
  size_t p = 3;
  for (uint32_t* field : order) {
    if (field == nullptr) continue;
    if (p + 3 > data.size()) return apdu::ProtocolError("SDM settings: an offset is missing");
    *field = LoadLe24(data.data() + p);
    p += 3;
  }
  if (f.limit) {
    if (p + 3 > data.size()) return apdu::ProtocolError("SDM settings: the limit is missing");
    s.read_ctr_limit = LoadLe24(data.data() + p);
    p += 3;
  }
  if (p != data.size()) return apdu::ProtocolError("SDM settings: bytes left over");
  return s;
}

}  // namespace desfired::desfire
