// desfirectl taps parse: parse tap records from a file or stdin, locally.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/cli/commands.h"
#include "client/cli/progress.h"
#include "client/cli/server_command.h"
#include "client/cli/tap_output.h"
#include "client/desfired_client.h"
#include "core/keys/key_store.h"
#include "core/tap/input.h"
#include "core/tap/pipeline.h"
#include "google/protobuf/util/json_util.h"
#include "proto/convert/tap_convert.h"

namespace desfired::cli {
namespace {

enum class OutputFormat { kTable, kJson, kCsv };

std::string FormatTime(int64_t unix_seconds) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(unix_seconds),
                          absl::UTCTimeZone());
}

std::string WarningList(const tap::TapResult& r, absl::string_view sep) {
  std::vector<absl::string_view> names;
  for (int w = tap::kFirstWarning; w <= tap::kLastWarning; ++w) {
    if (r.warnings & (1u << w))
      names.push_back(tap::TapWarningName(static_cast<tap::TapWarning>(w)));
  }
  return absl::StrJoin(names, sep);
}

std::string CsvQuote(absl::string_view s) {
  if (s.find_first_of(",\"\n") == absl::string_view::npos) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

class Printer {
 public:
  Printer(OutputFormat format, std::ostream* out) : format_(format), out_(out) {
    json_options_.add_whitespace = false;
  }

  void Header() {
    if (format_ == OutputFormat::kCsv) {
      *out_ << "index,status,record_id,record_type,tap_time,terminal_id,fare_product,zone_route,"
               "card_uid,mac,warnings,corrected_tap_time,key_name,error,raw_hex\n";
    } else if (format_ == OutputFormat::kTable) {
      char line[160];
      std::snprintf(line, sizeof(line), "%-7s %-8s %-8s %-20s %-8s %-5s %-4s %-16s %s\n", "INDEX",
                    "STATUS", "TYPE", "TAP TIME (UTC)", "TERMINAL", "FARE", "ZONE", "CARD UID",
                    "WARNINGS / ERROR");
      *out_ << line;
    }
  }

  void Print(const tap::TapResult& r) {
    switch (format_) {
      case OutputFormat::kJson: {
        ToProto(r, &proto_);
        json_.clear();
        (void)google::protobuf::util::MessageToJsonString(proto_, &json_, json_options_);
        *out_ << json_ << '\n';
        break;
      }
      case OutputFormat::kCsv:
        PrintCsv(r);
        break;
      case OutputFormat::kTable:
        PrintRow(r);
        break;
    }
  }

 private:
  void PrintCsv(const tap::TapResult& r) {
    const bool ok = r.status != tap::TapStatus::kRejected;
    const tap::TapFields& f = r.fields;
    *out_ << r.index << ',' << tap::TapStatusName(r.status) << ',';
    if (ok) {
      *out_ << r.RecordId() << ',' << tap::RecordTypeName(f.type) << ',' << FormatTime(f.timestamp)
            << ',' << f.terminal_id << ',' << f.fare_product << ',' << f.zone_route << ','
            << HexEncode(ByteSpan(f.uid, tap::kUidLength)) << ','
            << HexEncode(ByteSpan(f.mac, tap::kMacLength)) << ',' << WarningList(r, ";") << ','
            << (r.has_clock_offset ? FormatTime(r.corrected_time) : "") << ','
            << (r.key_name ? *r.key_name : "") << ",,";
    } else {
      *out_ << ",,,,,,,,,,,," << CsvQuote(r.ErrorText()) << ',';
    }
    *out_ << HexEncode(r.raw) << '\n';
  }

  void PrintRow(const tap::TapResult& r) {
    char line[512];
    if (r.status == tap::TapStatus::kRejected) {
      std::snprintf(line, sizeof(line), "%-7llu %-8s %s\n",
                    static_cast<unsigned long long>(r.index), "REJECTED", r.ErrorText().c_str());
    } else {
      const tap::TapFields& f = r.fields;
      std::snprintf(line, sizeof(line), "%-7llu %-8s %-8s %-20s %06x   %-5u %-4u %-16s %s\n",
                    static_cast<unsigned long long>(r.index),
                    std::string(tap::TapStatusName(r.status)).c_str(),
                    std::string(tap::RecordTypeName(f.type)).c_str(),
                    FormatTime(f.timestamp).c_str(), f.terminal_id, f.fare_product, f.zone_route,
                    HexEncode(ByteSpan(f.uid, tap::kUidLength)).c_str(),
                    WarningList(r, ",").c_str());
    }
    *out_ << line;
  }

  OutputFormat format_;
  std::ostream* out_;
  v1::TapResult proto_;
  std::string json_;
  google::protobuf::util::JsonPrintOptions json_options_;
};

// Sets *target from option `name` when it is given; INVALID_ARGUMENT naming the option when
// its value is not a number in [lo, hi].
template <typename T>
absl::Status IntOption(const ArgParser& args, const std::string& name, int64_t lo, int64_t hi,
                       T* target) {
  std::optional<std::string> v = args.Value(name);
  if (!v) return absl::OkStatus();
  int64_t n = 0;
  if (!absl::SimpleAtoi(*v, &n) || n < lo || n > hi) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, " must be a number from ", lo, " to ", hi, ", got '", *v, "'"));
  }
  *target = static_cast<T>(n);
  return absl::OkStatus();
}

// Options of the local parser that have no meaning with --server (the server uses its own
// key store, tables and clock settings).
constexpr const char* kLocalOnlyOptions[] = {
    "keys",     "mac-key",  "terminals",       "tariffs",
    "min-year", "max-year", "clock-tolerance", "dedup-window"};

// Sends the records of `in` through TapService.ParseTapStream and prints the results as they
// come back. Unreadable input lines travel as empty records (the server rejects them at the
// same index) and are printed with the local reason, as the local parser does.
int ParseOnServer(const ArgParser& args, std::istream* in, const std::string& path,
                  tap::InputFormat input_format, TapOutput output) {
  absl::StatusOr<client::ClientOptions> options = ConnectionOptions(args);
  if (!options.ok()) {
    std::cerr << "desfirectl taps parse: " << options.status().message() << "\n";
    return kExitUsage;
  }
  absl::StatusOr<std::unique_ptr<client::Client>> client =
      client::Client::Create(*std::move(options));
  if (!client.ok()) {
    std::cerr << "desfirectl taps parse: " << client.status().message() << "\n";
    return kExitUsage;
  }
  std::unique_ptr<tap::TapInputReader> reader = tap::NewTapInputReader(input_format, in);
  // Drawn from the writer thread while the stream runs, finished here after it.
  Progress progress(!args.Has("no-progress") && isatty(STDERR_FILENO), InputSize(path));

  // `next` runs on the stream's writer thread, `on_results` on this one.
  absl::Mutex mu;
  std::map<uint64_t, std::string> unreadable;  // guarded by mu
  absl::Status input_error;                    // guarded by mu
  tap::TapInputRecord rec;
  uint64_t index = 0;
  auto next = [&](v1::TapInput* input) -> absl::StatusOr<bool> {
    absl::StatusOr<bool> more = reader->Next(&rec);
    if (!more.ok()) {
      absl::MutexLock lock(&mu);
      input_error = more.status();
      return more.status();
    }
    if (!*more) return false;
    if (!rec.error.empty()) {
      absl::MutexLock lock(&mu);
      unreadable[index] = rec.error;
    } else {
      input->set_raw(AsString(rec.bytes));
      if (rec.backend_time) input->mutable_backend_time()->set_seconds(*rec.backend_time);
    }
    ++index;
    progress.Tick(index, reader->bytes_read());
    return true;
  };
  V1TapPrinter printer(output, &std::cout);
  bool header_printed = false;  // not before the server answers (no header over an error)
  v1::TapResult patched;
  auto on_results = [&](const v1::ParseTapStreamResponse& response) {
    if (!header_printed) {
      printer.Header();
      header_printed = true;
    }
    for (const v1::TapResult& r : response.results()) {
      std::string local_error;
      {
        absl::MutexLock lock(&mu);
        if (auto it = unreadable.find(r.index()); it != unreadable.end()) {
          local_error = std::move(it->second);
          unreadable.erase(it);
        }
      }
      if (local_error.empty()) {
        printer.Print(r);
        continue;
      }
      patched = r;
      patched.set_error(local_error);
      printer.Print(patched);
    }
  };
  client::TapStreamOptions stream_options;
  if (args.Has("timeout")) stream_options.timeout = (*client)->options().deadline;
  absl::StatusOr<v1::TapSummary> summary =
      (*client)->ParseTapStream(next, on_results, stream_options);
  progress.Done();
  std::cout.flush();
  {
    absl::MutexLock lock(&mu);
    if (!input_error.ok()) {
      std::cerr << "desfirectl taps parse: " << (path == "-" ? "stdin" : path) << ": "
                << input_error.message() << "\n";
      return kExitInput;
    }
  }
  if (!summary.ok()) return ReportCallError("taps parse", summary.status());
  if (!header_printed) printer.Header();  // an empty input
  int exit_code = kExitOk;
  if (in->bad()) {
    std::cerr << "desfirectl taps parse: read error on " << path << "\n";
    exit_code = kExitInput;
  }
  for (const std::string& notice : reader->notices()) {
    std::cerr << "desfirectl taps parse: note: " << notice << "\n";
  }
  if (!args.Has("no-summary")) std::cerr << TapSummaryText(*summary) << "\n";
  return exit_code;
}

}  // namespace

int TapsParse(int argc, char** argv) {
  ArgParser args(
      "desfirectl taps parse",
      "Parse DESFire tap records (docs/tap-record-format.md) from FILE, or stdin with "
      "'-'.\nEvery record gets a result; flagged and rejected records are data, not "
      "failures.\nA summary goes to stderr. With --server the records are parsed by desfired\n"
      "(TapService.ParseTapStream) with the server's keys and tables.",
      "FILE|-");
  args.Option("format", "auto|hex|bin|csv",
              "input format; auto picks by file name (.csv, .bin/.dat/.raw, else hex)");
  args.Option("keys", "FILE", "key store with tap rules (docs/key-store.md; mode 0600)");
  args.Option("mac-key", "HEX", "one static AES-128 key (AES128_CMAC) for every record");
  args.Option("terminals", "FILE", "terminal registry CSV (terminal_id,name)");
  args.Option("tariffs", "FILE", "tariff table CSV (fare_product,name)");
  args.Flag("json", "print one JSON result per line (proto3 JSON of desfired.v1.TapResult)");
  args.Flag("csv", "print CSV");
  args.Flag("table", "print a readable table (the default when stdout is a terminal)");
  args.Option("min-year", "YEAR", "clock plausibility window start (default 2020)");
  args.Option("max-year", "YEAR", "clock plausibility window end (default 2035)");
  args.Option("clock-tolerance", "SECONDS", "allowed distance from backend time (default 5)");
  args.Option("dedup-window", "SECONDS", "duplicate window in tap time (default 86400)");
  args.Flag("no-summary", "do not print the summary to stderr");
  args.Flag("no-progress", "do not show progress on a terminal");
  AddConnectionOptions(args, /*server_env=*/false);
  if (absl::Status s = args.Parse(argc, argv); !s.ok()) {
    std::cerr << "desfirectl taps parse: " << s.message() << "\n"
              << "run 'desfirectl taps parse --help' for usage\n";
    return kExitUsage;
  }
  if (args.help_requested()) {
    std::cout << args.Usage();
    return kExitOk;
  }
  auto usage_error = [](absl::string_view message) {
    std::cerr << "desfirectl taps parse: " << message << "\n";
    return kExitUsage;
  };
  if (args.positionals().size() != 1) {
    return usage_error("expected exactly one input (a file name, or - for stdin)");
  }
  const std::string path = args.positionals()[0];
  const int formats = args.Has("json") + args.Has("csv") + args.Has("table");
  if (formats > 1) return usage_error("choose one of --json, --csv and --table");

  if (args.Has("server")) {
    for (const char* local : kLocalOnlyOptions) {
      if (args.Has(local)) {
        return usage_error(absl::StrCat("--", local,
                                        " is for the local parser; with --server the server's "
                                        "keys, tables and clock settings apply"));
      }
    }
    tap::InputFormat input_format = tap::GuessInputFormat(path == "-" ? "" : path);
    if (std::optional<std::string> f = args.Value("format"); f && *f != "auto") {
      std::optional<tap::InputFormat> parsed = tap::ParseInputFormat(*f);
      if (!parsed) return usage_error(absl::StrCat("unknown --format '", *f, "'"));
      input_format = *parsed;
    }
    std::ifstream file;
    std::istream* in = &std::cin;
    if (path != "-") {
      file.open(path, std::ios::binary);
      if (!file) {
        std::cerr << "desfirectl taps parse: cannot open " << path << "\n";
        return kExitInput;
      }
      in = &file;
    }
    TapOutput output = isatty(STDOUT_FILENO) ? TapOutput::kTable : TapOutput::kJson;
    if (args.Has("json")) output = TapOutput::kJson;
    if (args.Has("csv")) output = TapOutput::kCsv;
    if (args.Has("table")) output = TapOutput::kTable;
    return ParseOnServer(args, in, path, input_format, output);
  }

  tap::TapPipelineConfig config;
  for (absl::Status s : {IntOption(args, "min-year", 1970, 2106, &config.parser.min_year),
                         IntOption(args, "max-year", 1970, 2106, &config.parser.max_year),
                         IntOption(args, "clock-tolerance", 0, int64_t{1} << 32,
                                   &config.reconciler.clock_tolerance_seconds),
                         IntOption(args, "dedup-window", 0, int64_t{1} << 32,
                                   &config.reconciler.dedup_window_seconds)}) {
    if (!s.ok()) return usage_error(s.message());
  }

  keys::KeyStore store;
  if (std::optional<std::string> keys_path = args.Value("keys")) {
    absl::StatusOr<keys::KeyStore> loaded = keys::KeyStore::LoadFile(*keys_path);
    if (!loaded.ok()) return usage_error(loaded.status().message());
    store = std::move(*loaded);
  }
  if (std::optional<std::string> hex = args.Value("mac-key")) {
    absl::StatusOr<Bytes> key = HexDecode(*hex);
    if (!key.ok()) {
      return usage_error(absl::StrCat("--mac-key is not hex (", key.status().message(), ")"));
    }
    if (key->size() != 16) {
      return usage_error(
          absl::StrCat("--mac-key must be an AES-128 key of 16 bytes (32 hex "
                       "digits), got ",
                       key->size(), " bytes"));
    }
    if (absl::Status s = store.AddKey("mac-key", crypto::KeyType::kAes128, std::move(*key));
        !s.ok()) {
      return usage_error(s.message());
    }
    if (absl::Status s = store.SetStaticTapRule("mac-key", crypto::MacAlgorithm::kAes128Cmac);
        !s.ok()) {
      return usage_error(s.message());
    }
  }
  std::optional<tap::IdTable> terminals, tariffs;
  if (std::optional<std::string> p = args.Value("terminals")) {
    absl::StatusOr<tap::IdTable> t = tap::IdTable::LoadCsvFile(*p, "terminal_id", 0xFFFFFF);
    if (!t.ok()) return usage_error(t.status().message());
    terminals = std::move(*t);
    config.terminals = &*terminals;
  }
  if (std::optional<std::string> p = args.Value("tariffs")) {
    absl::StatusOr<tap::IdTable> t = tap::IdTable::LoadCsvFile(*p, "fare_product", 0xFFFF);
    if (!t.ok()) return usage_error(t.status().message());
    tariffs = std::move(*t);
    config.tariffs = &*tariffs;
  }
  config.keys = &store;

  tap::InputFormat input_format = tap::GuessInputFormat(path == "-" ? "" : path);
  if (std::optional<std::string> f = args.Value("format"); f && *f != "auto") {
    std::optional<tap::InputFormat> parsed = tap::ParseInputFormat(*f);
    if (!parsed) return usage_error(absl::StrCat("unknown --format '", *f, "'"));
    input_format = *parsed;
  }

  absl::StatusOr<std::unique_ptr<tap::TapPipeline>> pipeline = tap::TapPipeline::Create(config);
  if (!pipeline.ok()) return usage_error(pipeline.status().message());

  std::ifstream file;
  std::istream* in = &std::cin;
  if (path != "-") {
    file.open(path, std::ios::binary);
    if (!file) {
      std::cerr << "desfirectl taps parse: cannot open " << path << "\n";
      return kExitInput;
    }
    in = &file;
  }
  std::ios::sync_with_stdio(false);

  OutputFormat output = isatty(STDOUT_FILENO) ? OutputFormat::kTable : OutputFormat::kJson;
  if (args.Has("json")) output = OutputFormat::kJson;
  if (args.Has("csv")) output = OutputFormat::kCsv;
  if (args.Has("table")) output = OutputFormat::kTable;

  Printer printer(output, &std::cout);
  Progress progress(!args.Has("no-progress") && isatty(STDERR_FILENO), InputSize(path));
  printer.Header();
  std::unique_ptr<tap::TapInputReader> reader = tap::NewTapInputReader(input_format, in);
  tap::TapInputRecord rec;
  tap::TapResult result;
  uint64_t index = 0;
  int exit_code = kExitOk;
  while (true) {
    absl::StatusOr<bool> more = reader->Next(&rec);
    if (!more.ok()) {
      progress.Done();
      std::cerr << "desfirectl taps parse: " << (path == "-" ? "stdin" : path) << ": "
                << more.status().message() << "\n";
      exit_code = kExitInput;
      break;
    }
    if (!*more) break;
    if (!rec.error.empty()) {
      (*pipeline)->ProcessUnreadable(index, {}, rec.error, &result);
    } else {
      (*pipeline)->Process(index, rec.bytes, rec.backend_time, &result);
    }
    printer.Print(result);
    ++index;
    progress.Tick(index, reader->bytes_read());
  }
  progress.Done();
  std::cout.flush();
  if (in->bad()) {
    std::cerr << "desfirectl taps parse: read error on " << path << "\n";
    exit_code = kExitInput;
  }
  for (const std::string& notice : reader->notices()) {
    std::cerr << "desfirectl taps parse: note: " << notice << "\n";
  }
  if (!args.Has("no-summary")) {
    std::cerr << (*pipeline)->summary().ToText() << "\n";
  }
  return exit_code;
}

}  // namespace desfired::cli
