#include "server/flag_help.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/build_info.h"
#include "server/flag_spelling.h"

namespace desfired::server {
namespace {

struct Group {
  const char* title;
  std::vector<const char*> flags;  // abseil names
};

// The areas of docs/server.md. A flag added without a group here is listed under "Other".
const std::vector<Group>& Groups() {
  static const std::vector<Group> kGroups = {
      {"Listening and connections",
       {"listen", "allow_insecure_remote", "port_file", "max_message_bytes", "handshake_timeout",
        "connection_idle_timeout", "keepalive_time", "keepalive_timeout",
        "max_streams_per_connection", "max_connections", "max_connections_per_address",
        "grpc_memory_quota", "shutdown_grace"}},
      {"Security: TLS, callers, keys",
       {"tls_cert", "tls_key", "tls_client_ca", "tokens", "keys", "max_streams_per_caller",
        "allow_core_dumps", "hash_token"}},
      {"Readers and card calls",
       {"pcsc_socket", "queue_limit", "default_deadline", "max_write_bytes", "originality_keys"}},
      {"Card events (WatchCards) and health",
       {"watch_history", "watch_queue", "watch_write_timeout", "watch_threads",
        "max_health_watchers"}},
      {"Tap records (TapService)",
       {"max_tap_batch", "max_tap_calls", "max_tap_calls_per_caller", "max_tap_inflight_bytes",
        "max_tap_inflight_bytes_per_caller", "max_stream_dedup_entries", "sun_counters",
        "tap_dedup", "tap_dedup_conn", "tap_dedup_connections"}},
      {"Audit ledger", {"data_dir", "ledger_recover", "ledger_verify_interval"}},
      {"Events on NATS JetStream (docs/fleet.md)",
       {"nats", "instance", "nats_creds", "nats_tls_ca", "nats_tls_cert", "nats_tls_key",
        "nats_buffer_dir", "nats_buffer_bytes", "nats_include_uids", "nats_stream",
        "nats_create_stream"}},
      {"Logs and metrics", {"log_format", "log_level", "log_file", "metrics_listen"}},
      {"HTTP API (browsers, scripts)",
       {"http_listen", "http_heartbeat", "http_request_timeout", "http_max_body_bytes",
        "http_max_json_bytes", "http_max_connections_per_address", "http_threads",
        "http_sign_in_failures", "http_session_ttl"}},
      {"Tests only",
       {"testing_crash_after_commit", "testing_crash_before_commit", "testing_crash_after_done"}},
  };
  return kGroups;
}

// A flag of desfired's own sources (not abseil's or a library's).
bool IsOwnFile(absl::string_view file) {
  return absl::StartsWith(file, "server/") || absl::StrContains(file, "/server/");
}

// "…/server/main.cc" → "server/main.cc".
std::string NormalizeFilename(absl::string_view file) {
  const size_t at = file.rfind("/server/");
  return std::string(at == file.npos ? file : file.substr(at + 1));
}

// `text` wrapped at 100 columns, each line indented by six spaces.
std::string Wrapped(absl::string_view text) {
  std::string out;
  std::string line = "     ";
  for (absl::string_view word : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
    if (line.size() + 1 + word.size() > 100 && line.size() > 6) {
      absl::StrAppend(&out, line, "\n");
      line = "     ";
    }
    absl::StrAppend(&line, " ", word);
  }
  absl::StrAppend(&out, line, "\n");
  return out;
}

// `text` with every flag it names ("--tls_key") in the dash spelling ("--tls-key").
std::string FlagNamesDashed(absl::string_view text) {
  std::string out(text);
  for (size_t at = out.find("--"); at != std::string::npos; at = out.find("--", at + 2)) {
    for (size_t i = at + 2; i < out.size() && (absl::ascii_isalnum(out[i]) || out[i] == '_'); ++i) {
      if (out[i] == '_') out[i] = '-';
    }
  }
  return out;
}

std::string FlagEntry(const absl::CommandLineFlag& flag) {
  const std::string value = flag.DefaultValue();
  const std::string shown = flag.IsOfType<std::string>() ? absl::StrCat("\"", value, "\"") : value;
  return absl::StrCat("  --", DashSpelling(std::string(flag.Name())), " (default: ", shown, ")\n",
                      Wrapped(FlagNamesDashed(flag.Help())));
}

}  // namespace

void ConfigureFlagUsage() {
  absl::FlagsUsageConfig config;
  config.contains_helpshort_flags = IsOwnFile;
  config.contains_help_flags = IsOwnFile;
  config.normalize_filename = NormalizeFilename;
  config.version_string = VersionText;
  absl::SetFlagsUsageConfig(config);
}

bool WantsHelp(const std::vector<std::string>& args) {
  for (size_t i = 1; i < args.size() && args[i] != "--"; ++i) {
    if (args[i] == "--help" || args[i] == "-help" || args[i] == "-h") return true;
  }
  return false;
}

std::string FlagHelp() {
  std::map<std::string, const absl::CommandLineFlag*> own;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (IsOwnFile(flag->Filename()) && !flag->IsRetired()) own[std::string(name)] = flag;
  }
  std::string out = absl::StrCat(absl::ProgramUsageMessage(), "\n");
  std::set<std::string> listed;
  auto section = [&](absl::string_view title, const std::vector<std::string>& names) {
    std::string body;
    for (const std::string& name : names) {
      auto it = own.find(name);
      if (it == own.end() || !listed.insert(name).second) continue;
      absl::StrAppend(&body, FlagEntry(*it->second));
    }
    if (!body.empty()) absl::StrAppend(&out, "\n", title, ":\n", body);
  };
  for (const Group& group : Groups()) {
    section(group.title, std::vector<std::string>(group.flags.begin(), group.flags.end()));
  }
  std::vector<std::string> rest;
  for (const auto& [name, flag] : own) rest.push_back(name);
  section("Other", rest);
  absl::StrAppend(
      &out,
      "\nConfig file and abseil's flags:\n"
      "  --flagfile=FILE\n"
      "      read flags from FILE, one --name=value per line (names with underscores there,\n"
      "      e.g. --pcsc_socket=/run/pcscd/pcscd.comm); may be given more than once\n"
      "  --fromenv=NAME,... / --tryfromenv=NAME,...\n"
      "      take the named flags from the environment variables FLAGS_name\n"
      "  --helpfull\n"
      "      every flag by the file defining it, abseil's own too\n"
      "  --version\n"
      "      the version, build type and git revision\n"
      "\nFlags are written with dashes (--pcsc-socket), as desfirectl's and\n"
      "desfired-health-probe's; the underscore spelling of earlier releases (--pcsc_socket)\n"
      "is still accepted for this release.\n");
  return out;
}

}  // namespace desfired::server
