// desfirectl originality: the card's originality signature checked by desfired
// (CardService.VerifyOriginality).
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "client/cli/commands.h"
#include "client/cli/server_command.h"
#include "core/util/enum_table.h"

namespace desfired::cli {
namespace {

constexpr EnumRow<v1::OriginalityVerdict, absl::string_view> kVerdicts[] = {
    {v1::ORIGINALITY_VERDICT_GENUINE, "genuine"},
    {v1::ORIGINALITY_VERDICT_NOT_GENUINE, "NOT GENUINE"},
    {v1::ORIGINALITY_VERDICT_UNKNOWN_PRODUCT, "unknown product (no published key for it)"},
};

int PrintOriginality(const v1::VerifyOriginalityResponse& resp) {
  const std::vector<std::vector<std::string>> rows = {
      {"reader", resp.reader()},
      {"uid", HexOrDash(resp.uid())},
      {"product",
       resp.version().product_name().empty() ? "unrecognised" : resp.version().product_name()},
      {"verdict", std::string(ValueOf(kVerdicts, resp.verdict()).value_or("unspecified"))},
      {"key", resp.key_name().empty() ? "-" : resp.key_name()},
      {"keys tried", resp.keys_tried().empty() ? "none" : absl::StrJoin(resp.keys_tried(), ", ")},
      {"signature", HexOrDash(resp.signature())},
  };
  for (const auto& row : rows) {
    std::string label = row[0];
    label.resize(12, ' ');
    std::cout << label << row[1] << "\n";
  }
  return kExitOk;
}

}  // namespace

int Originality(int argc, char** argv) {
  ServerCommand cmd("originality",
                    "Check the card's NXP originality signature (ReadSig, ECDSA secp224r1).");
  cmd.AddTarget();
  if (std::optional<int> done = cmd.Parse(argc, argv)) return *done;
  v1::VerifyOriginalityRequest req;
  if (absl::Status s = cmd.Target(req.mutable_target()); !s.ok()) return cmd.UsageError(s);
  return cmd.Call(req, &client::Client::VerifyOriginality, PrintOriginality);
}

}  // namespace desfired::cli
