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

void ParallelTapParser::WorkerLoop(Worker* worker) {
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
    ParseSlot(*worker, slot);
    absl::MutexLock lock(&mu_);
    slot->done = true;
  }
}

absl::Status ParallelTapParser::Run(InputFormat format, std::istream* in,
                                    absl::FunctionRef<void(const TapResult&)> on_result) {
  format_ = format;
  ChunkReader reader(format, in, chunk_bytes_);
  const bool inline_parse = threads_.empty();
  const size_t max_in_flight = inline_parse ? 1 : 2 * threads_.size() + 1;
  std::deque<std::unique_ptr<Slot>> in_flight;  // in input order
  std::vector<std::unique_ptr<Slot>> spare;
  uint64_t next_index = 0;

  // Waits for the oldest chunk, then reconciles and hands on its results in order.
  auto finish_oldest = [&] {
    std::unique_ptr<Slot> slot = std::move(in_flight.front());
    in_flight.pop_front();
    if (!inline_parse) {
      absl::MutexLock lock(&mu_, absl::Condition(&slot->done));
    }
    for (TapResult& r : slot->results) {
      r.index += next_index;
      pipeline_->Reconcile(std::nullopt, &r);
      on_result(r);
    }
    next_index += slot->results.size();
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
    slot->done = false;
    if (inline_parse) {
      ParseSlot(*workers_[0], slot.get());
    } else {
      absl::MutexLock lock(&mu_);
      queue_.push_back(slot.get());
    }
    in_flight.push_back(std::move(slot));
  }
  while (!in_flight.empty()) finish_oldest();
  notices_ = reader.notices();
  return status;
}

}  // namespace desfired::tap
