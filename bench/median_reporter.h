// MedianReporter: Google Benchmark's console output, keeping for each benchmark function its
// median run (with --benchmark_repetitions) or its only run, for a summary printed after all
// runs (ratios against a reference measured in the same run).
//
//   MedianReporter reporter;
//   benchmark::RunSpecifiedBenchmarks(&reporter);
//   if (const auto* f = reporter.Find("BM_AesFile")) ... f->GetAdjustedRealTime() ...
//
// Thread-compatible: Google Benchmark reports from the main thread.
#ifndef DESFIRED_BENCH_MEDIAN_REPORTER_H_
#define DESFIRED_BENCH_MEDIAN_REPORTER_H_

#include <benchmark/benchmark.h>

#include <map>
#include <string>
#include <vector>

namespace desfired::bench {

class MedianReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      if (r.run_type == Run::RT_Aggregate && r.aggregate_name != "median") continue;
      medians_.insert_or_assign(r.run_name.function_name, r);
    }
  }
  // The median run of `function_name` ("BM_AesFile"), or nullptr when it did not run.
  const Run* Find(const std::string& function_name) const {
    auto it = medians_.find(function_name);
    return it == medians_.end() ? nullptr : &it->second;
  }
  // Its items_per_second counter in millions (0 when missing).
  double MillionItemsPerSecond(const std::string& function_name) const {
    const Run* r = Find(function_name);
    if (r == nullptr) return 0;
    auto it = r->counters.find("items_per_second");
    return it == r->counters.end() ? 0 : it->second.value / 1e6;
  }

 private:
  std::map<std::string, Run> medians_;
};

}  // namespace desfired::bench

#endif  // DESFIRED_BENCH_MEDIAN_REPORTER_H_
