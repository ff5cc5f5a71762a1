// desfirectl taps parse: parse tap records from a file or stdin, locally or (--server) by
// desfired; either way the results are core results, printed by one TapPrinter.
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/cli/commands.h"
#include "client/cli/progress.h"
#include "client/cli/server_command.h"
#include "client/cli/tap_output.h"
#include "client/desfired_client.h"
#include "core/keys/key_store.h"
#include "core/pkcs11/bind.h"
#include "core/tap/input.h"
#include "core/tap/parallel_parse.h"
#include "core/tap/pipeline.h"
#include "core/util/status_macros.h"
#include "proto/convert/tap_convert.h"

namespace desfired::cli {
namespace {

constexpr char kCommand[] = "desfirectl taps parse";

// The name ReportLocalError gives the command.
constexpr char kName[] = "taps parse";

// A failure: "desfirectl taps parse: message" on stderr, or with --json one JSON object
// (docs/cli.md, "Errors"). Returns `exit_code`.
int Fail(const ArgParser& args, int exit_code, const absl::Status& status) {
  return ReportLocalError(kName, exit_code, status, args.Has("json"));
}

// A usage error (with a pointer to --help); returns kExitUsage.
int UsageError(const ArgParser& args, absl::string_view message) {
  return Fail(args, kExitUsage, absl::InvalidArgumentError(message));
}

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

// --mac-key: one static AES-128 key (AES128_CMAC) added to `store` for every record.
// INVALID_ARGUMENT for a value that is not such a key.
absl::Status MacKeyOption(const ArgParser& args, keys::KeyStore* store) {
  std::optional<std::string> hex = args.Value("mac-key");
  if (!hex) return absl::OkStatus();
  absl::StatusOr<Bytes> key = HexDecode(*hex);
  if (!key.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--mac-key is not hex (", key.status().message(), ")"));
  }
  if (key->size() != 16) {
    return absl::InvalidArgumentError(
        absl::StrCat("--mac-key must be an AES-128 key of 16 bytes (32 hex digits), got ",
                     key->size(), " bytes"));
  }
  if (absl::Status s = store->AddKey("mac-key", crypto::KeyType::kAes128, std::move(*key));
      !s.ok()) {
    return s;
  }
  return store->SetStaticTapRule("mac-key", crypto::MacAlgorithm::kAes128Cmac);
}

// The table of option `name` (a CSV file with an `id_column`), loaded into *table with
// *target pointing at it; nothing when the option is absent. The file's error otherwise.
absl::Status TableOption(const ArgParser& args, const std::string& name,
                         absl::string_view id_column, uint32_t max_id,
                         std::optional<tap::IdTable>* table, const tap::IdTable** target) {
  std::optional<std::string> path = args.Value(name);
  if (!path) return absl::OkStatus();
  absl::StatusOr<tap::IdTable> loaded = tap::IdTable::LoadCsvFile(*path, id_column, max_id);
  if (!loaded.ok()) return loaded.status();
  *table = std::move(*loaded);
  *target = &**table;
  return absl::OkStatus();
}

// Options of the local parser that have no meaning with --server (the server uses its own
// key store, tables and clock settings).
constexpr const char* kLocalOnlyOptions[] = {
    "keys",     "mac-key",         "terminals",    "tariffs", "min-year",
    "max-year", "clock-tolerance", "dedup-window", "threads"};

// --format, or (absent or auto) the format the file name suggests; INVALID_ARGUMENT for an
// unknown one.
absl::StatusOr<tap::InputFormat> InputFormatOption(const ArgParser& args, const std::string& path) {
  std::optional<std::string> f = args.Value("format");
  if (!f || *f == "auto") return tap::GuessInputFormat(path == "-" ? "" : path);
  std::optional<tap::InputFormat> parsed = tap::ParseInputFormat(*f);
  if (!parsed) return absl::InvalidArgumentError(absl::StrCat("unknown --format '", *f, "'"));
  return *parsed;
}

// --json, --csv or --table; without them a table on a terminal, JSON otherwise.
TapOutput OutputOption(const ArgParser& args) {
  if (args.Has("json")) return TapOutput::kJson;
  if (args.Has("csv")) return TapOutput::kCsv;
  if (args.Has("table")) return TapOutput::kTable;
  return isatty(STDOUT_FILENO) ? TapOutput::kTable : TapOutput::kJson;
}

// The input: stdin for "-", else `path` opened into `file`. nullptr, after saying so, when the
// file cannot be opened.
std::istream* OpenInput(const ArgParser& args, const std::string& path, std::ifstream& file) {
  if (path == "-") return &std::cin;
  file.open(path, std::ios::binary);
  if (!file) {
    Fail(args, kExitInput, absl::NotFoundError(absl::StrCat("cannot open ", path)));
    return nullptr;
  }
  return &file;
}

// The progress line of an input (drawn only on a terminal, and not with --no-progress).
Progress ProgressOf(const ArgParser& args, const std::string& path) {
  return Progress(!args.Has("no-progress") && isatty(STDERR_FILENO), InputSize(path));
}

// Reports an input that cannot be read on (not a bad record: those are results); returns
// kExitInput.
int InputError(const ArgParser& args, const std::string& path, const absl::Status& status) {
  return Fail(args, kExitInput,
              absl::Status(status.code(),
                           absl::StrCat(path == "-" ? "stdin" : path, ": ", status.message())));
}

// The end of a parse, on stderr: a read error of the input, the reader's notices and, unless
// --no-summary, the summary. Returns kExitInput after a read error, else `exit_code`.
int Finish(const ArgParser& args, const std::istream& in, const std::string& path,
           const std::vector<std::string>& notices, const tap::TapSummary& summary, int exit_code) {
  if (in.bad()) {
    exit_code = Fail(args, kExitInput, absl::DataLossError(absl::StrCat("read error on ", path)));
  }
  // With --json a failure is the one JSON object on stderr: no notes or summary after it.
  if (exit_code != kExitOk && args.Has("json")) return exit_code;
  for (const std::string& notice : notices) {
    std::cerr << kCommand << ": note: " << notice << "\n";
  }
  if (!args.Has("no-summary")) std::cerr << summary.ToText() << "\n";
  return exit_code;
}

// The bytes of the records of a stream that are sent and not answered yet (at most the
// stream's unacknowledged chunks), in order.
class SentRecords {
 public:
  void Add(uint64_t index, ByteSpan bytes) {
    if (sizes_.empty()) first_ = index;
    bytes_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    sizes_.push_back(bytes.size());
  }
  // The bytes of record `index`, the oldest one not taken, into *out. INVALID_ARGUMENT for a
  // result out of order (a record not sent, or answered twice).
  absl::Status Take(uint64_t index, Bytes* out) {
    if (sizes_.empty() || index != first_) {
      return absl::InvalidArgumentError(absl::StrCat("tap result ", index, " out of order"));
    }
    out->assign(bytes_.begin() + static_cast<ptrdiff_t>(taken_),
                bytes_.begin() + static_cast<ptrdiff_t>(taken_ + sizes_.front()));
    taken_ += sizes_.front();
    sizes_.pop_front();
    ++first_;
    if (taken_ > (1u << 16) && 2 * taken_ > bytes_.size()) {
      bytes_.erase(0, taken_);
      taken_ = 0;
    }
    return absl::OkStatus();
  }

 private:
  std::string bytes_;  // the records from taken_ on
  size_t taken_ = 0;
  std::deque<size_t> sizes_;
  uint64_t first_ = 0;  // index of the record at taken_
};

// Sends the records of `in` through TapService.ParseTapStream and prints the results as they
// come back. Unreadable input lines travel as empty records (the server rejects them at the
// same index) and are printed with the local reason, as the local parser does.
int ParseOnServer(const ArgParser& args, std::istream* in, const std::string& path,
                  tap::InputFormat input_format, TapOutput output) {
  absl::StatusOr<client::ClientOptions> options = ConnectionOptions(args);
  if (!options.ok()) return UsageError(args, options.status().message());
  absl::StatusOr<std::unique_ptr<client::Client>> client =
      client::Client::Create(*std::move(options));
  if (!client.ok()) return UsageError(args, client.status().message());
  std::unique_ptr<tap::TapInputReader> reader = tap::NewTapInputReader(input_format, in);
  // Drawn from the writer thread while the stream runs, finished here after it.
  Progress progress = ProgressOf(args, path);

  // `next` runs on the stream's writer thread, `on_results` on this one.
  absl::Mutex mu;
  std::map<uint64_t, std::string> unreadable;  // guarded by mu
  absl::Status input_error;                    // guarded by mu
  // The bytes of the records sent and not answered yet, in order: the results come in the
  // BASIC view, without raw_hex (their record_id and dedup_key follow from their fields).
  SentRecords sent;  // guarded by mu
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
      sent.Add(index, {});
    } else {
      input->set_raw(AsString(rec.bytes));
      if (rec.backend_time) input->mutable_backend_time()->set_seconds(*rec.backend_time);
      absl::MutexLock lock(&mu);
      sent.Add(index, rec.bytes);
    }
    ++index;
    progress.Tick(index, reader->bytes_read());
    return true;
  };
  TapPrinter printer(output, &std::cout);
  bool header_printed = false;  // not before the server answers (no header over an error)
  absl::Status answer_error;    // the first result that is not a core result; none printed after
  tap::TapResult result;
  Bytes raw;
  std::string local_error;
  auto on_results = [&](const v1::ParseTapStreamResponse& response) {
    if (!header_printed) {
      printer.Header();
      header_printed = true;
    }
    if (!answer_error.ok()) return;
    for (const v1::TapResult& r : response.results()) {
      answer_error = FromProto(r, &raw, &result);
      if (!answer_error.ok()) return;
      local_error.clear();
      {
        absl::MutexLock lock(&mu);
        answer_error = sent.Take(r.index(), &raw);
        if (!answer_error.ok()) return;
        if (auto it = unreadable.find(r.index()); it != unreadable.end()) {
          local_error = std::move(it->second);
          unreadable.erase(it);
        }
      }
      result.raw = raw;
      if (!local_error.empty()) {
        result.reject = tap::RejectReason::kUnreadableInput;
        result.reject_detail = 0;
        result.input_error = local_error;
      }
      printer.Print(result);
    }
  };
  client::TapStreamOptions stream_options;
  if (args.Has("timeout")) stream_options.timeout = (*client)->options().deadline;
  stream_options.view = v1::TAP_RESULT_VIEW_BASIC;
  absl::StatusOr<v1::TapSummary> summary =
      (*client)->ParseTapStream(next, on_results, stream_options);
  progress.Done();
  printer.Flush();
  {
    absl::MutexLock lock(&mu);
    if (!input_error.ok()) return InputError(args, path, input_error);
  }
  if (!summary.ok()) {
    return ReportCallError("taps parse", summary.status(), "", args.Has("json"));
  }
  tap::TapSummary core_summary;
  if (answer_error.ok()) answer_error = FromProto(*summary, &core_summary);
  if (!answer_error.ok()) {
    return Fail(args, kExitFailed,
                absl::Status(answer_error.code(), absl::StrCat("desfired's answer is malformed: ",
                                                               answer_error.message())));
  }
  if (!header_printed) printer.Header();  // an empty input
  printer.Flush();
  return Finish(args, *in, path, reader->notices(), core_summary, kExitOk);
}

// Hex and binary input: parsed in chunks on `threads` threads (core/tap/parallel_parse.h),
// the results printed in input order, as ParseLocally would print them.
int ParseInChunks(const ArgParser& args, std::istream* in, const std::string& path,
                  tap::InputFormat input_format, const tap::TapPipelineConfig& config,
                  tap::TapPipeline& pipeline, int threads, TapPrinter& printer,
                  Progress& progress) {
  absl::StatusOr<std::unique_ptr<tap::ParallelTapParser>> parser =
      tap::ParallelTapParser::Create(config, &pipeline, threads);
  if (!parser.ok()) return UsageError(args, parser.status().message());
  // Each worker encodes the chunks it is given with its own encoder; the text is written here,
  // in input order.
  std::vector<TapEncoder> encoders((*parser)->workers());
  const TapOutput format = printer.format();
  absl::Status read = (*parser)->RunEncoded(
      input_format, in,
      [&](size_t worker, const tap::TapResult* results, size_t n, TextBuffer* out) {
        for (size_t i = 0; i < n; ++i)
          TapPrinter::Encode(format, encoders[worker], results[i], out);
      },
      [&](absl::string_view text, uint64_t records) {
        printer.Write(text);
        progress.Tick(records, (*parser)->bytes_read());
      });
  progress.Done();
  const int exit_code = read.ok() ? kExitOk : InputError(args, path, read);
  printer.Flush();
  return Finish(args, *in, path, (*parser)->notices(), pipeline.summary(), exit_code);
}

// Parses the records of `in` through `pipeline`, printing each result as it comes.
int ParseLocally(const ArgParser& args, std::istream* in, const std::string& path,
                 tap::InputFormat input_format, const tap::TapPipelineConfig& config,
                 tap::TapPipeline& pipeline, int threads) {
  std::ios::sync_with_stdio(false);
  TapPrinter printer(OutputOption(args), &std::cout);
  Progress progress = ProgressOf(args, path);
  printer.Header();
  if (input_format != tap::InputFormat::kCsv) {
    return ParseInChunks(args, in, path, input_format, config, pipeline, threads, printer,
                         progress);
  }
  std::unique_ptr<tap::TapInputReader> reader = tap::NewTapInputReader(input_format, in);
  tap::TapInputRecord rec;
  tap::TapResult result;
  uint64_t index = 0;
  int exit_code = kExitOk;
  while (true) {
    absl::StatusOr<bool> more = reader->Next(&rec);
    if (!more.ok()) {
      progress.Done();
      exit_code = InputError(args, path, more.status());
      break;
    }
    if (!*more) break;
    if (!rec.error.empty()) {
      pipeline.ProcessUnreadable(index, {}, rec.error, &result);
    } else {
      pipeline.Process(index, rec.bytes, rec.backend_time, &result);
    }
    printer.Print(result);
    ++index;
    progress.Tick(index, reader->bytes_read());
  }
  progress.Done();
  printer.Flush();
  return Finish(args, *in, path, reader->notices(), pipeline.summary(), exit_code);
}

// --server: the options of the local parser are refused; the records go to desfired.
int TapsParseOnServer(const ArgParser& args, const std::string& path) {
  for (const char* local : kLocalOnlyOptions) {
    if (args.Has(local)) {
      return UsageError(args, absl::StrCat("--", local,
                                           " is for the local parser; with --server the server's "
                                           "keys, tables and clock settings apply"));
    }
  }
  absl::StatusOr<tap::InputFormat> input_format = InputFormatOption(args, path);
  if (!input_format.ok()) return UsageError(args, input_format.status().message());
  std::ifstream file;
  std::istream* in = OpenInput(args, path, file);
  if (in == nullptr) return kExitInput;
  return ParseOnServer(args, in, path, *input_format, OutputOption(args));
}

// The local parser's options into `config`: the clock window and tolerance, the duplicate
// window, and the key store and tables, loaded into *store, *terminals and *tariffs (which
// `config` points at). INVALID_ARGUMENT (or the file's error) for the first bad one.
absl::Status PipelineOptions(const ArgParser& args, keys::KeyStore* store,
                             std::optional<tap::IdTable>* terminals,
                             std::optional<tap::IdTable>* tariffs, tap::TapPipelineConfig* config) {
  DESFIRED_RETURN_IF_ERROR(IntOption(args, "min-year", 1970, 2106, &config->parser.min_year));
  DESFIRED_RETURN_IF_ERROR(IntOption(args, "max-year", 1970, 2106, &config->parser.max_year));
  DESFIRED_RETURN_IF_ERROR(IntOption(args, "clock-tolerance", 0, int64_t{1} << 32,
                                     &config->reconciler.clock_tolerance_seconds));
  DESFIRED_RETURN_IF_ERROR(IntOption(args, "dedup-window", 0, int64_t{1} << 32,
                                     &config->reconciler.dedup_window_seconds));
  if (std::optional<std::string> path = args.Value("keys")) {
    DESFIRED_ASSIGN_OR_RETURN(*store, keys::KeyStore::LoadFile(*path));
    if (store->has_token_keys()) {  // tap rules may name token keys: MACs through the token
      pkcs11::TokenKeyBinder binder;
      DESFIRED_RETURN_IF_ERROR(binder.Bind(*store));
    }
  }
  DESFIRED_RETURN_IF_ERROR(MacKeyOption(args, store));
  DESFIRED_RETURN_IF_ERROR(
      TableOption(args, "terminals", "terminal_id", 0xFFFFFF, terminals, &config->terminals));
  DESFIRED_RETURN_IF_ERROR(
      TableOption(args, "tariffs", "fare_product", 0xFFFF, tariffs, &config->tariffs));
  config->keys = store;
  return absl::OkStatus();
}

// Without --server: the pipeline from the options, then the records of the input.
int TapsParseLocally(const ArgParser& args, const std::string& path) {
  tap::TapPipelineConfig config;
  keys::KeyStore store;
  std::optional<tap::IdTable> terminals, tariffs;
  if (absl::Status s = PipelineOptions(args, &store, &terminals, &tariffs, &config); !s.ok()) {
    return UsageError(args, s.message());
  }
  absl::StatusOr<tap::InputFormat> input_format = InputFormatOption(args, path);
  if (!input_format.ok()) return UsageError(args, input_format.status().message());
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (absl::Status s = IntOption(args, "threads", 1, 256, &threads); !s.ok()) {
    return UsageError(args, s.message());
  }
  absl::StatusOr<std::unique_ptr<tap::TapPipeline>> pipeline = tap::TapPipeline::Create(config);
  if (!pipeline.ok()) return UsageError(args, pipeline.status().message());
  std::ifstream file;
  std::istream* in = OpenInput(args, path, file);
  if (in == nullptr) return kExitInput;
  return ParseLocally(args, in, path, *input_format, config, **pipeline, threads);
}

}  // namespace

int TapsParse(int argc, char** argv) {
  ArgParser args(
      kCommand,
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
  args.Option("threads", "N",
              "parser threads for hex and binary input (default: the number of cores); the "
              "output is the same for any N");
  args.Flag("no-summary", "do not print the summary to stderr");
  args.Flag("no-progress", "do not show progress on a terminal");
  AddConnectionOptions(args, /*server_env=*/false);
  if (absl::Status s = args.Parse(argc, argv); !s.ok()) return UsageError(args, s.message());
  if (args.help_requested()) {
    std::cout << args.Usage();
    return kExitOk;
  }
  if (args.positionals().size() != 1) {
    return UsageError(args, "expected exactly one input (a file name, or - for stdin)");
  }
  const std::string path = args.positionals()[0];
  const int formats = args.Has("json") + args.Has("csv") + args.Has("table");
  if (formats > 1) return UsageError(args, "choose one of --json, --csv and --table");
  return args.Has("server") ? TapsParseOnServer(args, path) : TapsParseLocally(args, path);
}

}  // namespace desfired::cli
