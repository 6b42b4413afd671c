// The contract between kin's benchmark programs and `make bench` (bench/run.sh):
// each bench/<area>_bench executable prints one line per figure,
//     metric=kin.<name> value=<number> unit=<unit>
// (the format of ../shared/bench-peers), honours KIN_BENCH_SCALE (size multiplier, default 1)
// and KIN_BENCH_FILTER (a regex; only figures whose name matches are measured).
#pragma once

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <regex>
#include <string>
#include <vector>

namespace kin::bench {

/// The size multiplier from KIN_BENCH_SCALE (1 = full size, 0.1 = smoke run).
inline double scale() {
  const char* s = std::getenv("KIN_BENCH_SCALE");
  double v = s != nullptr ? std::atof(s) : 1.0;
  return v > 0 ? v : 1.0;
}

/// `n * scale()`, never below `minimum`.
inline long scaled(long n, long minimum = 1) {
  return std::max(minimum, static_cast<long>(static_cast<double>(n) * scale()));
}

/// True when the figure `name` (e.g. "kin.queue.1p1c") is selected by KIN_BENCH_FILTER.
inline bool enabled(const std::string& name) {
  const char* f = std::getenv("KIN_BENCH_FILTER");
  if (f == nullptr || *f == '\0') return true;
  return std::regex_search(name, std::regex(f));
}

/// Prints one figure in the peer kit's format.
inline void emit(const std::string& name, double value, const char* unit) {
  std::printf("metric=%s value=%.6g unit=%s\n", name.c_str(), value, unit);
  std::fflush(stdout);
}

/// The median of samples (latency figures are medians, as in the peer kit).
inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + static_cast<long>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

}  // namespace kin::bench
