#include "client/cli/iso_options.h"

#include <optional>

#include "absl/strings/str_cat.h"

namespace desfired::cli {
namespace {

// A 16-bit ISO id given as 4 hex digits; nullopt when the option is absent.
absl::StatusOr<std::optional<uint32_t>> IsoId(const ServerCommand& cmd, const std::string& opt) {
  if (!cmd.args().Has(opt)) return std::nullopt;
  absl::StatusOr<Bytes> id = cmd.HexBytes(opt);
  if (!id.ok()) return id.status();
  if (id->size() != 2) {
    return absl::InvalidArgumentError(absl::StrCat("--", opt, ": 4 hex digits, e.g. E104"));
  }
  return static_cast<uint32_t>((*id)[0] << 8 | (*id)[1]);
}

}  // namespace

void AddIsoOptions(ServerCommand& cmd) {
  cmd.args().Flag("iso", "use the ISO/IEC 7816-4 commands (plain files only; docs/ev3.md)");
  cmd.args().Option("iso-df-name", "HEX",
                    "with --iso: select the application by this DF name (e.g. D2760000850101)");
  cmd.args().Option("iso-df-id", "HEX", "with --iso: select the application by its ISO DF id");
  cmd.args().Option("iso-ef-id", "HEX",
                    "with --iso: select the file by its ISO file id (offsets over 255)");
}

absl::Status IsoOptionsInto(const ServerCommand& cmd, v1::IsoAccess* iso) {
  const bool any =
      cmd.args().Has("iso-df-name") || cmd.args().Has("iso-df-id") || cmd.args().Has("iso-ef-id");
  if (!cmd.args().Has("iso")) {
    if (any) return absl::InvalidArgumentError("the --iso-* options go with --iso");
    return absl::OkStatus();
  }
  iso->set_enabled(true);
  absl::StatusOr<Bytes> name = cmd.HexBytes("iso-df-name");
  if (!name.ok()) return name.status();
  if (name->size() > 16) return absl::InvalidArgumentError("--iso-df-name: 1..16 bytes");
  iso->set_df_name(AsString(*name));
  absl::StatusOr<std::optional<uint32_t>> df = IsoId(cmd, "iso-df-id");
  if (!df.ok()) return df.status();
  if (df->has_value()) iso->set_df_file_id(**df);
  absl::StatusOr<std::optional<uint32_t>> ef = IsoId(cmd, "iso-ef-id");
  if (!ef.ok()) return ef.status();
  if (ef->has_value()) iso->set_ef_file_id(**ef);
  return absl::OkStatus();
}

}  // namespace desfired::cli
