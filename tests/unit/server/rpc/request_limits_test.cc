// CheckLimits (server/rpc/request_limits.h), driven by the proto descriptors: every string and
// bytes field of every request of CardService and TapService has a limit of its own, one byte
// more than it fails with INVALID_ARGUMENT naming the field, and the limit itself passes. A new
// request field without a limit fails EveryClientStringHasALimit.
#include "server/rpc/request_limits.h"

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "core/crypto/key_type.h"
#include "core/keys/key_store.h"
#include "desfired/v1/card.pb.h"
#include "desfired/v1/taps.pb.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/unknown_field_set.h"
#include "gtest/gtest.h"
#include "tests/unit/server/rpc/card_requests.h"

namespace desfired::server {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using testing::Field;

// One string or bytes field reachable from a request: the request type and the fields down to it.
struct StringField {
  const Descriptor* request;
  std::vector<const FieldDescriptor*> path;
  std::string Dotted() const {
    return absl::StrJoin(
        path, ".", [](std::string* out, const FieldDescriptor* f) { out->append(f->name()); });
  }
  std::string Name() const { return request->name() + "." + Dotted(); }
};

void Collect(const Descriptor* request, const Descriptor* message,
             std::vector<const FieldDescriptor*>& path, std::vector<StringField>& out) {
  for (int i = 0; i < message->field_count(); ++i) {
    const FieldDescriptor* f = message->field(i);
    path.push_back(f);
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
      out.push_back({request, path});
    } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && path.size() < 8) {
      Collect(request, f->message_type(), path, out);
    }
    path.pop_back();
  }
}

// Every string and bytes field of every request message of both services.
std::vector<StringField> AllRequestStrings() {
  std::vector<StringField> out;
  std::set<const Descriptor*> seen;
  for (const google::protobuf::FileDescriptor* file :
       {v1::DebitRequest::descriptor()->file(), v1::ParseTapsRequest::descriptor()->file()}) {
    for (int s = 0; s < file->service_count(); ++s) {
      for (int m = 0; m < file->service(s)->method_count(); ++m) {
        const Descriptor* request = file->service(s)->method(m)->input_type();
        if (!seen.insert(request).second) continue;
        std::vector<const FieldDescriptor*> path;
        Collect(request, request, path, out);
      }
    }
  }
  return out;
}

// A request of `field.request` with `value` in the field (`copies` times in a repeated one).
std::unique_ptr<Message> RequestWith(const StringField& field, const std::string& value,
                                     size_t copies = 1) {
  std::unique_ptr<Message> request(
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(field.request)->New());
  Message* m = request.get();
  for (size_t i = 0; i + 1 < field.path.size(); ++i) {
    const FieldDescriptor* f = field.path[i];
    m = f->is_repeated() ? m->GetReflection()->AddMessage(m, f)
                         : m->GetReflection()->MutableMessage(m, f);
  }
  const FieldDescriptor* last = field.path.back();
  if (last->is_repeated()) {
    for (size_t i = 0; i < copies; ++i) m->GetReflection()->AddString(m, last, value);
  } else {
    m->GetReflection()->SetString(m, last, value);
  }
  return request;
}

TEST(RequestLimitsTest, EveryClientStringHasALimit) {
  const std::vector<StringField> fields = AllRequestStrings();
  ASSERT_GT(fields.size(), 40u);  // the walk reaches the nested and the repeated fields
  for (const StringField& f : fields) {
    const FieldLimit* limit = FindFieldLimit(f.path.back()->name());
    ASSERT_NE(limit, nullptr) << f.Name() << " has no limit in request_limits.h";
    EXPECT_GT(limit->max_bytes, 0u) << f.Name();
    if (f.path.back()->is_repeated()) {
      EXPECT_GT(limit->max_count, 0u) << f.Name() << " has no limit on its entries";
    }
  }
}

TEST(RequestLimitsTest, OneByteOverTheLimitIsRefusedByName) {
  for (const StringField& f : AllRequestStrings()) {
    const size_t max = FindFieldLimit(f.path.back()->name())->max_bytes;
    EXPECT_TRUE(CheckLimits(*RequestWith(f, std::string(max, 'r'))).ok()) << f.Name();
    const absl::Status over = CheckLimits(*RequestWith(f, std::string(max + 1, 'r')));
    EXPECT_EQ(over.code(), absl::StatusCode::kInvalidArgument) << f.Name() << ": " << over;
    EXPECT_EQ(Field(over), f.Dotted()) << f.Name() << ": " << over;
  }
}

TEST(RequestLimitsTest, RepeatedStringsHaveACount) {
  for (const StringField& f : AllRequestStrings()) {
    if (!f.path.back()->is_repeated()) continue;
    const size_t count = FindFieldLimit(f.path.back()->name())->max_count;
    EXPECT_TRUE(CheckLimits(*RequestWith(f, "r", count)).ok()) << f.Name();
    const absl::Status over = CheckLimits(*RequestWith(f, "r", count + 1));
    EXPECT_EQ(Field(over), f.Dotted()) << f.Name() << ": " << over;
  }
}

TEST(RequestLimitsTest, AMebibyteReaderNameIsNotQuotedInTheError) {
  v1::DebitRequest debit;
  debit.mutable_target()->set_reader(std::string(1 << 20, 'r'));
  const absl::Status status = CheckLimits(debit);
  EXPECT_EQ(Field(status), "target.reader");
  EXPECT_LT(status.message().size(), 200u) << status.message().substr(0, 300);
  EXPECT_NE(status.message().find("1048576"), std::string::npos) << status.message();
}

TEST(RequestLimitsTest, TapRecordsAreCheckedOneByOne) {
  v1::ParseTapsRequest taps;
  for (int i = 0; i < 3; ++i) taps.add_records()->set_raw(std::string(32, '\x01'));
  EXPECT_TRUE(CheckLimits(taps).ok());
  taps.mutable_records(2)->set_raw(std::string(kMaxTapRecordBytes + 1, '\x01'));
  const absl::Status status = CheckLimits(taps);
  EXPECT_EQ(Field(status), "records.raw");
  EXPECT_NE(status.message().find("records[2].raw"), std::string::npos) << status.message();
}

TEST(RequestLimitsTest, UnknownFieldsAreBounded) {
  v1::DebitRequest debit;
  debit.GetReflection()->MutableUnknownFields(&debit)->AddLengthDelimited(1000,
                                                                          std::string(900, 'u'));
  EXPECT_TRUE(CheckLimits(debit).ok());
  debit.mutable_target()
      ->GetReflection()
      ->MutableUnknownFields(debit.mutable_target())
      ->AddLengthDelimited(1000, std::string(2000, 'u'));
  EXPECT_EQ(Field(CheckLimits(debit)), "target.(unknown fields)");
  debit.GetReflection()->MutableUnknownFields(&debit)->AddLengthDelimited(1001,
                                                                          std::string(200, 'u'));
  EXPECT_EQ(Field(CheckLimits(debit)), "(unknown fields)");
}

// The key name limit is the key store's: a name it accepts is never refused here.
TEST(RequestLimitsTest, KeyNameLimitIsTheKeyStores) {
  keys::KeyStore store;
  EXPECT_TRUE(
      store.AddKey(std::string(kMaxKeyNameBytes, 'k'), crypto::KeyType::kAes128, Bytes(16)).ok());
  EXPECT_FALSE(
      store.AddKey(std::string(kMaxKeyNameBytes + 1, 'k'), crypto::KeyType::kAes128, Bytes(16))
          .ok());
}

}  // namespace
}  // namespace desfired::server
