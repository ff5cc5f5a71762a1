// ParallelTapParser: parses a hex or binary input on several threads, in chunks, with the
// results in input order and exactly the duplicates, clock offsets and summary that one
// TapPipeline gives record by record.
//
// The calling thread reads the input in large blocks (core/tap/input_chunks.h) and hands each
// chunk to a worker, which decodes it and parses its records (TapParser::ParseBatch with its
// own MacVerifier); the calling thread then runs the stateful steps (TapPipeline::Reconcile)
// over each chunk's results in input order and passes every result to `on_result`. With one
// thread everything runs on the calling thread. At most 2 * threads + 1 chunks are in memory,
// so memory is bounded whatever the input size.
//
//   auto parser = *ParallelTapParser::Create(config, pipeline.get(), /*threads=*/4);
//   absl::Status s = parser->Run(InputFormat::kBinary, &in,
//                                [&](const TapResult& r) { printer.Print(r); });
//   ... pipeline->summary(), parser->notices() ...
//
// Thread-compatible: Run() on one thread at a time; `on_result` is called on that thread. The
// config's key store and tables and the pipeline must outlive the parser.
#ifndef DESFIRED_CORE_TAP_PARALLEL_PARSE_H_
#define DESFIRED_CORE_TAP_PARALLEL_PARSE_H_

#include <cstdint>
#include <deque>
#include <istream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/tap/input.h"
#include "core/tap/input_chunks.h"
#include "core/tap/pipeline.h"
#include "core/util/text_buffer.h"

namespace desfired::tap {

class ParallelTapParser {
 public:
  static constexpr size_t kDefaultChunkBytes = 256 * 1024;

  // `config` as given to TapPipeline::Create for `pipeline` (the parser options and keys must
  // be the same). threads >= 1. INVALID_ARGUMENT / INTERNAL when a key cannot be prepared.
  static absl::StatusOr<std::unique_ptr<ParallelTapParser>> Create(
      const TapPipelineConfig& config, TapPipeline* pipeline, int threads,
      size_t chunk_bytes = kDefaultChunkBytes);
  ~ParallelTapParser();  // stops and joins the workers

  // Parses all of `in` (kHex or kBinary). Returns the input's error (DATA_LOSS) after passing
  // on the results of everything read before it.
  absl::Status Run(InputFormat format, std::istream* in,
                   absl::FunctionRef<void(const TapResult&)> on_result);

  // Turns the results of one chunk (reconciled, in input order) into text appended to `out`;
  // called on a worker thread (`worker` < workers(): one call at a time per worker index, so
  // per-worker encoder state needs no lock).
  using EncodeFn =
      absl::FunctionRef<void(size_t worker, const TapResult* results, size_t n, TextBuffer* out)>;
  // Gets the text of each chunk on the calling thread, in input order, with the number of
  // records written so far.
  using WriteFn = absl::FunctionRef<void(absl::string_view text, uint64_t records)>;

  // Run() with the output encoded on the worker threads as well: each chunk is parsed by a
  // worker, reconciled on the calling thread in input order, encoded by a worker into the
  // chunk's own buffer (`encode`) and handed to `write` in input order. The text equals what
  // encoding every result of Run() in order gives, whatever the number of threads.
  absl::Status RunEncoded(InputFormat format, std::istream* in, EncodeFn encode, WriteFn write);

  // The number of workers (`threads` of Create): encode's `worker` is below it.
  size_t workers() const { return workers_.size(); }

  // As TapInputReader::notices() and bytes_read(), for the input of the last Run().
  const std::vector<std::string>& notices() const { return notices_; }
  uint64_t bytes_read() const { return bytes_read_; }

 private:
  struct Slot {
    InputChunk chunk;
    DecodedChunk decoded;
    std::vector<TapResult> results;
    TextBuffer text;      // RunEncoded: the chunk's output
    bool encode = false;  // the next task for a worker: parse (false) or encode (true)
    bool done = false;    // the task is finished; guarded by mu_ while the slot is with a worker
  };
  struct Worker;

  ParallelTapParser(TapPipeline* pipeline, size_t chunk_bytes);
  // Decodes and parses slot->chunk into slot->results (indexes from 0).
  void ParseSlot(Worker& worker, Slot* slot) const;
  // The worker's task for the slot: parse it, or encode its results (encode_).
  void RunTask(size_t worker, Slot* slot);
  // Run() and RunEncoded(): results reconciled in order, then handed on (encode == nullptr)
  // or encoded and written.
  absl::Status RunImpl(InputFormat format, std::istream* in,
                       absl::FunctionRef<void(const TapResult&)>* on_result, EncodeFn* encode,
                       WriteFn* write);
  void WorkerLoop(Worker* worker);

  TapPipeline* pipeline_;
  size_t chunk_bytes_;
  InputFormat format_ = InputFormat::kBinary;     // of the current Run()
  EncodeFn* encode_ = nullptr;                    // of the current RunEncoded()
  std::vector<std::unique_ptr<Worker>> workers_;  // one (used inline) when single-threaded
  std::vector<std::thread> threads_;
  absl::Mutex mu_;
  std::deque<Slot*> queue_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::string> notices_;
  uint64_t bytes_read_ = 0;
};

}  // namespace desfired::tap

#endif  // DESFIRED_CORE_TAP_PARALLEL_PARSE_H_
