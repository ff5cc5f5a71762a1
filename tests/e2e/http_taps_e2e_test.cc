// POST /v1/taps:parse (server/http/http_taps.cc) against TapService.ParseTapStream of the same
// desfired binary: for the same records, in both views and in hex and binary input, every JSON
// line of the HTTP answer is byte for byte the proto3 JSON (protobuf's printer) of the gRPC
// result at the same index, and the last line is the JSON of the gRPC stream's summary.
// Chunks of 100 records (--max_tap_batch), so that the answer spans many chunks in flight. No
// pcscd: TapService does not use it.
#include <sys/stat.h>

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/util/bytes.h"
#include "desfired/v1/taps.grpc.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/testing/cli_run.h"
#include "tests/testing/e2e_support.h"
#include "tests/testing/http_client.h"
#include "tests/testing/http_port.h"
#include "tests/unit/core/tap/test_records.h"

namespace desfired {
namespace {

// 450 records: valid ones (some repeated: duplicates), wrong MACs and CRCs, unknown types.
std::vector<Bytes> Records() {
  std::vector<Bytes> out;
  for (uint32_t i = 0; i < 450; ++i) {
    tap::testing::RecordSpec spec;
    spec.timestamp = 1700000000 + 60 * (i % 300);  // from 300 on: duplicates
    spec.terminal = 0x1234 + i % 3;
    spec.uid[6] = static_cast<uint8_t>(i % 300);
    if (i % 97 == 5) spec.type = 0x07;
    Bytes r = tap::testing::MakeRecord(spec);
    if (i % 41 == 3) {
      r[tap::kMacOffset] ^= 1;
      tap::testing::FixCrc(&r);
    }
    if (i % 53 == 7) r[tap::kCrcOffset] ^= 1;
    out.push_back(std::move(r));
  }
  return out;
}

class HttpTapsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::TempPath("http_taps_e2e");
    ASSERT_TRUE(::mkdir(dir_.c_str(), 0700) == 0 || errno == EEXIST) << dir_;
    absl::StatusOr<std::string> keys =
        testing::WriteKeyFile(dir_, absl::StrCat("key tap AES128 ", tap::testing::kStaticKeyHex,
                                                 " use=none\ntap static key=tap\n"));
    ASSERT_TRUE(keys.ok()) << keys.status();
    server_ = std::make_unique<testing::DesfiredProcess>(
        dir_, std::vector<std::string>{"--listen=127.0.0.1:0", "--http_listen=127.0.0.1:0",
                                       "--keys=" + *keys, "--max_tap_batch=100",
                                       "--pcsc_socket=" + dir_ + "/no-pcscd"});
    ASSERT_GT(server_->port(), 0) << server_->err();
    const int http_port = testing::HttpPortOf(server_->err());
    ASSERT_GT(http_port, 0) << server_->err();
    base_ = absl::StrCat("http://127.0.0.1:", http_port);
    taps_ = v1::TapService::NewStub(server_->Channel());
  }

  // The lines the HTTP answer must have: the proto3 JSON of each ParseTapStream result of
  // `inputs` in `view`, then of the summary.
  std::vector<std::string> GrpcLines(const std::vector<v1::TapInput>& inputs,
                                     v1::TapResultView view) {
    std::vector<std::string> lines;
    auto ctx = testing::Ctx();
    auto stream = taps_->ParseTapStream(ctx.get());
    v1::ParseTapStreamRequest req;
    req.set_view(view);
    for (const v1::TapInput& in : inputs) {
      *req.add_records() = in;
      if (req.records_size() == 100 || &in == &inputs.back()) {
        EXPECT_TRUE(stream->Write(req));
        req.clear_records();
      }
    }
    stream->WritesDone();
    v1::ParseTapStreamResponse resp;
    while (stream->Read(&resp)) {
      for (const v1::TapResult& r : resp.results()) {
        std::string json;
        EXPECT_TRUE(google::protobuf::util::MessageToJsonString(r, &json).ok());
        lines.push_back(json);
      }
      if (resp.has_summary()) {
        resp.clear_results();
        std::string json;
        EXPECT_TRUE(google::protobuf::util::MessageToJsonString(resp, &json).ok());
        lines.push_back(json);
      }
    }
    grpc::Status s = stream->Finish();
    EXPECT_TRUE(s.ok()) << s.error_message();
    return lines;
  }

  void ExpectSameLines(const testing::HttpResponse& http, const std::vector<std::string>& want) {
    ASSERT_EQ(http.status, 200) << http.body.substr(0, 300);
    const std::vector<std::string> got = absl::StrSplit(http.body, '\n', absl::SkipEmpty());
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], want[i]) << "line " << i;
  }

  std::string dir_;
  std::string base_;
  std::unique_ptr<testing::DesfiredProcess> server_;
  std::unique_ptr<v1::TapService::Stub> taps_;
};

TEST_F(HttpTapsE2eTest, BinaryLinesAreTheProto3JsonOfTheGrpcResultsInBothViews) {
  std::vector<v1::TapInput> inputs;
  std::string body;
  for (const Bytes& r : Records()) {
    inputs.emplace_back().set_raw(AsString(r));
    body += AsString(r);
  }
  for (const auto& [query, view] :
       {std::pair<std::string, v1::TapResultView>("", v1::TAP_RESULT_VIEW_FULL),
        {"?view=full", v1::TAP_RESULT_VIEW_FULL},
        {"?view=basic", v1::TAP_RESULT_VIEW_BASIC}}) {
    SCOPED_TRACE(query);
    const std::vector<std::string> want = GrpcLines(inputs, view);
    ASSERT_EQ(want.size(), inputs.size() + 1);
    ExpectSameLines(testing::HttpCall({.method = "POST",
                                       .url = base_ + "/v1/taps:parse" + query,
                                       .headers = {"Content-Type: application/octet-stream"},
                                       .body = body}),
                    want);
  }
}

TEST_F(HttpTapsE2eTest, HexLinesOfEveryLengthAndUnreadableLinesAsGrpc) {
  // Hex lines: records, too short, too long, empty, and lines that are not hex (they travel as
  // empty records, rejected at their index).
  std::vector<v1::TapInput> inputs;
  std::string body;
  std::vector<Bytes> records = Records();
  records.resize(250);
  records.push_back(Bytes(20, 0x01));
  records.push_back(Bytes(48, 0x02));
  for (size_t i = 0; i < records.size(); ++i) {
    if (i % 60 == 11) {
      inputs.emplace_back();
      body += "zz-not-hex\n";
    }
    inputs.emplace_back().set_raw(AsString(records[i]));
    body += HexEncode(records[i]) + "\n";
  }
  for (const auto& [query, view] :
       {std::pair<std::string, v1::TapResultView>("", v1::TAP_RESULT_VIEW_FULL),
        {"?view=basic", v1::TAP_RESULT_VIEW_BASIC}}) {
    SCOPED_TRACE(query);
    ExpectSameLines(testing::HttpCall(
                        {.method = "POST", .url = base_ + "/v1/taps:parse" + query, .body = body}),
                    GrpcLines(inputs, view));
  }
}

}  // namespace
}  // namespace desfired
