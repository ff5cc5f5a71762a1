// desfirectl read, write, records, write-record, clear-records: data files and record files.
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/cli/commands.h"
#include "client/cli/iso_options.h"
#include "client/cli/server_command.h"

namespace desfired::cli {
namespace {

// 16 bytes a line: offset, hex, printable ASCII.
void HexDump(const std::string& data, uint32_t base) {
  for (size_t line = 0; line < data.size(); line += 16) {
    std::string hex, ascii;
    for (size_t i = line; i < line + 16; ++i) {
      if (i < data.size()) {
        const unsigned char c = static_cast<unsigned char>(data[i]);
        absl::StrAppend(&hex, absl::StrFormat("%02x ", c));
        ascii.push_back(c >= 0x20 && c < 0x7F ? static_cast<char>(c) : '.');
      } else {
        hex.append("   ");
      }
      if (i == line + 7) hex.push_back(' ');
    }
    std::cout << absl::StrFormat("%06x  %s |%s|\n", base + line, hex, ascii);
  }
}

// Writes `data` to the file `out` (created or truncated), or to stdout for "-"; returns the
// exit code (kExitInput when it cannot be written).
int WriteOut(const std::string& data, const std::string& out) {
  if (out == "-") {
    std::cout.write(data.data(), static_cast<std::streamsize>(data.size()));
    std::cout.flush();
    return std::cout ? kExitOk : kExitInput;
  }
  std::ofstream file_out(out, std::ios::binary | std::ios::trunc);
  file_out.write(data.data(), static_cast<std::streamsize>(data.size()));
  file_out.close();
  if (!file_out) {
    std::cerr << "desfirectl read: cannot write " << out << "\n";
    return kExitInput;
  }
  std::cerr << "desfirectl read: wrote " << data.size() << " bytes to " << out << "\n";
  return kExitOk;
}

// The records as a table (newest first) and their count.
int PrintRecords(const v1::ReadRecordsResponse& all) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : all.records()) {
    rows.push_back({absl::StrCat(r.offset()), HexOrDash(r.data())});
  }
  if (!rows.empty()) PrintTable({"OFFSET", "DATA (newest first)"}, rows);
  std::cout << all.records_size() << " of " << all.total_records() << " records\n";
  return kExitOk;
}

// The bytes of --data HEX or --in FILE|- (exactly one of them) into *data. The exit code
// when they cannot be had: kExitUsage (said by cmd), or kExitInput for a file that cannot be
// read.
std::optional<int> DataOption(const ServerCommand& cmd, std::string* data) {
  const bool has_data = cmd.args().Has("data");
  std::optional<std::string> in = cmd.args().Value("in");
  if (has_data == in.has_value()) return cmd.UsageError("give exactly one of --data and --in");
  if (has_data) {
    absl::StatusOr<Bytes> bytes = cmd.HexBytes("data");
    if (!bytes.ok()) return cmd.UsageError(bytes.status());
    *data = AsString(*bytes);
  } else {
    std::ifstream file_in;
    std::istream* stream = &std::cin;
    if (*in != "-") {
      file_in.open(*in, std::ios::binary);
      if (!file_in) {
        std::cerr << "desfirectl " << cmd.name() << ": cannot open " << *in << "\n";
        return kExitInput;
      }
      stream = &file_in;
    }
    data->assign(std::istreambuf_iterator<char>(*stream), std::istreambuf_iterator<char>());
    if (stream->bad()) {
      std::cerr << "desfirectl " << cmd.name() << ": read error on " << *in << "\n";
      return kExitInput;
    }
  }
  if (data->empty()) return cmd.UsageError("nothing to write");
  return std::nullopt;
}

// The options of write and write-record after the file options: --offset (`offset_help`),
// --data, --in, --request-id and --defer-commit.
void AddWriteOptions(ServerCommand& cmd, const std::string& offset_help) {
  cmd.args().Option("offset", "N", offset_help);
  cmd.args().Option("data", "HEX", "the bytes, hex");
  cmd.args().Option("in", "FILE|-", "read the bytes from FILE, or from stdin with -");
  cmd.AddRequestId();
  cmd.AddDeferCommit();
}

// Fills a write request (WriteData, WriteRecord) from the options of AddWriteOptions; the
// exit code when that fails.
template <typename Request>
std::optional<int> FillWrite(const ServerCommand& cmd, Request* req) {
  if (absl::Status s = cmd.FileRequest(req); !s.ok()) return cmd.UsageError(s);
  if (absl::Status s = IsoOptionsInto(cmd, req->mutable_iso()); !s.ok()) return cmd.UsageError(s);
  absl::StatusOr<int64_t> offset = cmd.Int("offset", 0, 0xFFFFFF, 0);
  if (!offset.ok()) return cmd.UsageError(offset.status());
  req->set_offset(static_cast<uint32_t>(*offset));
  if (std::optional<int> failed = DataOption(cmd, req->mutable_data())) return failed;
  req->set_request_id(cmd.request_id());
  req->set_defer_commit(cmd.defer_commit());
  return std::nullopt;
}

// write or write-record: `name`, its --help `summary`, the help of --offset, its call, and
// `what` was done (from the request) for the outcome line.
template <typename Request, typename Response, typename What>
int RunWrite(const char* name, const char* summary, const char* offset_help,
             absl::StatusOr<Response> (client::Client::*call)(Request), What what, int argc,
             char** argv) {
  ServerCommand cmd(name, summary);
  cmd.AddFileOptions("a key with write access (omit when writing is free)");
  AddWriteOptions(cmd, offset_help);
  AddIsoOptions(cmd);
  if (std::optional<int> done = cmd.Parse(argc, argv)) return *done;
  Request req;
  if (std::optional<int> failed = FillWrite(cmd, &req)) return *failed;
  return cmd.Call(req, call, [&](const Response& resp) {
    cmd.PrintChangeOutcome(absl::StrCat(what(req), ServerCommand::CommittedText(resp.committed())),
                           resp.replayed());
    return kExitOk;
  });
}

}  // namespace

int Read(int argc, char** argv) {
  ServerCommand cmd("read",
                    "Read bytes of a standard or backup data file. Prints a hex dump, or writes\n"
                    "the raw bytes with --out.");
  cmd.AddFileOptions("a key with read access (omit when reading is free)");
  cmd.args().Option("offset", "N", "first byte (default 0)");
  cmd.args().Option("length", "N", "bytes to read (default 0: to the end of the file)");
  cmd.args().Option("out", "FILE|-", "write the raw bytes to FILE, or to stdout with -");
  AddIsoOptions(cmd);
  if (std::optional<int> done = cmd.Parse(argc, argv)) return *done;
  v1::ReadDataRequest req;
  if (absl::Status s = cmd.FileRequest(&req); !s.ok()) return cmd.UsageError(s);
  if (absl::Status s = IsoOptionsInto(cmd, req.mutable_iso()); !s.ok()) return cmd.UsageError(s);
  absl::StatusOr<int64_t> offset = cmd.Int("offset", 0, 0xFFFFFF, 0);
  if (!offset.ok()) return cmd.UsageError(offset.status());
  absl::StatusOr<int64_t> length = cmd.Int("length", 0, 0xFFFFFF, 0);
  if (!length.ok()) return cmd.UsageError(length.status());
  req.set_offset(static_cast<uint32_t>(*offset));
  req.set_length(static_cast<uint32_t>(*length));
  std::optional<std::string> out = cmd.args().Value("out");
  if (out && cmd.json()) return cmd.UsageError("choose one of --out and --json");

  // With --out there is no --json: the bytes go to the file, or to stdout as they are.
  return cmd.Call(req, &client::Client::ReadData, [&](const v1::ReadDataResponse& resp) {
    if (out) return WriteOut(resp.data(), *out);
    if (resp.data().empty()) {
      std::cout << "(no data)\n";
      return kExitOk;
    }
    HexDump(resp.data(), req.offset());
    return kExitOk;
  });
}

int Write(int argc, char** argv) {
  return RunWrite<v1::WriteDataRequest, v1::WriteDataResponse>(
      "write",
      "Write bytes to a standard or backup data file (a backup file is committed\n"
      "unless --defer-commit).",
      "first byte to write (default 0)", &client::Client::WriteData,
      [](const v1::WriteDataRequest& req) {
        return absl::StrCat("wrote ", req.data().size(), " bytes at offset ", req.offset(),
                            " of file ", req.file_no(), " in ", AidText(req.aid()));
      },
      argc, argv);
}

int WriteRecord(int argc, char** argv) {
  return RunWrite<v1::WriteRecordRequest, v1::WriteRecordResponse>(
      "write-record",
      "Append a record to a linear or cyclic record file (committed unless\n"
      "--defer-commit; the rest of the new record is zero). Retrying with the same\n"
      "--request-id never appends it twice.",
      "first byte to write within the new record (default 0)", &client::Client::WriteRecord,
      [](const v1::WriteRecordRequest& req) {
        return absl::StrCat("wrote a record of ", req.data().size(), " bytes at offset ",
                            req.offset(), " to file ", req.file_no(), " in ", AidText(req.aid()));
      },
      argc, argv);
}

int ClearRecords(int argc, char** argv) {
  ServerCommand cmd("clear-records",
                    "Empty a linear or cyclic record file (committed unless --defer-commit).\n"
                    "Retrying with the same --request-id never applies it twice.");
  cmd.AddFileOptions("a key with read-write access (omit when that is free)");
  cmd.AddRequestId();
  cmd.AddDeferCommit();
  if (std::optional<int> done = cmd.Parse(argc, argv)) return *done;
  v1::ClearRecordFileRequest req;
  if (absl::Status s = cmd.FileRequest(&req); !s.ok()) return cmd.UsageError(s);
  req.set_request_id(cmd.request_id());
  req.set_defer_commit(cmd.defer_commit());

  return cmd.Call(
      req, &client::Client::ClearRecordFile, [&](const v1::ClearRecordFileResponse& resp) {
        cmd.PrintChangeOutcome(
            absl::StrCat("cleared record file ", req.file_no(), " in ", AidText(req.aid()),
                         ServerCommand::CommittedText(resp.committed())),
            resp.replayed());
        return kExitOk;
      });
}

int Records(int argc, char** argv) {
  ServerCommand cmd("records", "Read the records of a linear or cyclic record file, newest first.");
  cmd.AddFileOptions("a key with read access (omit when reading is free)");
  cmd.args().Option("max", "N", "read at most N records (default: all)");
  AddIsoOptions(cmd);
  if (std::optional<int> done = cmd.Parse(argc, argv)) return *done;
  v1::ReadRecordsRequest req;
  if (absl::Status s = cmd.FileRequest(&req); !s.ok()) return cmd.UsageError(s);
  if (absl::Status s = IsoOptionsInto(cmd, req.mutable_iso()); !s.ok()) return cmd.UsageError(s);
  absl::StatusOr<int64_t> max = cmd.Int("max", 1, INT32_MAX, 0);
  if (!max.ok()) return cmd.UsageError(max.status());
  if (*max > 0) req.set_page_size(static_cast<int32_t>(*max));

  return cmd.CallPages(
      req, &client::Client::ReadRecords,
      [&](const v1::ReadRecordsResponse& page, v1::ReadRecordsResponse& all) {
        all.set_total_records(page.total_records());
        for (const auto& r : page.records()) {
          if (*max > 0 && all.records_size() >= *max) break;
          *all.add_records() = r;
        }
        return *max == 0 || all.records_size() < *max;
      },
      PrintRecords);
}

}  // namespace desfired::cli
