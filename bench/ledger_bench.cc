// The audit ledger (core/ledger/ledger.h): durable appends per second, Latest() on a 100k-row
// ledger, Verify() throughput. docs/benchmarks.md has the command and the figures.
//
//   build/bench/ledger_bench [--benchmark_filter=...]
//
// Appends go to a ledger in $LEDGER_BENCH_DIR (default $TMPDIR, else /tmp) with
// synchronous=FULL: every append waits for fsync, so the figure is the disk's (the filesystem
// is printed in the context). The 100k-row ledger for Latest and Verify is filled on tmpfs
// (/dev/shm: fsync costs nothing there) and then copied to that directory; both only read, and
// read from the page cache.
#include <benchmark/benchmark.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "bench/ledger_rows.h"
#include "core/ledger/ledger.h"

namespace desfired::ledger {
namespace {

constexpr int kRows = 100000;

std::string BenchDir() {
  for (const char* env : {"LEDGER_BENCH_DIR", "TMPDIR"}) {
    if (const char* v = std::getenv(env); v != nullptr && *v != '\0') return v;
  }
  return "/tmp";
}

std::string FilesystemOf(const std::string& dir) {
  struct statfs fs {};
  if (::statfs(dir.c_str(), &fs) != 0) return "unknown";
  switch (static_cast<unsigned long>(fs.f_type)) {
    case 0xEF53:
      return "ext2/3/4";
    case 0x01021994:
      return "tmpfs";
    case 0x58465342:
      return "xfs";
    case 0x9123683E:
      return "btrfs";
    case 0x794C7630:
      return "overlayfs";
    default:
      return absl::StrCat("f_type 0x", absl::Hex(fs.f_type));
  }
}

// A fresh directory for one benchmark's files, removed on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& parent, const std::string& name)
      : path_(absl::StrCat(parent, "/ledger_bench_", getpid(), "_", name)) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void RunAppends(benchmark::State& state, const std::string& parent, bool head_file = true) {
  TempDir dir(parent, "append");
  const std::string path = dir.path() + "/ledger.sqlite";
  absl::StatusOr<std::unique_ptr<Ledger>> l =
      head_file ? Ledger::Open(path) : [&]() -> absl::StatusOr<std::unique_ptr<Ledger>> {
    absl::StatusOr<std::unique_ptr<SqliteBackend>> b = SqliteBackend::Open(path);
    if (!b.ok()) return b.status();
    return Ledger::Open(*std::move(b));
  }();
  if (!l.ok()) {
    state.SkipWithError(std::string(l.status().message()).c_str());
    return;
  }
  int i = 0;
  for (auto _ : state) {
    absl::StatusOr<Row> r = (*l)->Append(TypicalRow(i++));
    if (!r.ok()) {
      state.SkipWithError(std::string(r.status().message()).c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(FilesystemOf(dir.path()));
}

// Durable appends on the bench directory's filesystem.
void BM_AppendDurable(benchmark::State& state) { RunAppends(state, BenchDir()); }
BENCHMARK(BM_AppendDurable)->UseRealTime()->MinTime(3);

// The same without the head file (its one fdatasync per append): what the head file costs.
void BM_AppendDurableWithoutHeadFile(benchmark::State& state) {
  RunAppends(state, BenchDir(), /*head_file=*/false);
}
BENCHMARK(BM_AppendDurableWithoutHeadFile)->UseRealTime()->MinTime(3);

// The same on tmpfs: the CPU and SQLite cost of an append without the disk.
void BM_AppendTmpfs(benchmark::State& state) { RunAppends(state, "/dev/shm"); }
BENCHMARK(BM_AppendTmpfs)->UseRealTime()->MinTime(2);

// The 100k-row ledger, made once per process.
const std::string& BigLedger() {
  static const std::string* path = [] {
    TempDir fill("/dev/shm", "fill");
    {
      std::unique_ptr<Ledger> l = *Ledger::Open(fill.path() + "/ledger.sqlite");
      for (int i = 0; i < kRows; ++i) (void)l->Append(TypicalRow(i));
    }  // closed: the WAL is checkpointed into the file
    static TempDir dir(BenchDir(), "big");
    auto* p = new std::string(dir.path() + "/ledger.sqlite");
    std::filesystem::copy_file(fill.path() + "/ledger.sqlite", *p);
    // Its head file too: without it the ledger is refused at Open (docs/ledger.md).
    std::filesystem::copy_file(fill.path() + "/ledger.head", HeadFilePathFor(*p));
    return p;
  }();
  return *path;
}

void BM_Latest100k(benchmark::State& state) {
  std::unique_ptr<Ledger> l = *Ledger::Open(BigLedger());
  std::mt19937 rng(1);
  std::uniform_int_distribution<int> pick(0, kRows / 2 - 1);
  int64_t found = 0;
  for (auto _ : state) {
    absl::StatusOr<std::optional<Row>> r = l->Latest(absl::StrCat("order-", pick(rng)));
    found += r.ok() && r->has_value();
  }
  if (found != state.iterations()) state.SkipWithError("a request id was not found");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Latest100k)->MinTime(2);

void BM_LatestMiss100k(benchmark::State& state) {
  std::unique_ptr<Ledger> l = *Ledger::Open(BigLedger());
  for (auto _ : state) {
    absl::StatusOr<std::optional<Row>> r = l->Latest("never-seen");
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LatestMiss100k)->MinTime(1);

// Every PENDING row has its DONE here: the walk over the PENDING rows finds none unresolved.
void BM_Unresolved100k(benchmark::State& state) {
  std::unique_ptr<Ledger> l = *Ledger::Open(BigLedger());
  for (auto _ : state) {
    absl::StatusOr<std::vector<Row>> r = l->Unresolved();
    if (!r.ok() || !r->empty()) {
      state.SkipWithError("unexpected unresolved rows");
      break;
    }
  }
}
BENCHMARK(BM_Unresolved100k)->Unit(benchmark::kMillisecond)->MinTime(2);

void BM_Verify100k(benchmark::State& state) {
  for (auto _ : state) {
    absl::StatusOr<Ledger::VerifyResult> v = Ledger::VerifyFile(BigLedger());
    if (!v.ok() || !v->ok || v->rows != kRows) {
      state.SkipWithError("verify failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * kRows);
}
BENCHMARK(BM_Verify100k)->Unit(benchmark::kMillisecond)->MinTime(3);

// Open with its start-up checks: the head file, and the newest kDefaultVerifyRows rows (here
// every row) verified.
void BM_Open100k(benchmark::State& state) {
  for (auto _ : state) {
    absl::StatusOr<std::unique_ptr<Ledger>> l = Ledger::Open(BigLedger());
    if (!l.ok()) {
      state.SkipWithError(std::string(l.status().message()).c_str());
      break;
    }
  }
}
BENCHMARK(BM_Open100k)->Unit(benchmark::kMillisecond)->MinTime(3);

}  // namespace
}  // namespace desfired::ledger

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  const std::string dir = desfired::ledger::BenchDir();
  benchmark::AddCustomContext("ledger_dir", dir);
  benchmark::AddCustomContext("ledger_dir_filesystem", desfired::ledger::FilesystemOf(dir));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
