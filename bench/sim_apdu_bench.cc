// desfire-sim throughput through a real (sandboxed) pcscd: SCardTransmit round trips per
// second, and the emulator's CPU time per APDU (from /proc/<pid>/stat). Needs root, like the
// integration tests. Target (DESIGN.md): at least 5,000 APDUs/s.
//
//   scripts/bench sim
#include <benchmark/benchmark.h>
#include <unistd.h>
#include <winscard.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/integration/pcsc_sandbox.h"

namespace {

using desfired::testing::PcscSandbox;

// utime + stime of a process, in seconds.
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 2));
  std::string skip;
  for (int i = 0; i < 11; ++i) fields >> skip;  // fields 3..13
  unsigned long long utime = 0, stime = 0;
  fields >> utime >> stime;
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

struct Setup {
  std::unique_ptr<PcscSandbox> sandbox;
  SCARDCONTEXT context = 0;
  SCARDHANDLE card = 0;
  pid_t sim_pid = -1;
  std::string error;

  Setup() {
    desfired::testing::SandboxOptions options;
    options.sim_binary = DESFIRE_SIM;
    auto started = PcscSandbox::Start(options);
    if (!started.ok()) {
      error = std::string(started.status().message());
      return;
    }
    sandbox = std::move(*started);
    absl::Status s = sandbox->StartCard(0, std::string(SOURCE_DIR) + "/sim/images/transit.json");
    if (s.ok()) s = sandbox->WaitForCard(0, true, absl::Seconds(5));
    if (!s.ok()) {
      error = std::string(s.message());
      return;
    }
    sim_pid = sandbox->CardPid(0);
    DWORD protocol = 0;
    if (SCardEstablishContext(SCARD_SCOPE_SYSTEM, nullptr, nullptr, &context) != SCARD_S_SUCCESS ||
        SCardConnect(context, sandbox->ReaderName(0).c_str(), SCARD_SHARE_EXCLUSIVE,
                     SCARD_PROTOCOL_T1 | SCARD_PROTOCOL_T0, &card, &protocol) != SCARD_S_SUCCESS) {
      error = "cannot connect to the simulated card";
    }
  }
  ~Setup() {
    if (card != 0) SCardDisconnect(card, SCARD_LEAVE_CARD);
    if (context != 0) SCardReleaseContext(context);
  }
};

// Set up on first use; deleted at the end of main, which stops pcscd and the card (child
// processes that must not outlive the program).
Setup*& SetupSlot() {
  static Setup* setup = nullptr;
  return setup;
}
Setup& GetSetup() {
  if (SetupSlot() == nullptr) SetupSlot() = new Setup();
  return *SetupSlot();
}

// One APDU round trip: GetApplicationIDs (ISO-wrapped), answered with AIDs ‖ 91 00.
void BM_SimApduThroughPcscd(benchmark::State& state) {
  Setup& s = GetSetup();
  if (!s.error.empty()) {
    state.SkipWithError(s.error.c_str());
    return;
  }
  const BYTE apdu[] = {0x90, 0x6A, 0x00, 0x00, 0x00};
  BYTE reply[258];
  const double cpu_before = CpuSeconds(s.sim_pid);
  for (auto _ : state) {
    DWORD len = sizeof(reply);
    if (SCardTransmit(s.card, SCARD_PCI_T1, apdu, sizeof(apdu), nullptr, reply, &len) !=
            SCARD_S_SUCCESS ||
        len < 2 || reply[len - 2] != 0x91 || reply[len - 1] != 0x00) {
      state.SkipWithError("bad reply");
      break;
    }
  }
  const double cpu = CpuSeconds(s.sim_pid) - cpu_before;
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["sim_cpu_us_per_apdu"] =
      state.iterations() > 0 ? cpu * 1e6 / static_cast<double>(state.iterations()) : 0;
}
BENCHMARK(BM_SimApduThroughPcscd)->UseRealTime()->MinTime(3);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  delete SetupSlot();
  SetupSlot() = nullptr;
  benchmark::Shutdown();
  return 0;
}
