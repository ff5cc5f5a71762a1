// Card: the PICC and application commands (authentication, versions, applications,
// configuration, key settings and keys). The front, the frames and the dispatcher are in
// card.cc.
#include "core/crypto/random.h"
#include "sim/card/card.h"
#include "sim/card/card_internal.h"

namespace desfired::sim {
namespace {

using crypto::KeyType;

uint8_t CryptoBits(KeyType t) {
  switch (t) {
    case KeyType::kAes128:
      return kKs2CryptoAes;
    case KeyType::k3Tdea:
      return kKs2Crypto3k3des;
    default:
      return kKs2CryptoDes;
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------
// PICC and application commands.

Card::Result Card::Authenticate(Ins ins, ByteSpan data) {
  if (data.empty()) return Error(Sw::kLengthError);
  const uint8_t key_no = data[0];
  AbortTransaction();
  if (ins == Ins::kAuthenticateEv2NonFirst) {
    if (channel_.scheme() != AuthScheme::kEv2 && channel_.scheme() != AuthScheme::kLrp) {
      return Error(Sw::kAuthenticationError);
    }
  } else {
    channel_.Reset();
  }
  const Key* key = FindKey(key_no);
  if (!key) return Error(Sw::kNoSuchKey);
  Result r = Raw(Sw::kAdditionalFrame);
  const Sw sw = auth_.Begin(ins, *key, key_no, data.subspan(1), random_, r.data);
  if (sw != Sw::kAdditionalFrame) return Error(sw);
  return r;
}

Card::Result Card::GetVersion(Ins ins, ByteSpan data) {
  Bytes body;
  if (Sw sw = UnwrapManagement(ins, data, body); sw != Sw::kOk) return Error(sw);
  if (!body.empty()) return Error(Sw::kLengthError);
  const VersionInfo& v = state_.version;
  Result r;
  r.data = v.hardware;
  r.data.insert(r.data.end(), v.software.begin(), v.software.end());
  if (state_.random_uid) {
    r.data.insert(r.data.end(), kUidLength, 0);
  } else {
    r.data.insert(r.data.end(), state_.uid.begin(), state_.uid.end());
  }
  r.data.insert(r.data.end(), v.batch.begin(), v.batch.end());
  r.data.push_back(v.week);
  r.data.push_back(v.year);
  r.frames = {v.hardware.size(), v.software.size(),
              r.data.size() - v.hardware.size() - v.software.size()};
  return r;
}

Card::Result Card::SelectApplication(ByteSpan data) {
  if (data.size() != kAidLength) {
    Select(selected_);  // a failed select still ends the session
    return Error(Sw::kLengthError);
  }
  const uint32_t aid = LoadLe24(data.data());
  if (aid == 0) {
    Select(std::nullopt);
    return Raw(Sw::kOk);
  }
  if (!state_.FindApplication(aid)) {
    Select(selected_);
    return Error(Sw::kApplicationNotFound);
  }
  Select(aid);
  return Raw(Sw::kOk);
}

Card::Result Card::GetApplicationIds(Ins ins, ByteSpan data) {
  if (Sw sw = CheckPiccListing(ins, data); sw != Sw::kOk) return Error(sw);
  Result r;
  for (const Application& app : state_.applications) AppendLe24(app.aid, r.data);
  return r;
}

Card::Result Card::GetDfNames(Ins ins, ByteSpan data) {
  if (Sw sw = CheckPiccListing(ins, data); sw != Sw::kOk) return Error(sw);
  Result r;
  for (const Application& app : state_.applications) {
    if (app.df_name.empty()) continue;
    const size_t before = r.data.size();
    AppendLe24(app.aid, r.data);
    const uint16_t fid = app.iso_fid.value_or(0);
    r.data.push_back(static_cast<uint8_t>(fid));
    r.data.push_back(static_cast<uint8_t>(fid >> 8));
    r.data.insert(r.data.end(), app.df_name.begin(), app.df_name.end());
    r.frames.push_back(r.data.size() - before);  // one application per frame
  }
  return r;
}

Card::Result Card::CreateApplication(Ins ins, ByteSpan data) {
  Bytes body;
  if (Sw sw = UnwrapManagement(ins, data, body); sw != Sw::kOk) return Error(sw);
  if (body.size() < 5) return Error(Sw::kLengthError);
  if (selected_) return Error(Sw::kPermissionDenied);
  if (Sw sw = CheckCreateAccess(); sw != Sw::kOk) return Error(sw);
  Application app;
  app.aid = LoadLe24(body.data());
  app.key_settings = body[3];
  const uint8_t ks2 = body[4];
  app.iso_file_ids = (ks2 & kKs2IsoFileIds) != 0;
  if (body.size() > 5) {
    if (!app.iso_file_ids || body.size() < 7 || body.size() > 7 + kMaxDfNameLength) {
      return Error(Sw::kLengthError);
    }
    app.iso_fid = static_cast<uint16_t>(LoadLe16(body.data() + 5));
    app.df_name.assign(body.begin() + 7, body.end());
  }
  const size_t key_count = ks2 & kKs2KeyCountMask;
  if (app.aid == 0 || key_count == 0 || key_count > kMaxKeysPerApplication) {
    return Error(Sw::kParameterError);
  }
  switch (ks2 & kKs2CryptoMask) {
    case kKs2CryptoDes:
      app.key_family = KeyType::kDes;
      break;
    case kKs2Crypto3k3des:
      app.key_family = KeyType::k3Tdea;
      break;
    case kKs2CryptoAes:
      app.key_family = KeyType::kAes128;
      break;
    default:
      return Error(Sw::kParameterError);
  }
  // Every key starts as the default key (SetConfiguration option 1; 00.. version 0 unset).
  const Key key = DefaultKey(app.key_family);
  app.keys.assign(key_count, key);
  for (const Application& other : state_.applications) {
    if (other.aid == app.aid) return Error(Sw::kDuplicateError);
    if (!app.df_name.empty() && other.df_name == app.df_name) return Error(Sw::kDuplicateError);
  }
  if (state_.applications.size() >= kMaxApplications) return Error(Sw::kCountError);
  if (state_.FreeMemory() < kApplicationOverhead) return Error(Sw::kOutOfEeprom);
  state_.applications.push_back(std::move(app));
  return Result{};
}

Card::Result Card::DeleteApplication(Ins ins, ByteSpan data) {
  Bytes body;
  if (Sw sw = UnwrapManagement(ins, data, body); sw != Sw::kOk) return Error(sw);
  if (body.size() != kAidLength) return Error(Sw::kLengthError);
  const uint32_t aid = LoadLe24(body.data());
  if (!state_.FindApplication(aid)) return Error(Sw::kApplicationNotFound);
  const bool picc_master = !selected_ && MasterKeyAuthenticated();
  const bool app_master = selected_ == aid && MasterKeyAuthenticated();
  if (!picc_master && !app_master) {
    return Error(channel_.authenticated() ? Sw::kPermissionDenied : Sw::kAuthenticationError);
  }
  Result r;
  if (app_master) {
    // The application's own session ends with it; the answer is not MACed.
    Select(std::nullopt);
    r.raw = true;
  }
  std::erase_if(state_.applications, [aid](const Application& a) { return a.aid == aid; });
  return r;
}

Card::Result Card::FormatPicc(Ins ins, ByteSpan data) {
  Bytes body;
  if (Sw sw = UnwrapManagement(ins, data, body); sw != Sw::kOk) return Error(sw);
  if (!body.empty()) return Error(Sw::kLengthError);
  if (selected_) return Error(Sw::kPermissionDenied);
  if (!MasterKeyAuthenticated()) return Error(Sw::kAuthenticationError);
  if (state_.configuration & kConfigFormatDisabled) return Error(Sw::kPermissionDenied);
  state_.applications.clear();
  return Result{};
}

Card::Result Card::FreeMemory(Ins ins, ByteSpan data) {
  Bytes body;
  if (Sw sw = UnwrapManagement(ins, data, body); sw != Sw::kOk) return Error(sw);
  if (!body.empty()) return Error(Sw::kLengthError);
  Result r;
  AppendLe24(state_.FreeMemory(), r.data);
  return r;
}

Card::Result Card::GetCardUid(Ins ins, ByteSpan data) {
  Bytes body;
  if (Sw sw = UnwrapManagement(ins, data, body); sw != Sw::kOk) return Error(sw);
  if (!body.empty()) return Error(Sw::kLengthError);
  if (!channel_.authenticated()) return Error(Sw::kAuthenticationError);
  return Reply(state_.uid, RespProtection::kFull);
}

Card::Result Card::SetConfiguration(Ins ins, ByteSpan data) {
  if (data.empty()) return Error(Sw::kLengthError);
  if (selected_) return Error(Sw::kPermissionDenied);
  if (!MasterKeyAuthenticated()) return Error(Sw::kAuthenticationError);
  if (!(state_.picc_key_settings & kKsConfigurationChangeable)) {
    return Error(Sw::kPermissionDenied);
  }
  const uint8_t option = data[0];
  std::optional<size_t> plain_len;
  CmdProtection prot = CmdProtection::kFull;
  switch (option) {
    case kConfigOptionPicc:
      plain_len = 1;
      break;
    case kConfigOptionDefaultKey:
      plain_len = kDefaultKeyDataLength + 1;
      break;
    case kConfigOptionAts:
      prot = CmdProtection::kFullPad80;  // the length is the ATS's own TL
      break;
    default:
      return Error(Sw::kParameterError);
  }
  Bytes body(data.begin() + 1, data.end());
  if (Sw sw = channel_.UnwrapCommand(static_cast<uint8_t>(ins), prot, data.subspan(0, 1), body,
                                     plain_len);
      sw != Sw::kOk) {
    return Error(sw);
  }
  switch (option) {
    case kConfigOptionPicc:
      if (body.size() != 1) return Error(Sw::kLengthError);
      if (body[0] & ~kConfigPiccMask) return Error(Sw::kParameterError);
      // Format disable and random UID are one-way: a cleared bit leaves a set one set.
      state_.configuration = static_cast<uint8_t>(state_.configuration | body[0]);
      state_.random_uid = (state_.configuration & kConfigRandomUid) != 0;
      break;
    case kConfigOptionDefaultKey:
      if (body.size() != kDefaultKeyDataLength + 1) return Error(Sw::kLengthError);
      state_.default_key.assign(body.begin(), body.begin() + kDefaultKeyDataLength);
      state_.default_key_version = body[kDefaultKeyDataLength];
      break;
    default:
      if (body.empty() || body[0] != body.size()) return Error(Sw::kLengthError);
      if (!IsValidAts(body)) return Error(Sw::kParameterError);
      state_.ats = std::move(body);  // sent from the next activation on
      break;
  }
  return Result{};
}

Card::Result Card::GetKeySettings(Ins ins, ByteSpan data) {
  Bytes body;
  if (Sw sw = UnwrapManagement(ins, data, body); sw != Sw::kOk) return Error(sw);
  if (!body.empty()) return Error(Sw::kLengthError);
  if (Sw sw = CheckDirectoryAccess(); sw != Sw::kOk) return Error(sw);
  Result r;
  if (Application* app = CurrentApp()) {
    r.data = {app->key_settings,
              static_cast<uint8_t>(CryptoBits(app->key_family) | app->keys.size())};
  } else {
    r.data = {state_.picc_key_settings, static_cast<uint8_t>(CryptoBits(state_.picc_key.type) | 1)};
  }
  return r;
}

Card::Result Card::ChangeKeySettings(Ins ins, ByteSpan data) {
  if (!MasterKeyAuthenticated()) return Error(Sw::kAuthenticationError);
  Bytes body(data.begin(), data.end());
  if (Sw sw = channel_.UnwrapCommand(static_cast<uint8_t>(ins), CmdProtection::kFull, {}, body, 1);
      sw != Sw::kOk) {
    return Error(sw);
  }
  if (body.size() != 1) return Error(Sw::kLengthError);
  Application* app = CurrentApp();
  uint8_t& ks = app ? app->key_settings : state_.picc_key_settings;
  if (!(ks & kKsConfigurationChangeable)) return Error(Sw::kPermissionDenied);
  ks = body[0];
  return Result{};
}

Card::Result Card::GetKeyVersion(Ins ins, ByteSpan data) {
  Bytes body;
  if (Sw sw = UnwrapManagement(ins, data, body); sw != Sw::kOk) return Error(sw);
  if (body.size() != 1) return Error(Sw::kLengthError);
  const Key* key = FindKey(body[0] & (CurrentApp() ? kAppKeyNoMask : 0xFF));
  if (!key) return Error(Sw::kNoSuchKey);
  return Reply(Bytes{key->version});
}

Card::Result Card::ChangeKey(Ins ins, ByteSpan data) {
  if (data.empty()) return Error(Sw::kLengthError);
  if (!channel_.authenticated()) return Error(Sw::kAuthenticationError);
  Application* app = CurrentApp();
  const uint8_t key_byte = data[0];
  uint8_t key_no;
  KeyType new_type;
  if (app) {
    key_no = key_byte & kAppKeyNoMask;
    new_type = app->key_family;
    if (key_no >= app->keys.size()) return Error(Sw::kNoSuchKey);
  } else {
    key_no = key_byte & static_cast<uint8_t>(~kPiccKeyNoTypeMask);
    if (key_no != 0) return Error(Sw::kNoSuchKey);
    switch (key_byte & kPiccKeyNoTypeMask) {
      case kKs2CryptoAes:
        new_type = KeyType::kAes128;
        break;
      case kKs2Crypto3k3des:
        new_type = KeyType::k3Tdea;
        break;
      case kKs2CryptoDes:
        new_type = KeyType::k2Tdea;
        break;
      default:
        return Error(Sw::kParameterError);
    }
  }
  // Who may change this key.
  const uint8_t ks = app ? app->key_settings : state_.picc_key_settings;
  const uint8_t auth_key = channel_.key_no();
  if (key_no == 0) {
    if (auth_key != 0 || !(ks & kKsAllowChangeMasterKey)) return Error(Sw::kPermissionDenied);
  } else {
    const uint8_t ck = ks >> kKsChangeKeyShift;
    if (ck == kKsChangeKeyFrozen) return Error(Sw::kPermissionDenied);
    const uint8_t needed = ck == kKsChangeKeySameKey ? key_no : ck;
    if (auth_key != needed) return Error(Sw::kPermissionDenied);
  }
  const bool aes = new_type == KeyType::kAes128;
  const size_t key_len = new_type == KeyType::k3Tdea ? 24 : 16;
  const size_t plain_len = key_len + (aes ? 1 : 0);
  const bool same_key = key_no == auth_key;
  const Bytes crc_probe = channel_.CrcOfKey({});
  const size_t trailer = same_key ? 0 : crc_probe.size();
  Bytes body(data.begin() + 1, data.end());
  if (Sw sw = channel_.UnwrapCommand(static_cast<uint8_t>(ins), CmdProtection::kFull,
                                     data.subspan(0, 1), body, plain_len, trailer);
      sw != Sw::kOk) {
    return Error(sw);
  }
  if (body.size() != plain_len + trailer) return Error(Sw::kLengthError);
  Bytes new_key(body.begin(), body.begin() + static_cast<ptrdiff_t>(key_len));
  Key& slot = app ? app->keys[key_no] : state_.picc_key;
  if (!same_key) {
    Bytes old = slot.value;
    if (old.size() == 8 && key_len == 16) old.insert(old.end(), old.begin(), old.end());
    if (old.size() != key_len) return Error(Sw::kIntegrityError);
    for (size_t i = 0; i < key_len; ++i) new_key[i] ^= old[i];
    const Bytes crc = channel_.CrcOfKey(new_key);
    if (!crypto::ConstantTimeEquals(crc, ByteSpan(body.data() + plain_len, trailer))) {
      return Error(Sw::kIntegrityError);
    }
  }
  Key updated;
  if (aes) {
    updated = Key{KeyType::kAes128, new_key, body[key_len]};
  } else if (new_type == KeyType::k3Tdea) {
    updated = Key{KeyType::k3Tdea, new_key, DesKeyVersion(new_key)};
  } else {
    Bytes v = NormalizeDesKey(new_key);
    const KeyType t = v.size() == 8 ? KeyType::kDes : KeyType::k2Tdea;
    updated = Key{t, std::move(v), DesKeyVersion(new_key)};
  }
  slot = std::move(updated);
  if (!app) state_.picc_key = slot;
  if (same_key) {
    // The key of the session changed: the session ends, the answer is plain.
    channel_.Reset();
    return Raw(Sw::kOk);
  }
  return Result{};
}
}  // namespace desfired::sim
