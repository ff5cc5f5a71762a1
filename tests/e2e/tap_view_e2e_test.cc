// TapService result views through the real desfired binary over loopback (docs/api.md,
// "Result views"): FULL (and unset) answers are what ToProto makes of the core results of the
// same records with the same keys, as before views existed; BASIC answers are FULL ones
// without raw_hex, record_id and dedup_key, and nothing else differs. For ParseTaps and for
// the chunks of ParseTapStream.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/keys/key_store.h"
#include "core/tap/pipeline.h"
#include "desfired/v1/taps.grpc.pb.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "proto/convert/tap_convert.h"
#include "tests/integration/pcsc_sandbox.h"
#include "tests/testing/e2e_support.h"
#include "tests/unit/core/tap/test_records.h"

namespace desfired {
namespace {

using google::protobuf::util::MessageDifferencer;

// Records of every kind: valid ones with and without backend times (clock offsets), a wrong
// MAC, a wrong CRC, a truncated one, a duplicate, too short, an unknown type, too long, empty.
std::vector<v1::TapInput> Inputs() {
  std::vector<v1::TapInput> in;
  auto add = [&](const Bytes& raw, int64_t backend) {
    v1::TapInput& input = in.emplace_back();
    input.set_raw(AsString(raw));
    if (backend != 0) input.mutable_backend_time()->set_seconds(backend);
  };
  for (uint32_t i = 0; i < 20; ++i) {
    tap::testing::RecordSpec spec;
    spec.timestamp = 1700000000 + 60 * i;
    spec.terminal = 0x1234 + i % 3;
    spec.uid[6] = static_cast<uint8_t>(i);
    add(tap::testing::MakeRecord(spec), i % 2 ? spec.timestamp - 5 - i : 0);
  }
  Bytes bad_mac = tap::testing::MakeRecord({.timestamp = 1700100000});
  bad_mac[tap::kMacOffset] ^= 1;
  tap::testing::FixCrc(&bad_mac);
  add(bad_mac, 0);
  Bytes bad_crc = tap::testing::MakeRecord({.timestamp = 1700100100});
  bad_crc[tap::kCrcOffset] ^= 1;
  add(bad_crc, 0);
  Bytes truncated = tap::testing::MakeRecord({.timestamp = 1700100200});
  truncated.resize(29);
  add(truncated, 0);
  add(tap::testing::MakeRecord({}), 0);  // a duplicate of the first
  add(Bytes(20, 0x01), 0);
  add(tap::testing::MakeRecord({.type = 0x07}), 0);
  add(Bytes(48, 0x02), 0);
  add({}, 0);
  return in;
}

// What the server's pipeline answers in FULL: the core results of `inputs` with `keys`.
std::vector<v1::TapResult> LocalResults(const keys::KeyStore& keys,
                                        const std::vector<v1::TapInput>& inputs) {
  tap::TapPipelineConfig config;
  config.keys = &keys;
  std::unique_ptr<tap::TapPipeline> pipeline = *tap::TapPipeline::Create(config);
  std::vector<v1::TapResult> out;
  tap::TapResult result;
  uint64_t index = 0;
  for (const v1::TapInput& in : inputs) {
    std::optional<int64_t> backend;
    if (in.has_backend_time()) backend = in.backend_time().seconds();
    pipeline->Process(index++, AsBytes(in.raw()), backend, &result);
    ToProto(result, &out.emplace_back());
  }
  return out;
}

// `full` without what BASIC leaves out.
v1::TapResult Basic(v1::TapResult full) {
  full.clear_raw_hex();
  full.clear_record_id();
  full.clear_dedup_key();
  return full;
}

class TapViewE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::StartTransitSandbox(&sandbox_, /*blank_card=*/false)) return;
    absl::StatusOr<std::string> key_path = testing::WriteKeyFile(sandbox_->dir());
    ASSERT_TRUE(key_path.ok()) << key_path.status();
    absl::StatusOr<keys::KeyStore> store = keys::KeyStore::LoadFile(*key_path);
    ASSERT_TRUE(store.ok()) << store.status();
    keys_ = *std::move(store);
    server_ = std::make_unique<testing::DesfiredProcess>(
        sandbox_->dir(), std::vector<std::string>{
                             "--listen=127.0.0.1:0", "--keys=" + *key_path,
                             absl::StrCat("--pcsc_socket=", sandbox_->dir(), "/run/pcscd.comm")});
    ASSERT_GT(server_->port(), 0) << server_->err();
    taps_ = v1::TapService::NewStub(testing::LoopbackChannel(server_->port()));
  }

  std::unique_ptr<testing::PcscSandbox> sandbox_;
  keys::KeyStore keys_;
  std::unique_ptr<testing::DesfiredProcess> server_;
  std::unique_ptr<v1::TapService::Stub> taps_;
};

TEST_F(TapViewE2eTest, ParseTapsFullIsUnchangedAndBasicLeavesOutThreeFields) {
  const std::vector<v1::TapInput> inputs = Inputs();
  const std::vector<v1::TapResult> want = LocalResults(keys_, inputs);
  v1::ParseTapsResponse answers[3];
  const v1::TapResultView views[3] = {v1::TAP_RESULT_VIEW_UNSPECIFIED, v1::TAP_RESULT_VIEW_FULL,
                                      v1::TAP_RESULT_VIEW_BASIC};
  for (int v = 0; v < 3; ++v) {
    v1::ParseTapsRequest req;
    for (const v1::TapInput& in : inputs) *req.add_records() = in;
    req.set_view(views[v]);
    grpc::Status s = taps_->ParseTaps(testing::Ctx().get(), req, &answers[v]);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(answers[v].results_size(), static_cast<int>(inputs.size()));
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    const int k = static_cast<int>(i);
    EXPECT_TRUE(MessageDifferencer::Equals(answers[0].results(k), want[i]))
        << answers[0].results(k).DebugString() << " vs " << want[i].DebugString();
    EXPECT_TRUE(MessageDifferencer::Equals(answers[1].results(k), want[i])) << i;
    const v1::TapResult& basic = answers[2].results(k);
    EXPECT_EQ(basic.raw_hex(), "") << i;
    EXPECT_EQ(basic.record_id(), "") << i;
    EXPECT_EQ(basic.dedup_key(), "") << i;
    EXPECT_TRUE(MessageDifferencer::Equals(basic, Basic(want[i])))
        << basic.DebugString() << " vs " << want[i].DebugString();
  }
  EXPECT_TRUE(MessageDifferencer::Equals(answers[1].summary(), answers[2].summary()));
  EXPECT_TRUE(MessageDifferencer::Equals(answers[0].summary(), answers[1].summary()));
  // Both keys were there to leave out, and BASIC is much smaller on the wire.
  EXPECT_NE(want[0].record_id(), "");
  EXPECT_LT(answers[2].ByteSizeLong() * 10, answers[1].ByteSizeLong() * 7);
}

TEST_F(TapViewE2eTest, ParseTapStreamViewIsPerChunk) {
  const std::vector<v1::TapInput> inputs = Inputs();
  // The stream parses the records three times with one pipeline: the last two are duplicates.
  std::vector<v1::TapInput> all;
  for (int i = 0; i < 3; ++i) all.insert(all.end(), inputs.begin(), inputs.end());
  const std::vector<v1::TapResult> want = LocalResults(keys_, all);
  auto ctx = testing::Ctx();
  auto stream = taps_->ParseTapStream(ctx.get());
  const v1::TapResultView views[3] = {v1::TAP_RESULT_VIEW_BASIC, v1::TAP_RESULT_VIEW_FULL,
                                      v1::TAP_RESULT_VIEW_UNSPECIFIED};
  size_t index = 0;
  for (int chunk = 0; chunk < 3; ++chunk) {
    v1::ParseTapStreamRequest req;
    for (const v1::TapInput& in : inputs) *req.add_records() = in;
    req.set_view(views[chunk]);
    ASSERT_TRUE(stream->Write(req));
    v1::ParseTapStreamResponse resp;
    ASSERT_TRUE(stream->Read(&resp));
    ASSERT_EQ(resp.results_size(), static_cast<int>(inputs.size()));
    EXPECT_EQ(resp.records_processed(), index + inputs.size());
    for (const v1::TapResult& r : resp.results()) {
      const v1::TapResult expected =
          views[chunk] == v1::TAP_RESULT_VIEW_BASIC ? Basic(want[index]) : want[index];
      EXPECT_TRUE(MessageDifferencer::Equals(r, expected))
          << chunk << ": " << r.DebugString() << " vs " << expected.DebugString();
      ++index;
    }
  }
  stream->WritesDone();
  v1::ParseTapStreamResponse last;
  ASSERT_TRUE(stream->Read(&last));
  EXPECT_EQ(last.results_size(), 0);
  EXPECT_EQ(last.records_processed(), all.size());
  EXPECT_EQ(last.summary().total(), all.size());
  grpc::Status s = stream->Finish();
  EXPECT_TRUE(s.ok()) << s.error_message();
}

}  // namespace
}  // namespace desfired
