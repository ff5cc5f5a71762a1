// Fuzz target: the encoders of `desfirectl taps parse` (proto/convert/tap_encoder.h) against
// their references on results built from the input (tests/testing/tap_result_builder.h): the
// JSON equals the protobuf printer's over ToProto byte for byte, the CSV and the table row
// equal the absl::StrFormat printer's; the wire form of proto/convert/tap_wire.h equals
// protobuf's serializer's in both views. A difference aborts.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "proto/convert/tap_encoder.h"
#include "proto/convert/tap_wire.h"
#include "tests/testing/tap_result_builder.h"

namespace {

void Expect(absl::string_view what, absl::string_view got, const std::string& want) {
  if (got == want) return;
  std::fprintf(stderr, "%.*s differs:\n  encoder:  %.*s\n  reference: %s\n",
               static_cast<int>(what.size()), what.data(), static_cast<int>(got.size()), got.data(),
               want.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto* encoder = new desfired::TapEncoder();
  desfired::testing::ByteSource in(data, size);
  desfired::testing::BuiltResult built;
  desfired::testing::BuildResult(in, &built);
  const desfired::tap::TapResult& r = built.result;
  desfired::TextBuffer buf;
  encoder->Json(r, &buf);
  Expect("JSON", buf.view(), desfired::testing::ReferenceJson(r));
  buf.clear();
  encoder->Json(r, &buf, desfired::v1::TAP_RESULT_VIEW_BASIC);
  Expect("JSON (BASIC view)", buf.view(),
         desfired::testing::ReferenceJson(r, desfired::v1::TAP_RESULT_VIEW_BASIC));
  buf.clear();
  encoder->Csv(r, &buf);
  Expect("CSV", buf.view(), desfired::testing::ReferenceCsv(r));
  buf.clear();
  encoder->Row(r, &buf);
  Expect("table row", buf.view(), desfired::testing::ReferenceRow(r));
  for (auto view : {desfired::v1::TAP_RESULT_VIEW_FULL, desfired::v1::TAP_RESULT_VIEW_BASIC}) {
    buf.clear();
    desfired::AppendTapResultField(r, view, 1, &buf);
    const std::string want = desfired::testing::ReferenceWire(r, view);
    if (buf.view() != want) {
      std::fprintf(stderr, "wire form (view %d) differs\n", static_cast<int>(view));
      std::abort();
    }
  }
  return 0;
}
