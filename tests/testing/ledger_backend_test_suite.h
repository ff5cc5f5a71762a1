// One conformance suite for every ledger storage backend (core/ledger/backend.h): what the
// Ledger relies on — rows read back exactly as appended and in seq order, the head moved with
// each row and only from the head named, the newest row of a request id, the unsettled PENDING
// rows, snapshots that keep their state while appends go on, and everything still there after
// reopening. A backend's test instantiates it with a factory of containers (each test gets a
// fresh one, whose storage starts empty), as ml-metadata's MetadataSourceTestSuite does:
//
//   class SqliteContainer : public LedgerBackendContainer { ... };   // a temp directory
//   INSTANTIATE_TEST_SUITE_P(
//       All, LedgerBackendTestSuite,
//       ::testing::Values(LedgerBackendParam{
//           "Sqlite", [] { return std::make_unique<SqliteContainer>(); }}),
//       LedgerBackendParamName);
//
// The tests are in ledger_backend_test_suite.cc, built as an object library
// (desfired_test_ledger_backend) so that they are linked into the test that instantiates them.
#ifndef DESFIRED_TESTS_TESTING_LEDGER_BACKEND_TEST_SUITE_H_
#define DESFIRED_TESTS_TESTING_LEDGER_BACKEND_TEST_SUITE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "core/ledger/backend.h"
#include "core/ledger/chain.h"
#include "core/ledger/row.h"
#include "gtest/gtest.h"

namespace desfired::testing {

// The storage of one test, and the backends opened on it.
class LedgerBackendContainer {
 public:
  virtual ~LedgerBackendContainer() = default;

  // Opens a backend on this container's storage: empty the first time; after the backend
  // opened before was destroyed, with what it stored.
  virtual absl::StatusOr<std::unique_ptr<ledger::Backend>> Open() = 0;
};

// Makes a fresh container (a std::function: gtest parameters must be copyable).
using LedgerBackendContainerFactory = std::function<std::unique_ptr<LedgerBackendContainer>()>;

// The suite's parameter: one backend, its name (the tests' name suffix) and its containers.
struct LedgerBackendParam {
  std::string name;  // e.g. "Sqlite"
  LedgerBackendContainerFactory factory;
};
void PrintTo(const LedgerBackendParam& param, std::ostream* os);
// The name generator of INSTANTIATE_TEST_SUITE_P: the parameter's name.
std::string LedgerBackendParamName(const ::testing::TestParamInfo<LedgerBackendParam>& info);

class LedgerBackendTestSuite : public ::testing::TestWithParam<LedgerBackendParam> {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Destroys the backend and opens a new one on the same storage.
  void Reopen();

  // The row the Ledger would append next: seq head_.seq + 1, chained to head_, every column
  // filled in (text with UTF-8 and a newline, a payload with zero bytes, an absent and a
  // present-zero optional integer, ...), differing from row to row.
  ledger::StoredRow NextRow(ledger::Event event, const std::string& request_id,
                            int64_t pending_seq = 0) const;
  // Appends NextRow(...) (failing the test if the backend refuses it) and moves head_.
  ledger::StoredRow AppendNext(ledger::Event event, const std::string& request_id,
                               int64_t pending_seq = 0);

  std::unique_ptr<LedgerBackendContainer> container_;
  std::unique_ptr<ledger::Backend> backend_;
  ledger::Head head_;  // the head after the rows this test appended
};

}  // namespace desfired::testing

#endif  // DESFIRED_TESTS_TESTING_LEDGER_BACKEND_TEST_SUITE_H_
