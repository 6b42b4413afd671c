// Process pool figures (contract: bench/bench_util.hpp), each on a trivial int -> int task with
// 2 fork workers, set up as ../shared/bench-peers/python_mp.py pool_map measures its peers:
//   kin.pool.map                tasks/s: Pool(2).map(f, range(n)), default chunksize (peer py.pool.map_default_chunksize)
//   kin.pool.map_chunksize1     tasks/s: the same with chunksize 1 (peer py.pool.map_chunksize1)
//   kin.pool.map_maxtasks1000   tasks/s: chunksize 1 with maxtasksperchild=1000 (vs kin.pool.map_chunksize1)
//   kin.pool.apply_async        tasks/s: apply_async n tasks, then get() of each (peer py.pool.apply_async)
//   kin.pool.apply_rtt          us per synchronous apply(f, x) (median; peer py.pool.apply_rtt)
//   kin.ppe.submit              tasks/s: ProcessPoolExecutor(2) submit n, then result() of each (peer py.ppe.submit)
//   kin.ppe.submit_rtt          us per submit(f, x).result() (median; peer py.ppe.submit_rtt)
//   kin.pool.start2             ms to construct a 2-worker pool and run one apply
//   kin.pool.death_detect       ms from SIGKILL of a busy worker to its task's WorkerLost
#include "bench_util.hpp"

#include <kin/pool.hpp>
#include <kin/process_pool_executor.hpp>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ranges>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

int sq(int x) { return x * x; }
int nap(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}

std::atomic<long> g_sink{0};  // results are used, so nothing is optimised away

template <class F>
double median_rate(int reps, long n, F run) {
  std::vector<double> rates;
  run();
  for (int i = 0; i < reps; ++i) {
    const auto t0 = Clock::now();
    run();
    rates.push_back(static_cast<double>(n) / seconds_since(t0));
  }
  return kin::bench::median(rates);
}

template <class F>
double median_us(int n, F once) {
  std::vector<double> us;
  once();
  for (int i = 0; i < n; ++i) {
    const auto t0 = Clock::now();
    once();
    us.push_back(seconds_since(t0) * 1e6);
  }
  return kin::bench::median(us);
}

}  // namespace

int main() {
  const long n = kin::bench::scaled(200000, 1000);
  const long small = kin::bench::scaled(20000, 200);
  const int reps = 5;
  std::vector<int> in(static_cast<std::size_t>(n));
  for (long i = 0; i < n; ++i) in[static_cast<std::size_t>(i)] = static_cast<int>(i);
  std::vector<int> in_small(in.begin(), in.begin() + small);

  if (kin::bench::enabled("kin.pool.map")) {
    kin::Pool pool{2};
    kin::bench::emit("kin.pool.map", median_rate(reps, n, [&] { g_sink += pool.map(sq, in).back(); }), "tasks/s");
  }
  if (kin::bench::enabled("kin.pool.map_chunksize1")) {
    kin::Pool pool{2};
    kin::bench::emit("kin.pool.map_chunksize1",
                     median_rate(reps, small, [&] { g_sink += pool.map(sq, in_small, 1).back(); }), "tasks/s");
  }
  if (kin::bench::enabled("kin.pool.map_maxtasks1000")) {
    kin::Pool pool{kin::PoolOptions{.processes = 2, .maxtasksperchild = 1000}};
    kin::bench::emit("kin.pool.map_maxtasks1000",
                     median_rate(reps, small, [&] { g_sink += pool.map(sq, in_small, 1).back(); }), "tasks/s");
  }
  if (kin::bench::enabled("kin.pool.apply_async")) {
    kin::Pool pool{2};
    std::vector<kin::AsyncResult<int>> rs;
    kin::bench::emit("kin.pool.apply_async", median_rate(reps, small, [&] {
                       rs.clear();
                       for (long i = 0; i < small; ++i) rs.push_back(pool.apply_async(sq, static_cast<int>(i)));
                       for (auto& r : rs) g_sink += r.get();
                     }),
                     "tasks/s");
  }
  if (kin::bench::enabled("kin.pool.apply_rtt")) {
    kin::Pool pool{2};
    kin::bench::emit("kin.pool.apply_rtt", median_us(2000, [&] { g_sink += pool.apply(sq, 3); }), "us");
  }
  if (kin::bench::enabled("kin.ppe.submit")) {
    kin::ProcessPoolExecutor ex{2};
    std::vector<kin::Future<int>> fs;
    kin::bench::emit("kin.ppe.submit", median_rate(reps, small, [&] {
                       fs.clear();
                       for (long i = 0; i < small; ++i) fs.push_back(ex.submit(sq, static_cast<int>(i)));
                       for (auto& f : fs) g_sink += f.result();
                     }),
                     "tasks/s");
  }
  if (kin::bench::enabled("kin.ppe.submit_rtt")) {
    kin::ProcessPoolExecutor ex{2};
    kin::bench::emit("kin.ppe.submit_rtt", median_us(2000, [&] { g_sink += ex.submit(sq, 3).result(); }), "us");
  }
  if (kin::bench::enabled("kin.pool.start2")) {
    kin::bench::emit("kin.pool.start2", median_us(20, [&] {
                       kin::Pool pool{2};
                       g_sink += pool.apply(sq, 2);
                     }) / 1000.0,
                     "ms");
  }
  if (kin::bench::enabled("kin.pool.death_detect")) {
    kin::Pool pool{1};
    std::vector<double> ms;
    for (int i = 0; i < 20; ++i) {
      auto r = pool.apply_async(nap, 10000);
      while (!r.state()->running()) std::this_thread::yield();
      std::this_thread::sleep_for(std::chrono::milliseconds(2));  // the worker has the task
      const auto t0 = Clock::now();
      ::kill(pool.worker_pids().at(0), SIGKILL);
      r.wait();
      ms.push_back(seconds_since(t0) * 1e3);
    }
    kin::bench::emit("kin.pool.death_detect", kin::bench::median(ms), "ms");
  }
  return 0;
}
