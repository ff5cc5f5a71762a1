// Card calls through desfired against the same APDUs sent with raw SCardTransmit, interleaved
// in one run (issue 21, item 7). Needs root (the pcscd sandbox), like the integration tests.
//
//   card_calls_bench [--rounds 2000] [--python_rounds 400] [--debits 20] [--desfired PATH]
//
// The sandbox: pcscd with two vpcd readers, desfire-sim with the transit image on each. A child
// desfired (JSON logs: one line per call with its latency_ms, from the call's arrival to its
// status) serves reader 0; this program holds reader 1 itself (a shared connection, after one
// untimed SelectApplication F51001 + AES authentication with key 1, the read key).
//
// Every round runs, in a shuffled order:
//   raw GetValue         SCardTransmit 90 6C 00 00 01 01 00 on reader 1 (the one APDU desfired
//                        sends for a GetValue once its session is open)
//   raw FF CA + GetValue the two APDUs desfired sent per GetValue before this change
//   desfired GetValue    CardService.GetValue (transit-read, file 1) from the C++ client; its
//                        round trip here, and desfired's own time from its log line
//   ListReaders          CardService.ListReaders from the C++ client (touches no card)
// The figures: p50/p90 of each, desfired's own time minus raw GetValue (target ≤ 50 µs at
// p50), ListReaders (target ≤ 150 µs at p50), and the APDUs reader 0's card received per
// GetValue (from desfire-sim's counter).
//
// Python (bench/card_calls.py with /usr/bin/python3 and Debian's grpcio, the generated stubs
// of <build>/python): the same GetValue and ListReaders through grpcio, and the raw GetValue
// through pyscard on reader 1, in batches between the C++ batches.
//
// Debits: `strace -f -c -e trace=fsync,fdatasync` on desfired while it makes --debits Debits
// (transit-debit, 1 each): the fsync and fdatasync calls per Debit (target ≤ 1).
//
// Thread-compatible: one thread.
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <winscard.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "bench/load_util.h"
#include "core/desfire/card.h"
#include "core/pcsc/pcsc.h"
#include "core/util/bytes.h"
#include "desfired/v1/card.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "tests/integration/pcsc_sandbox.h"
#include "tests/testing/transit_keys.h"

ABSL_FLAG(int, rounds, 2000, "C++ rounds (each: the four paths once, shuffled)");
ABSL_FLAG(int, python_rounds, 400, "Python rounds (0: none)");
ABSL_FLAG(int, debits, 20, "Debits counted under strace (0: none)");
ABSL_FLAG(std::string, desfired, DESFIRED_BINARY,
          "the desfired binary to measure (e.g. one built from an earlier commit)");

namespace desfired {
namespace {

using Clock = std::chrono::steady_clock;
constexpr uint32_t kTransitAid = 0xF51001;
constexpr uint8_t kGetValue[] = {0x90, 0x6C, 0x00, 0x00, 0x01, 0x01, 0x00};
constexpr uint8_t kGetUid[] = {0xFF, 0xCA, 0x00, 0x00, 0x00};
constexpr char kReadKeyHex[] = "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf";
constexpr int kBatches = 5;  // C++ and Python batches alternate

double Micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

struct Samples {
  std::vector<double> us;
  double P(double p) const {
    std::vector<double> v = us;
    return bench::Percentile(v, p);
  }
};

void Row(const char* name, const Samples& s) {
  std::printf("  %-34s n=%-6zu p50 %8.1f µs   p90 %8.1f µs\n", name, s.us.size(), s.P(50), s.P(90));
}

// The child desfired and the sandbox: stopped by Die too (exit runs no destructors).
std::unique_ptr<bench::ChildServer> g_server;
std::unique_ptr<testing::PcscSandbox> g_sandbox;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "card_calls_bench: %s\n", what.c_str());
  g_server.reset();
  g_sandbox.reset();
  std::exit(1);
}

// SCardTransmit of `apdu` on `card`; dies unless the card answers 91 00 / 90 00.
void Transmit(pcsc::PcscCard& card, ByteSpan apdu) {
  absl::StatusOr<Bytes> reply = card.Transmit(apdu);
  if (!reply.ok() || reply->size() < 2 || ((*reply)[reply->size() - 2] & 0xF0) != 0x90 ||
      (*reply)[reply->size() - 1] != 0x00) {
    Die(absl::StrCat("raw APDU failed: ",
                     reply.ok() ? HexEncode(*reply) : reply.status().ToString()));
  }
}

// desfired's own time per GetValue: latency_ms of its "rpc" log lines for GetValue, from line
// `from` on. Sets *lines to the number of lines read.
Samples ServerTimes(const std::string& log, size_t from, size_t* lines) {
  Samples out;
  std::ifstream in(log);
  std::string line;
  size_t n = 0;
  for (; std::getline(in, line); ++n) {
    if (n < from || line.find("\"method\":\"GetValue\"") == std::string::npos) continue;
    const size_t at = line.find("\"latency_ms\":");
    double ms = 0;
    if (at == std::string::npos) continue;
    const std::string rest = line.substr(at + 13);
    if (absl::SimpleAtod(rest.substr(0, rest.find_first_of(",}")), &ms)) out.us.push_back(ms * 1e3);
  }
  *lines = n;
  return out;
}

size_t LogLines(const std::string& log) {
  size_t n = 0;
  ServerTimes(log, SIZE_MAX, &n);
  return n;
}

int64_t CardApdus(testing::PcscSandbox& sandbox, int reader) {
  absl::StatusOr<std::string> status = sandbox.Control(reader, "status");
  int64_t n = -1;
  if (!status.ok()) return n;
  const size_t at = status->find("apdus=");
  if (at == std::string::npos) return n;
  const std::string rest = status->substr(at + 6);
  (void)absl::SimpleAtoi(rest.substr(0, rest.find(' ')), &n);
  return n;
}

// Runs `argv`, waits for it; its exit status.
int Run(std::vector<std::string> argv, const std::vector<std::string>& env_extra = {}) {
  std::vector<char*> cargv;
  for (std::string& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.push_back(*e);
  env.insert(env.end(), env_extra.begin(), env_extra.end());
  std::vector<char*> cenv;
  for (std::string& e : env) cenv.push_back(e.data());
  cenv.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, cargv[0], nullptr, nullptr, cargv.data(), cenv.data()) != 0) return -1;
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The "calls" column of strace -c's table for `syscall` (0 when absent).
int64_t StraceCalls(const std::string& path, const std::string& syscall) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (f.size() >= 5 && f.back() == syscall) {
      int64_t calls = 0;
      if (absl::SimpleAtoi(f[3], &calls)) return calls;
    }
  }
  return 0;
}

int Main() {
  const std::string sim = DESFIRE_SIM;
  const std::string image = std::string(SOURCE_DIR) + "/sim/images/transit.json";
  absl::StatusOr<std::unique_ptr<testing::PcscSandbox>> sandbox =
      testing::PcscSandbox::StartWithCards({.entries = 1, .base_port = 40600, .sim_binary = sim},
                                           {image, image});
  if (!sandbox.ok()) Die(absl::StrCat("sandbox: ", sandbox.status().ToString()));
  g_sandbox = *std::move(sandbox);
  testing::PcscSandbox& box = *g_sandbox;
  const std::string dir = box.dir() + "/desfired-data";
  ::mkdir(dir.c_str(), 0700);
  const std::string keys = dir + "/keys.conf";
  {
    std::ofstream(keys) << testing::kTransitKeyFile;
    ::chmod(keys.c_str(), 0600);
  }
  const std::string log = dir + "/desfired.log";
  absl::StatusOr<std::unique_ptr<bench::ChildServer>> server = bench::ChildServer::Start(
      absl::GetFlag(FLAGS_desfired),
      {"--keys", keys, "--pcsc_socket", box.dir() + "/run/pcscd.comm", "--log_format", "json"}, dir,
      absl::Seconds(10));
  if (!server.ok()) Die(absl::StrCat("desfired: ", server.status().ToString()));
  g_server = *std::move(server);
  const std::string address = absl::StrCat("127.0.0.1:", g_server->port());
  auto stub =
      v1::CardService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  const std::string served = box.ReaderName(0), raw_reader = box.ReaderName(1);

  // Reader 1: the raw path, its session opened once (untimed).
  absl::StatusOr<std::unique_ptr<pcsc::PcscContext>> context = pcsc::PcscContext::Create();
  if (!context.ok()) Die(context.status().ToString());
  absl::StatusOr<std::unique_ptr<pcsc::PcscCard>> raw =
      (*context)->Connect(raw_reader, pcsc::ShareMode::kShared);
  if (!raw.ok()) Die(raw.status().ToString());
  {
    desfire::DesfireCard card(**raw);
    const Bytes key = *HexDecode(kReadKeyHex);
    if (!card.SelectApplication(kTransitAid).ok() ||
        !card.Authenticate(1, {crypto::KeyType::kAes128, key}).ok()) {
      Die("cannot open the raw session on reader 1");
    }
  }

  v1::GetValueRequest get_value;
  get_value.mutable_target()->set_reader(served);
  get_value.set_aid(kTransitAid);
  get_value.set_file_no(1);
  get_value.mutable_auth()->set_key_name("transit-read");
  get_value.mutable_auth()->set_key_number(1);
  auto call_get_value = [&] {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::GetValueResponse resp;
    grpc::Status s = stub->GetValue(&ctx, get_value, &resp);
    if (!s.ok()) Die(absl::StrCat("GetValue: ", s.error_message()));
  };
  auto call_list = [&] {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::ListReadersResponse resp;
    grpc::Status s = stub->ListReaders(&ctx, {}, &resp);
    if (!s.ok()) Die(absl::StrCat("ListReaders: ", s.error_message()));
  };
  for (int i = 0; i < 200; ++i) {  // warm up: connections, the session, caches
    call_get_value();
    call_list();
    Transmit(**raw, kGetValue);
  }
  const int64_t apdus_before = CardApdus(box, 0);
  for (int i = 0; i < 100; ++i) call_get_value();
  const double apdus_per_call = static_cast<double>(CardApdus(box, 0) - apdus_before) / 100.0;

  std::map<std::string, Samples> cpp;
  Samples server_time;
  std::map<std::string, Samples> python;
  const std::vector<std::pair<std::string, std::function<void()>>> paths = {
      {"raw GetValue", [&] { Transmit(**raw, kGetValue); }},
      {"raw FF CA + GetValue",
       [&] {
         Transmit(**raw, kGetUid);
         Transmit(**raw, kGetValue);
       }},
      {"desfired GetValue (C++ client)", call_get_value},
      {"ListReaders (C++ client)", call_list},
  };
  std::mt19937 rng(21);
  std::vector<size_t> order = {0, 1, 2, 3};
  const int rounds = absl::GetFlag(FLAGS_rounds);
  const int python_rounds = absl::GetFlag(FLAGS_python_rounds);
  const std::string python_dir = PYTHON_DIR;
  const bool with_python =
      python_rounds > 0 && ::access((python_dir + "/desfired").c_str(), 0) == 0;
  if (python_rounds > 0 && !with_python) {
    std::printf("Python: no generated stubs in %s (build the python target); skipped\n",
                python_dir.c_str());
  }
  const double load_before = bench::ReadMachineCpu().busy;
  const absl::Time started = absl::Now();
  for (int batch = 0; batch < kBatches; ++batch) {
    size_t from = LogLines(log);
    for (int r = 0; r < rounds / kBatches; ++r) {
      std::shuffle(order.begin(), order.end(), rng);
      for (size_t i : order) {
        const Clock::time_point t0 = Clock::now();
        paths[i].second();
        cpp[paths[i].first].us.push_back(Micros(Clock::now() - t0));
      }
    }
    size_t to = 0;
    Samples batch_server = ServerTimes(log, from, &to);
    server_time.us.insert(server_time.us.end(), batch_server.us.begin(), batch_server.us.end());
    if (!with_python) continue;
    const std::string samples = absl::StrCat(dir, "/py-", batch, ".txt");
    const int rc =
        Run({"/usr/bin/python3", std::string(SOURCE_DIR) + "/bench/card_calls.py", "--server",
             address, "--reader", served, "--raw-reader", raw_reader, "--rounds",
             absl::StrCat(python_rounds / kBatches), "--samples-out", samples},
            {"PYTHONPATH=" + python_dir});
    if (rc != 0) Die(absl::StrCat("card_calls.py failed (exit ", rc, ")"));
    std::ifstream in(samples);
    std::string name, value;
    while (in >> name >> value) {
      double us = 0;
      if (absl::SimpleAtod(value, &us)) python[name].us.push_back(us);
    }
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - started);
  const double busy = (bench::ReadMachineCpu().busy - load_before) / seconds;

  // Debits under strace: fsync and fdatasync per Debit.
  const int debits = absl::GetFlag(FLAGS_debits);
  int64_t fsyncs = -1, fdatasyncs = -1;
  Samples debit_time;
  if (debits > 0) {
    const std::string out = dir + "/strace.txt";
    std::vector<std::string> argv = {"/usr/bin/strace",
                                     "-f",
                                     "-c",
                                     "-e",
                                     "trace=fsync,fdatasync",
                                     "-o",
                                     out,
                                     "-p",
                                     absl::StrCat(g_server->pid())};
    std::vector<char*> cargv;
    for (std::string& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    pid_t strace = -1;
    if (posix_spawn(&strace, cargv[0], nullptr, nullptr, cargv.data(), environ) == 0) {
      absl::SleepFor(absl::Milliseconds(500));  // attached to every thread
      for (int i = 0; i < debits; ++i) {
        v1::DebitRequest debit;
        debit.mutable_target()->set_reader(served);
        debit.set_aid(kTransitAid);
        debit.set_file_no(1);
        debit.mutable_auth()->set_key_name("transit-debit");
        debit.mutable_auth()->set_key_number(2);
        debit.set_amount(1);
        debit.set_request_id(absl::StrCat("bench-debit-", i));
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
        v1::DebitResponse resp;
        const Clock::time_point t0 = Clock::now();
        grpc::Status s = stub->Debit(&ctx, debit, &resp);
        debit_time.us.push_back(Micros(Clock::now() - t0));
        if (!s.ok()) Die(absl::StrCat("Debit: ", s.error_message()));
      }
      absl::SleepFor(absl::Milliseconds(200));
      ::kill(strace, SIGINT);
      int status = 0;
      waitpid(strace, &status, 0);
      fsyncs = StraceCalls(out, "fsync");
      fdatasyncs = StraceCalls(out, "fdatasync");
    }
  }

  std::printf(
      "card calls: %d C++ rounds, %d Python rounds, %.1f s; machine busy %.2f of %ld cores\n",
      rounds, with_python ? python_rounds : 0, seconds, busy, sysconf(_SC_NPROCESSORS_ONLN));
  std::printf("APDUs per desfired GetValue (session kept): %.2f\n", apdus_per_call);
  std::printf("C++ (one run, interleaved):\n");
  for (const auto& [name, fn] : paths) Row(name.c_str(), cpp[name]);
  Row("desfired own time (its log)", server_time);
  const double raw50 = cpp["raw GetValue"].P(50);
  std::printf("  desfired own time − raw GetValue at p50: %+.1f µs (target ≤ 50)\n",
              server_time.P(50) - raw50);
  std::printf("  desfired GetValue round trip − raw GetValue at p50: %+.1f µs\n",
              cpp["desfired GetValue (C++ client)"].P(50) - raw50);
  std::printf("  ListReaders round trip at p50: %.1f µs (target ≤ 150)\n",
              cpp["ListReaders (C++ client)"].P(50));
  if (!python.empty()) {
    std::printf("Python (grpcio, pyscard; batches between the C++ ones):\n");
    for (const auto& [name, s] : python) Row(name.c_str(), s);
    if (python.count("raw_GetValue") && python.count("desfired_GetValue")) {
      std::printf("  desfired GetValue − raw GetValue (Python) at p50: %+.1f µs\n",
                  python["desfired_GetValue"].P(50) - python["raw_GetValue"].P(50));
    }
  }
  if (debits > 0) {
    Row("Debit (C++ client, under strace)", debit_time);
    std::printf(
        "Debit: %lld fsync + %lld fdatasync in %d Debits = %.2f syncs per Debit "
        "(target ≤ 1)\n",
        static_cast<long long>(fsyncs), static_cast<long long>(fdatasyncs), debits,
        static_cast<double>(fsyncs + fdatasyncs) / debits);
  }
  g_server.reset();  // before the sandbox it runs in
  g_sandbox.reset();
  return 0;
}

}  // namespace
}  // namespace desfired

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return desfired::Main();
}
