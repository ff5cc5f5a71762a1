#include "sim/image/image.h"

#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "core/util/enum_table.h"
#include "core/util/status_macros.h"
#include "sim/card/protocol.h"

namespace desfired::sim {
namespace {

using crypto::KeyType;

constexpr EnumRow<FileType, absl::string_view> kFileTypes[] = {
    {FileType::kStandard, "standard"},
    {FileType::kBackup, "backup"},
    {FileType::kValue, "value"},
    {FileType::kLinearRecord, "linear_record"},
    {FileType::kCyclicRecord, "cyclic_record"},
    {FileType::kTransactionMac, "transaction_mac"},
};
constexpr EnumRow<uint8_t, absl::string_view> kComms[] = {
    {kCommPlain, "plain"}, {kCommMac, "mac"}, {kCommFull, "full"}};

absl::Status Bad(const std::string& path, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", what));
}

// Typed member access with the JSON path in errors.
class Obj {
 public:
  Obj(const Json& j, std::string path) : j_(j), path_(std::move(path)) {}
  const std::string& path() const { return path_; }
  std::string Sub(absl::string_view name) const { return absl::StrCat(path_, ".", name); }

  absl::Status CheckObject() const {
    return j_.kind() == Json::Kind::kObject ? absl::OkStatus() : Bad(path_, "expected an object");
  }
  const Json* Get(absl::string_view name) const { return j_.Find(name); }
  // What an absent member `name` reads as: `dflt` when there is one, else a "missing" error.
  template <typename T>
  absl::StatusOr<T> Absent(absl::string_view name, const std::optional<T>& dflt) const {
    if (dflt) return *dflt;
    return Bad(Sub(name), "missing");
  }

  absl::StatusOr<int64_t> Int(absl::string_view name, int64_t lo, int64_t hi,
                              std::optional<int64_t> dflt = std::nullopt) const {
    const Json* v = j_.Find(name);
    if (!v) return Absent(name, dflt);
    if (v->kind() != Json::Kind::kInt) return Bad(Sub(name), "expected an integer");
    if (v->int_value() < lo || v->int_value() > hi) {
      return Bad(Sub(name), absl::StrCat("out of range [", lo, ", ", hi, "]"));
    }
    return v->int_value();
  }
  absl::StatusOr<bool> Bool(absl::string_view name, bool dflt) const {
    const Json* v = j_.Find(name);
    if (!v) return dflt;
    if (v->kind() != Json::Kind::kBool) return Bad(Sub(name), "expected true or false");
    return v->bool_value();
  }
  absl::StatusOr<std::string> String(absl::string_view name,
                                     std::optional<std::string> dflt = std::nullopt) const {
    const Json* v = j_.Find(name);
    if (!v) return Absent(name, dflt);
    if (v->kind() != Json::Kind::kString) return Bad(Sub(name), "expected a string");
    return v->string_value();
  }
  absl::StatusOr<Bytes> Hex(absl::string_view name,
                            std::optional<Bytes> dflt = std::nullopt) const {
    const Json* v = j_.Find(name);
    if (!v) return Absent(name, dflt);
    if (v->kind() != Json::Kind::kString) return Bad(Sub(name), "expected a hex string");
    auto b = HexDecode(v->string_value());
    if (!b.ok()) return Bad(Sub(name), b.status().message());
    return *b;
  }

 private:
  const Json& j_;
  std::string path_;
};

absl::StatusOr<Key> KeyFromJson(const Json& j, const std::string& path,
                                std::optional<KeyType> family) {
  Obj o(j, path);
  DESFIRED_RETURN_IF_ERROR(o.CheckObject());
  DESFIRED_ASSIGN_OR_RETURN(std::string type_name, o.String("type", std::string()));
  Key key;
  DESFIRED_ASSIGN_OR_RETURN(key.value, o.Hex("value"));
  if (type_name.empty()) {
    if (!family) return Bad(o.Sub("type"), "missing");
    key.type = *family;
    if (key.type == KeyType::kDes && key.value.size() == 16) key.type = KeyType::k2Tdea;
  } else {
    auto t = crypto::ParseKeyType(type_name);
    if (!t) return Bad(o.Sub("type"), "unknown key type");
    key.type = *t;
  }
  if (key.value.size() != crypto::KeyLength(key.type)) {
    return Bad(o.Sub("value"), absl::StrCat("expected ", crypto::KeyLength(key.type), " bytes"));
  }
  const bool des_family = key.type != KeyType::kAes128;
  if (family) {
    const bool app_des = *family == KeyType::kDes || *family == KeyType::k2Tdea;
    const bool key_des = key.type == KeyType::kDes || key.type == KeyType::k2Tdea;
    if (app_des != key_des && *family != key.type) {
      return Bad(o.Sub("type"), "does not match the application's key_type");
    }
  }
  DESFIRED_ASSIGN_OR_RETURN(int64_t version,
                            o.Int("version", 0, 255, des_family ? DesKeyVersion(key.value) : 0));
  key.version = static_cast<uint8_t>(version);
  return key;
}

Json KeyToJson(const Key& key) {
  Json j = Json::Object();
  j.Set("type", Json::String(std::string(crypto::KeyTypeName(key.type))));
  j.Set("value", Json::String(HexEncode(key.value)));
  j.Set("version", Json::Int(key.version));
  return j;
}

absl::StatusOr<File> FileFromJson(const Json& j, const std::string& path, bool iso_app) {
  Obj o(j, path);
  DESFIRED_RETURN_IF_ERROR(o.CheckObject());
  File f;
  DESFIRED_ASSIGN_OR_RETURN(int64_t id, o.Int("id", 0, kMaxFileId));
  f.id = static_cast<uint8_t>(id);
  DESFIRED_ASSIGN_OR_RETURN(std::string type, o.String("type"));
  const std::optional<FileType> file_type = KeyOf(kFileTypes, type);
  if (!file_type)
    return Bad(o.Sub("type"),
               "expected standard, backup, value, linear_record, cyclic_record or "
               "transaction_mac");
  f.type = *file_type;
  DESFIRED_ASSIGN_OR_RETURN(std::string comm, o.String("comm", std::string("plain")));
  const std::optional<uint8_t> comm_byte = KeyOf(kComms, comm);
  if (!comm_byte) return Bad(o.Sub("comm"), "expected plain, mac or full");
  f.comm = *comm_byte;
  if (o.Get("iso_fid")) {
    if (!iso_app) return Bad(o.Sub("iso_fid"), "the application has no ISO file ids");
    DESFIRED_ASSIGN_OR_RETURN(int64_t fid, o.Int("iso_fid", 0, 0xFFFF));
    f.iso_fid = static_cast<uint16_t>(fid);
  }
  const Json* access = o.Get("access");
  if (!access) return Bad(o.Sub("access"), "missing");
  Obj a(*access, o.Sub("access"));
  DESFIRED_RETURN_IF_ERROR(a.CheckObject());
  DESFIRED_ASSIGN_OR_RETURN(int64_t r, a.Int("read", 0, 15));
  DESFIRED_ASSIGN_OR_RETURN(int64_t w, a.Int("write", 0, 15));
  DESFIRED_ASSIGN_OR_RETURN(int64_t rw, a.Int("read_write", 0, 15));
  DESFIRED_ASSIGN_OR_RETURN(int64_t ch, a.Int("change", 0, 15));
  f.access = AccessRights{static_cast<uint8_t>(r), static_cast<uint8_t>(w),
                          static_cast<uint8_t>(rw), static_cast<uint8_t>(ch)};
  constexpr int64_t kMax24 = 0xFFFFFF;
  constexpr int64_t kI32Min = INT32_MIN, kI32Max = INT32_MAX;
  switch (f.type) {
    case FileType::kStandard:
    case FileType::kBackup: {
      DESFIRED_ASSIGN_OR_RETURN(f.data, o.Hex("data", Bytes{}));
      DESFIRED_ASSIGN_OR_RETURN(int64_t size,
                                o.Int("size", 1, kMax24, static_cast<int64_t>(f.data.size())));
      if (size == 0) return Bad(o.Sub("size"), "a data file needs a size or data");
      if (f.data.size() > static_cast<size_t>(size)) return Bad(o.Sub("data"), "longer than size");
      f.data.resize(static_cast<size_t>(size), 0);
      break;
    }
    case FileType::kValue: {
      DESFIRED_ASSIGN_OR_RETURN(int64_t lo, o.Int("lower_limit", kI32Min, kI32Max));
      DESFIRED_ASSIGN_OR_RETURN(int64_t hi, o.Int("upper_limit", kI32Min, kI32Max));
      DESFIRED_ASSIGN_OR_RETURN(int64_t v, o.Int("value", lo, hi));
      DESFIRED_ASSIGN_OR_RETURN(f.limited_credit_enabled, o.Bool("limited_credit_enabled", false));
      DESFIRED_ASSIGN_OR_RETURN(int64_t lc, o.Int("limited_credit_value", 0, kI32Max, 0));
      f.lower_limit = static_cast<int32_t>(lo);
      f.upper_limit = static_cast<int32_t>(hi);
      f.value = static_cast<int32_t>(v);
      f.limited_credit_value = static_cast<int32_t>(lc);
      break;
    }
    case FileType::kLinearRecord:
    case FileType::kCyclicRecord: {
      DESFIRED_ASSIGN_OR_RETURN(int64_t rs, o.Int("record_size", 1, kMax24));
      DESFIRED_ASSIGN_OR_RETURN(
          int64_t mr, o.Int("max_records", f.type == FileType::kCyclicRecord ? 2 : 1, kMax24));
      f.record_size = static_cast<uint32_t>(rs);
      f.max_records = static_cast<uint32_t>(mr);
      const size_t limit = f.type == FileType::kCyclicRecord ? f.max_records - 1 : f.max_records;
      if (const Json* recs = o.Get("records")) {
        if (recs->kind() != Json::Kind::kArray) return Bad(o.Sub("records"), "expected an array");
        if (recs->array().size() > limit)
          return Bad(o.Sub("records"), "more records than the file holds");
        for (size_t i = 0; i < recs->array().size(); ++i) {
          const Json& rec = recs->array()[i];
          const std::string rp = absl::StrCat(o.Sub("records"), "[", i, "]");
          if (rec.kind() != Json::Kind::kString) return Bad(rp, "expected a hex string");
          auto b = HexDecode(rec.string_value());
          if (!b.ok()) return Bad(rp, b.status().message());
          if (b->size() != f.record_size) return Bad(rp, "length differs from record_size");
          f.records.push_back(std::move(*b));
        }
      }
      break;
    }
    case FileType::kTransactionMac: {
      DESFIRED_ASSIGN_OR_RETURN(f.tmac_key, o.Hex("tmac_key"));
      if (f.tmac_key.size() != kTmacKeyLength) return Bad(o.Sub("tmac_key"), "expected 16 bytes");
      DESFIRED_ASSIGN_OR_RETURN(int64_t kv, o.Int("tmac_key_version", 0, 255, 0));
      DESFIRED_ASSIGN_OR_RETURN(int64_t tmc, o.Int("tmc", 0, UINT32_MAX, 0));
      f.tmac_key_version = static_cast<uint8_t>(kv);
      f.tmc = static_cast<uint32_t>(tmc);
      DESFIRED_ASSIGN_OR_RETURN(f.tmv, o.Hex("tmv", Bytes(kTmvLength, 0)));
      if (f.tmv.size() != kTmvLength) return Bad(o.Sub("tmv"), "expected 8 bytes");
      DESFIRED_ASSIGN_OR_RETURN(f.tmri, o.Hex("tmri", Bytes(kReaderIdLength, 0)));
      if (f.tmri.size() != kReaderIdLength) return Bad(o.Sub("tmri"), "expected 16 bytes");
      break;
    }
  }
  return f;
}

Json FileToJson(const File& f) {
  Json j = Json::Object();
  j.Set("id", Json::Int(f.id));
  if (auto name = ValueOf(kFileTypes, f.type)) j.Set("type", Json::String(std::string(*name)));
  if (auto name = ValueOf(kComms, f.comm)) j.Set("comm", Json::String(std::string(*name)));
  if (f.iso_fid) j.Set("iso_fid", Json::Int(*f.iso_fid));
  Json a = Json::Object();
  a.Set("read", Json::Int(f.access.read));
  a.Set("write", Json::Int(f.access.write));
  a.Set("read_write", Json::Int(f.access.read_write));
  a.Set("change", Json::Int(f.access.change));
  j.Set("access", std::move(a));
  switch (f.type) {
    case FileType::kStandard:
    case FileType::kBackup:
      j.Set("size", Json::Int(static_cast<int64_t>(f.data.size())));
      j.Set("data", Json::String(HexEncode(f.data)));
      break;
    case FileType::kValue:
      j.Set("lower_limit", Json::Int(f.lower_limit));
      j.Set("upper_limit", Json::Int(f.upper_limit));
      j.Set("value", Json::Int(f.value));
      j.Set("limited_credit_enabled", Json::Bool(f.limited_credit_enabled));
      j.Set("limited_credit_value", Json::Int(f.limited_credit_value));
      break;
    case FileType::kLinearRecord:
    case FileType::kCyclicRecord: {
      j.Set("record_size", Json::Int(f.record_size));
      j.Set("max_records", Json::Int(f.max_records));
      Json recs = Json::Array();
      for (const Bytes& r : f.records) recs.Push(Json::String(HexEncode(r)));
      j.Set("records", std::move(recs));
      break;
    }
    case FileType::kTransactionMac:
      j.Set("tmac_key", Json::String(HexEncode(f.tmac_key)));
      j.Set("tmac_key_version", Json::Int(f.tmac_key_version));
      j.Set("tmc", Json::Int(f.tmc));
      j.Set("tmv", Json::String(HexEncode(f.tmv)));
      j.Set("tmri", Json::String(HexEncode(f.tmri)));
      break;
  }
  return j;
}

absl::StatusOr<Application> AppFromJson(const Json& j, const std::string& path) {
  Obj o(j, path);
  DESFIRED_RETURN_IF_ERROR(o.CheckObject());
  Application app;
  DESFIRED_ASSIGN_OR_RETURN(Bytes aid, o.Hex("aid"));
  if (aid.size() != 3) return Bad(o.Sub("aid"), "expected 3 bytes (6 hex digits)");
  app.aid = uint32_t{aid[0]} << 16 | uint32_t{aid[1]} << 8 | aid[2];
  if (app.aid == 0) return Bad(o.Sub("aid"), "000000 is the PICC level");
  DESFIRED_ASSIGN_OR_RETURN(int64_t ks, o.Int("key_settings", 0, 255));
  app.key_settings = static_cast<uint8_t>(ks);
  DESFIRED_ASSIGN_OR_RETURN(std::string family, o.String("key_type"));
  auto t = crypto::ParseKeyType(family);
  if (!t) return Bad(o.Sub("key_type"), "unknown key type");
  app.key_family = *t == KeyType::k2Tdea ? KeyType::kDes : *t;
  DESFIRED_ASSIGN_OR_RETURN(app.iso_file_ids, o.Bool("iso_file_ids", false));
  if (o.Get("iso_fid")) {
    DESFIRED_ASSIGN_OR_RETURN(int64_t fid, o.Int("iso_fid", 0, 0xFFFF));
    app.iso_fid = static_cast<uint16_t>(fid);
  }
  DESFIRED_ASSIGN_OR_RETURN(app.df_name, o.Hex("df_name", Bytes{}));
  if (app.df_name.size() > kMaxDfNameLength) return Bad(o.Sub("df_name"), "longer than 16 bytes");
  const Json* keys = o.Get("keys");
  if (!keys || keys->kind() != Json::Kind::kArray || keys->array().empty() ||
      keys->array().size() > kMaxKeysPerApplication) {
    return Bad(o.Sub("keys"), "expected an array of 1 to 14 keys");
  }
  for (size_t i = 0; i < keys->array().size(); ++i) {
    DESFIRED_ASSIGN_OR_RETURN(
        Key k,
        KeyFromJson(keys->array()[i], absl::StrCat(o.Sub("keys"), "[", i, "]"), app.key_family));
    app.keys.push_back(std::move(k));
  }
  if (const Json* files = o.Get("files")) {
    if (files->kind() != Json::Kind::kArray || files->array().size() > kMaxFilesPerApplication) {
      return Bad(o.Sub("files"), "expected an array of at most 32 files");
    }
    for (size_t i = 0; i < files->array().size(); ++i) {
      const std::string fp = absl::StrCat(o.Sub("files"), "[", i, "]");
      DESFIRED_ASSIGN_OR_RETURN(File f, FileFromJson(files->array()[i], fp, app.iso_file_ids));
      if (app.FindFile(f.id)) return Bad(fp, "duplicate file id");
      auto pos = std::lower_bound(app.files.begin(), app.files.end(), f.id,
                                  [](const File& a, uint8_t id) { return a.id < id; });
      app.files.insert(pos, std::move(f));
    }
  }
  return app;
}

Json AppToJson(const Application& app) {
  Json j = Json::Object();
  uint8_t aid[3] = {static_cast<uint8_t>(app.aid >> 16), static_cast<uint8_t>(app.aid >> 8),
                    static_cast<uint8_t>(app.aid)};
  j.Set("aid", Json::String(HexEncode(ByteSpan(aid, 3))));
  j.Set("key_settings", Json::Int(app.key_settings));
  j.Set("key_type", Json::String(std::string(crypto::KeyTypeName(app.key_family))));
  if (app.iso_file_ids) j.Set("iso_file_ids", Json::Bool(true));
  if (app.iso_fid) j.Set("iso_fid", Json::Int(*app.iso_fid));
  if (!app.df_name.empty()) j.Set("df_name", Json::String(HexEncode(app.df_name)));
  Json keys = Json::Array();
  for (const Key& k : app.keys) keys.Push(KeyToJson(k));
  j.Set("keys", std::move(keys));
  Json files = Json::Array();
  for (const File& f : app.files) files.Push(FileToJson(f));
  j.Set("files", std::move(files));
  return j;
}

}  // namespace

absl::StatusOr<CardState> CardStateFromJson(const Json& doc) {
  Obj o(doc, "$");
  DESFIRED_RETURN_IF_ERROR(o.CheckObject());
  DESFIRED_ASSIGN_OR_RETURN(std::string format, o.String("format"));
  if (format != kImageFormat) return Bad(o.Sub("format"), absl::StrCat("expected ", kImageFormat));
  CardState s;
  DESFIRED_ASSIGN_OR_RETURN(s.uid, o.Hex("uid", s.uid));
  if (s.uid.size() != kUidLength) return Bad(o.Sub("uid"), "expected 7 bytes");
  DESFIRED_ASSIGN_OR_RETURN(s.random_uid, o.Bool("random_uid", false));
  DESFIRED_ASSIGN_OR_RETURN(int64_t config, o.Int("configuration", 0, kConfigPiccMask, 0));
  s.configuration = static_cast<uint8_t>(config);
  // random_uid and configuration bit 1 are the same setting; either turns it on.
  if (s.random_uid) s.configuration |= kConfigRandomUid;
  s.random_uid = (s.configuration & kConfigRandomUid) != 0;
  if (const Json* dk = o.Get("default_key")) {
    Obj dko(*dk, o.Sub("default_key"));
    DESFIRED_RETURN_IF_ERROR(dko.CheckObject());
    DESFIRED_ASSIGN_OR_RETURN(s.default_key, dko.Hex("value"));
    if (s.default_key.size() != kDefaultKeyDataLength) {
      return Bad(dko.Sub("value"), "expected 24 bytes");
    }
    DESFIRED_ASSIGN_OR_RETURN(int64_t dkv, dko.Int("version", 0, 255, 0));
    s.default_key_version = static_cast<uint8_t>(dkv);
  }
  DESFIRED_ASSIGN_OR_RETURN(s.ats, o.Hex("ats", s.ats));
  if (!IsValidAts(s.ats)) {
    return Bad(o.Sub("ats"), "expected TL T0 [TA1 TB1 TC1] historical bytes, TL = length <= 20");
  }
  DESFIRED_ASSIGN_OR_RETURN(int64_t capacity, o.Int("capacity", 256, 0xFFFFFF, s.capacity));
  s.capacity = static_cast<uint32_t>(capacity);
  if (const Json* v = o.Get("version")) {
    Obj vo(*v, o.Sub("version"));
    DESFIRED_RETURN_IF_ERROR(vo.CheckObject());
    DESFIRED_ASSIGN_OR_RETURN(s.version.hardware, vo.Hex("hardware", s.version.hardware));
    DESFIRED_ASSIGN_OR_RETURN(s.version.software, vo.Hex("software", s.version.software));
    DESFIRED_ASSIGN_OR_RETURN(s.version.batch, vo.Hex("batch", s.version.batch));
    if (s.version.hardware.size() != 7 || s.version.software.size() != 7 ||
        s.version.batch.size() != 5) {
      return Bad(vo.path(), "hardware and software take 7 bytes, batch 5");
    }
    DESFIRED_ASSIGN_OR_RETURN(int64_t week, vo.Int("week", 0, 255, s.version.week));
    DESFIRED_ASSIGN_OR_RETURN(int64_t year, vo.Int("year", 0, 255, s.version.year));
    s.version.week = static_cast<uint8_t>(week);
    s.version.year = static_cast<uint8_t>(year);
  }
  const Json* picc = o.Get("picc");
  if (!picc) return Bad(o.Sub("picc"), "missing");
  Obj po(*picc, o.Sub("picc"));
  DESFIRED_RETURN_IF_ERROR(po.CheckObject());
  DESFIRED_ASSIGN_OR_RETURN(int64_t pks, po.Int("key_settings", 0, 255));
  s.picc_key_settings = static_cast<uint8_t>(pks);
  const Json* pk = po.Get("key");
  if (!pk) return Bad(po.Sub("key"), "missing");
  DESFIRED_ASSIGN_OR_RETURN(s.picc_key, KeyFromJson(*pk, po.Sub("key"), std::nullopt));
  if (const Json* apps = o.Get("applications")) {
    if (apps->kind() != Json::Kind::kArray || apps->array().size() > kMaxApplications) {
      return Bad(o.Sub("applications"), "expected an array of at most 28 applications");
    }
    for (size_t i = 0; i < apps->array().size(); ++i) {
      const std::string ap = absl::StrCat(o.Sub("applications"), "[", i, "]");
      DESFIRED_ASSIGN_OR_RETURN(Application app, AppFromJson(apps->array()[i], ap));
      if (s.FindApplication(app.aid)) return Bad(ap, "duplicate aid");
      s.applications.push_back(std::move(app));
    }
  }
  if (s.UsedMemory() > s.capacity) return Bad("$", "the applications do not fit in capacity");
  return s;
}

Json CardStateToJson(const CardState& s) {
  Json j = Json::Object();
  j.Set("format", Json::String(std::string(kImageFormat)));
  j.Set("uid", Json::String(HexEncode(s.uid)));
  j.Set("random_uid", Json::Bool(s.random_uid));
  j.Set("configuration", Json::Int(s.configuration));
  Json dk = Json::Object();
  dk.Set("value", Json::String(HexEncode(s.default_key)));
  dk.Set("version", Json::Int(s.default_key_version));
  j.Set("default_key", std::move(dk));
  j.Set("ats", Json::String(HexEncode(s.ats)));
  j.Set("capacity", Json::Int(s.capacity));
  Json v = Json::Object();
  v.Set("hardware", Json::String(HexEncode(s.version.hardware)));
  v.Set("software", Json::String(HexEncode(s.version.software)));
  v.Set("batch", Json::String(HexEncode(s.version.batch)));
  v.Set("week", Json::Int(s.version.week));
  v.Set("year", Json::Int(s.version.year));
  j.Set("version", std::move(v));
  Json picc = Json::Object();
  picc.Set("key_settings", Json::Int(s.picc_key_settings));
  picc.Set("key", KeyToJson(s.picc_key));
  j.Set("picc", std::move(picc));
  Json apps = Json::Array();
  for (const Application& a : s.applications) apps.Push(AppToJson(a));
  j.Set("applications", std::move(apps));
  return j;
}

absl::StatusOr<CardState> ParseImage(absl::string_view text) {
  DESFIRED_ASSIGN_OR_RETURN(Json doc, ParseJson(text));
  return CardStateFromJson(doc);
}

std::string SerializeImage(const CardState& state) { return WriteJson(CardStateToJson(state)); }

absl::StatusOr<CardState> LoadImage(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open card image ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  auto state = ParseImage(ss.str());
  if (!state.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", state.status().message()));
  }
  return state;
}

absl::Status SaveImage(const CardState& state, const std::string& path) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", tmp));
    out << SerializeImage(state);
    out.flush();
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", tmp));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot rename ", tmp, " to ", path));
  }
  return absl::OkStatus();
}

}  // namespace desfired::sim
