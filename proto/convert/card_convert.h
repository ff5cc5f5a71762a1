// Conversion between core DESFire types (core/desfire/card_types.h, core/desfire/session.h)
// and the desfired.v1 card messages: communication modes, authentication schemes, file types,
// access rights, file settings, key settings, key families and the card version. Used by the
// server's card operations (server/rpc/card_ops.h).
//
//   desfire::FileSettings settings = ...;
//   FileSettingsToProto(settings, response.mutable_settings());
//   std::optional<desfire::CommMode> mode = ModeFromProto(request.communication_mode());
//
// The FromProto functions take a validated request (server/rpc/card_validation.h): a value the
// enum does not name is read as its UNSPECIFIED counterpart.
//
// Thread-safe: pure functions.
#ifndef DESFIRED_PROTO_CONVERT_CARD_CONVERT_H_
#define DESFIRED_PROTO_CONVERT_CARD_CONVERT_H_

#include <cstdint>
#include <optional>

#include "core/desfire/card_types.h"
#include "core/desfire/originality.h"
#include "core/desfire/session.h"
#include "desfired/v1/card.pb.h"

namespace desfired {

// UNSPECIFIED: nullopt (the file's own mode); MAC and FULL as named; anything else: plain.
std::optional<desfire::CommMode> ModeFromProto(v1::CommunicationMode mode);
v1::CommunicationMode ModeToProto(desfire::CommMode mode);

// UNSPECIFIED (and unknown values): kNone, which the card operations read as "by the key type".
desfire::AuthScheme AuthSchemeFromProto(v1::AuthScheme scheme);

v1::FileType FileTypeToProto(desfire::FileType type);
// nullopt for UNSPECIFIED and unknown values.
std::optional<desfire::FileType> FileTypeFromProto(v1::FileType type);

void AccessRightsToProto(const desfire::AccessRights& in, v1::AccessRights* out);
desfire::AccessRights AccessRightsFromProto(const v1::AccessRights& in);

// Fills the type settings that go with in.type (data, value or record; none for a transaction
// MAC file).
void FileSettingsToProto(const desfire::FileSettings& in, v1::FileSettings* out);
// The settings of a file to create: type, mode (plain when unspecified), access rights and
// every type field, read whichever type settings `in` holds (an unset one reads as zeros).
// nullopt when `in` names no file type (FileTypeFromProto).
std::optional<desfire::FileSettings> FileSettingsFromProto(const v1::FileSettings& in);
// SDM settings both ways (core/desfire/sdm_settings.h); FromProto does not check them (the
// encoder does), access values beyond a byte read as out of range.
void SdmSettingsToProto(const desfire::SdmSettings& in, v1::SdmSettings* out);
desfire::SdmSettings SdmSettingsFromProto(const v1::SdmSettings& in);

// The key settings byte (desfire::kKeySetting* bits; high nibble: change_key_access).
void KeySettingsToProto(uint8_t settings, v1::KeySettings* out);
uint8_t KeySettingsFromProto(const v1::KeySettings& in);

v1::KeyFamily KeyFamilyToProto(desfire::KeyFamily family);
// UNSPECIFIED (and unknown values): DES.
desfire::KeyFamily KeyFamilyFromProto(v1::KeyFamily family);

v1::CardGeneration CardGenerationToProto(desfire::CardGeneration generation);
v1::CardProduct CardProductToProto(desfire::CardProduct product);
v1::OriginalityVerdict OriginalityVerdictToProto(desfire::OriginalityVerdict verdict);

// The production week and year decoded from BCD (the year as 20yy), vendor "NXP" for vendor id
// 0x04.
void CardVersionToProto(const desfire::CardVersion& in, v1::CardVersion* out);

}  // namespace desfired

#endif  // DESFIRED_PROTO_CONVERT_CARD_CONVERT_H_
