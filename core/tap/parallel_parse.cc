#include "core/tap/parallel_parse.h"

#include <utility>

#include "core/util/status_macros.h"

namespace desfired::tap {

struct ParallelTapParser::Worker {
  explicit Worker(MacVerifier v, const ParserOptions& options)
      : verifier(std::move(v)), parser(options, &verifier) {}
  MacVerifier verifier;
  TapParser parser;
};

ParallelTapParser::ParallelTapParser(TapPipeline* pipeline, size_t chunk_bytes)
    : pipeline_(pipeline), chunk_bytes_(chunk_bytes) {}

absl::StatusOr<std::unique_ptr<ParallelTapParser>> ParallelTapParser::Create(
    const TapPipelineConfig& config, TapPipeline* pipeline, int threads, size_t chunk_bytes) {
  if (threads < 1) return absl::InvalidArgumentError("threads must be at least 1");
  std::unique_ptr<ParallelTapParser> p(new ParallelTapParser(pipeline, chunk_bytes));
  const keys::KeyStore empty;
  for (int i = 0; i < threads; ++i) {
    DESFIRED_ASSIGN_OR_RETURN(MacVerifier verifier,
                              MacVerifier::Create(config.keys ? *config.keys : empty));
    p->workers_.push_back(std::make_unique<Worker>(std::move(verifier), config.parser));
  }
  if (threads > 1) {
    for (auto& w : p->workers_) {
      p->threads_.emplace_back([raw = p.get(), worker = w.get()] { raw->WorkerLoop(worker); });
    }
  }
  return p;
}

ParallelTapParser::~ParallelTapParser() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  for (std::thread& t : threads_) t.join();
}

void ParallelTapParser::ParseSlot(Worker& worker, Slot* slot) const {
  DecodeChunk(format_, slot->chunk, &slot->decoded);
  const DecodedChunk& d = slot->decoded;
  slot->results.resize(d.records.size());
  worker.parser.ParseBatch(0, d.records.data(), d.records.size(), slot->results.data());
  for (size_t k = 0; k < d.unreadable.size(); ++k) {
    const size_t i = d.unreadable[k];
    TapParser::Unreadable(i, {}, d.errors[k], &slot->results[i]);
  }
}

void ParallelTapParser::RunTask(size_t worker, Slot* slot) {
  if (!slot->encode) return ParseSlot(*workers_[worker], slot);
  slot->text.clear();
  (*encode_)(worker, slot->results.data(), slot->results.size(), &slot->text);
}

void ParallelTapParser::WorkerLoop(Worker* worker) {
  size_t index = 0;
  while (workers_[index].get() != worker) ++index;
  while (true) {
    Slot* slot = nullptr;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](ParallelTapParser* p)
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) { return p->stop_ || !p->queue_.empty(); },
          this));
      if (queue_.empty()) return;  // stopping
      slot = queue_.front();
      queue_.pop_front();
    }
    RunTask(index, slot);
    absl::MutexLock lock(&mu_);
    slot->done = true;
  }
}

absl::Status ParallelTapParser::Run(InputFormat format, std::istream* in,
                                    absl::FunctionRef<void(const TapResult&)> on_result) {
  return RunImpl(format, in, &on_result, nullptr, nullptr);
}

absl::Status ParallelTapParser::RunEncoded(InputFormat format, std::istream* in, EncodeFn encode,
                                           WriteFn write) {
  return RunImpl(format, in, nullptr, &encode, &write);
}

absl::Status ParallelTapParser::RunImpl(InputFormat format, std::istream* in,
                                        absl::FunctionRef<void(const TapResult&)>* on_result,
                                        EncodeFn* encode, WriteFn* write) {
  format_ = format;
  encode_ = encode;
  ChunkReader reader(format, in, chunk_bytes_);
  const bool inline_parse = threads_.empty();
  const size_t max_in_flight = inline_parse ? 1 : 2 * threads_.size() + 1;
  std::deque<std::unique_ptr<Slot>> in_flight;  // in input order
  size_t reconciled = 0;  // the first `reconciled` slots of in_flight are reconciled
  std::vector<std::unique_ptr<Slot>> spare;
  uint64_t next_index = 0;
  uint64_t written = 0;

  // Hands a slot to a worker (or runs its task here when single-threaded).
  auto submit = [&](Slot* slot) {
    if (inline_parse) {
      RunTask(0, slot);
      slot->done = true;
      return;
    }
    absl::MutexLock lock(&mu_);
    slot->done = false;
    queue_.push_back(slot);
  };
  auto wait_done = [&](Slot* slot) {
    if (!inline_parse) absl::MutexLock lock(&mu_, absl::Condition(&slot->done));
  };
  auto is_done = [&](Slot* slot) {
    if (inline_parse) return true;
    absl::MutexLock lock(&mu_);
    return slot->done;
  };
  // Reconciles the parsed slots in order (waiting for the first one when `wait`), handing
  // each to a worker to encode when encoding.
  auto reconcile = [&](bool wait) {
    while (reconciled < in_flight.size()) {
      Slot* slot = in_flight[reconciled].get();
      if (wait) {
        wait_done(slot);
        wait = false;
      } else if (!is_done(slot)) {
        return;
      }
      for (TapResult& r : slot->results) r.index += next_index;
      next_index += slot->results.size();
      pipeline_->ReconcileBatch(nullptr, slot->results.data(), slot->results.size());
      ++reconciled;
      if (encode != nullptr) {
        slot->encode = true;
        submit(slot);
      }
    }
  };
  // Waits for the oldest chunk and hands on its results or its text.
  auto finish_oldest = [&] {
    if (reconciled == 0) reconcile(true);
    std::unique_ptr<Slot> slot = std::move(in_flight.front());
    in_flight.pop_front();
    --reconciled;
    if (encode != nullptr) {
      reconcile(false);  // the next chunks move on while this one is encoded
      wait_done(slot.get());
      written += slot->results.size();
      (*write)(slot->text.view(), written);
    } else {
      for (const TapResult& r : slot->results) (*on_result)(r);
    }
    spare.push_back(std::move(slot));
  };

  absl::Status status;
  while (true) {
    if (in_flight.size() >= max_in_flight) finish_oldest();
    std::unique_ptr<Slot> slot;
    if (spare.empty()) {
      slot = std::make_unique<Slot>();
    } else {
      slot = std::move(spare.back());
      spare.pop_back();
    }
    absl::StatusOr<bool> more = reader.Next(&slot->chunk);
    bytes_read_ = reader.bytes_read();
    if (!more.ok() || !*more) {
      if (!more.ok()) status = more.status();
      break;
    }
    slot->encode = false;
    submit(slot.get());
    in_flight.push_back(std::move(slot));
    reconcile(false);
  }
  while (!in_flight.empty()) finish_oldest();
  notices_ = reader.notices();
  encode_ = nullptr;
  return status;
}

}  // namespace desfired::tap
