// Thread pool figures (contract: bench/bench_util.hpp), each on a trivial int -> int task, set
// up as ../shared/bench-peers/python_mp.py measures its peers:
//   kin.tpe.submit            tasks/s: ThreadPoolExecutor(4), submit n tasks, then result() of each
//                             (peer py.tpe.submit; goal >= 5 M/s)
//   kin.tpe.submit_rtt        us per synchronous submit(f, x).result() round trip (median of batches)
//   kin.threadpool.map        tasks/s: ThreadPool(2).map(f, range(n)) with the default chunksize
//   kin.threadpool.apply_async tasks/s: ThreadPool(2), apply_async n tasks, then get() of each
// Each figure is the median of a few repetitions after a warm-up (the first run pays for the
// allocator's fresh pages).
#include "bench_util.hpp"

#include <kin/thread_pool.hpp>
#include <kin/thread_pool_executor.hpp>

#include <chrono>
#include <cstdio>
#include <ranges>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

int sq(int x) { return x * x; }

volatile long g_sink = 0;  // results are used, so nothing is optimised away

template <class F>
double median_rate(int reps, long n, F run) {
  std::vector<double> rates;
  run();  // warm-up
  for (int i = 0; i < reps; ++i) {
    const auto t0 = Clock::now();
    run();
    rates.push_back(static_cast<double>(n) / seconds_since(t0));
  }
  return kin::bench::median(rates);
}

}  // namespace

int main() {
  const long n = kin::bench::scaled(200000, 1000);
  const int reps = 5;

  if (kin::bench::enabled("kin.tpe.submit")) {
    kin::ThreadPoolExecutor ex{4};
    std::vector<kin::Future<int>> fs;
    fs.reserve(static_cast<std::size_t>(n));
    const double rate = median_rate(reps, n, [&] {
      fs.clear();
      for (long i = 0; i < n; ++i) fs.push_back(ex.submit(sq, static_cast<int>(i)));
      long s = 0;
      for (auto& f : fs) s += f.result();
      g_sink = s;
    });
    fs.clear();
    kin::bench::emit("kin.tpe.submit", rate, "tasks/s");
  }

  if (kin::bench::enabled("kin.tpe.submit_rtt")) {
    kin::ThreadPoolExecutor ex{4};
    const long m = kin::bench::scaled(2000, 100);
    std::vector<double> us;
    for (int b = 0; b < 10; ++b) {
      const auto t0 = Clock::now();
      long s = 0;
      for (long i = 0; i < m; ++i) s += ex.submit(sq, static_cast<int>(i)).result();
      g_sink = s;
      us.push_back(seconds_since(t0) / static_cast<double>(m) * 1e6);
    }
    kin::bench::emit("kin.tpe.submit_rtt", kin::bench::median(us), "us");
  }

  if (kin::bench::enabled("kin.threadpool.map")) {
    kin::ThreadPool pool{2};
    const long m = kin::bench::scaled(1000000, 1000);
    std::vector<int> in(static_cast<std::size_t>(m));
    for (long i = 0; i < m; ++i) in[static_cast<std::size_t>(i)] = static_cast<int>(i);
    const double rate = median_rate(reps, m, [&] {
      auto out = pool.map(sq, in);
      g_sink = out.back();
    });
    kin::bench::emit("kin.threadpool.map", rate, "tasks/s");
  }

  if (kin::bench::enabled("kin.threadpool.apply_async")) {
    kin::ThreadPool pool{2};
    std::vector<kin::AsyncResult<int>> rs;
    rs.reserve(static_cast<std::size_t>(n));
    const double rate = median_rate(reps, n, [&] {
      rs.clear();
      for (long i = 0; i < n; ++i) rs.push_back(pool.apply_async(sq, static_cast<int>(i)));
      long s = 0;
      for (auto& r : rs) s += r.get();
      g_sink = s;
    });
    rs.clear();
    kin::bench::emit("kin.threadpool.apply_async", rate, "tasks/s");
  }
  return 0;
}
