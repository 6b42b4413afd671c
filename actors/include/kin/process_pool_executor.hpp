// kin::ProcessPoolExecutor: concurrent.futures.ProcessPoolExecutor over kin::Pool's workers.
//
//   int square(int x) { return x * x; }
//   kin::ProcessPoolExecutor ex{4};
//   kin::Future<int> f = ex.submit(square, 7);
//   f.result(std::chrono::seconds(1));                  // 49, or kin::TimeoutError
//   std::vector<int> v = ex.map(square, std::vector{1, 2, 3}, std::chrono::seconds(5));
//   ex.shutdown(/*wait=*/true, /*cancel_futures=*/false);
//
// Functions are function pointers or capture-less lambdas; arguments and results go through
// kin's codec. Future::cancel() cancels a task that has not started; cancel(true) also stops a
// running one by killing its worker (which is replaced). The destructor is shutdown(true),
// like Python's `with` block.
//
// What a crash does: unlike Python's BrokenProcessPool, a worker's death fails only the future
// it was running (kin::WorkerLost with pid and ExitStatus); the executor keeps serving.
#pragma once

#include <chrono>
#include <memory>
#include <utility>
#include <vector>

#include <kin/future.hpp>
#include <kin/pool.hpp>

namespace kin {

class ProcessPoolExecutor {
 public:
  explicit ProcessPoolExecutor(std::size_t max_workers = 0)
      : ProcessPoolExecutor(PoolOptions{.processes = max_workers}) {}
  explicit ProcessPoolExecutor(PoolOptions options) : pool_(std::make_shared<Pool>(std::move(options), 0)) {}
  ProcessPoolExecutor(const ProcessPoolExecutor&) = delete;
  ProcessPoolExecutor& operator=(const ProcessPoolExecutor&) = delete;
  ~ProcessPoolExecutor() {
    try {
      shutdown(true);
    } catch (...) {  // a destructor must not throw; the pool's own destructor still terminates
    }
  }

  /// Schedules f(args...); ValueError after shutdown.
  template <class F, class... A>
  auto submit(F&& f, A&&... a) {
    auto [st, id] = pool_->submit_task(std::forward<F>(f), std::forward<A>(a)...);
    std::weak_ptr<Pool> wp = pool_;
    st->set_stop_handler([wp, id, s = std::weak_ptr(st)] {
      if (auto p = wp.lock()) p->core().kill_task(id);
      if (auto ss = s.lock()) ss->settle_cancelled();
    });
    using R = typename std::decay_t<decltype(*st)>::value_type;
    return Future<R>{st};
  }

  /// f over every item, in order; the whole call is bounded by `timeout` (TimeoutError).
  template <class F, class Range, class Rep, class Period>
  auto map(F&& f, Range&& r, std::chrono::duration<Rep, Period> timeout, std::size_t chunksize = 1) {
    return pool_->map_async(std::forward<F>(f), std::forward<Range>(r), chunksize).get(timeout);
  }
  template <class F, class Range>
  auto map(F&& f, Range&& r) {
    return pool_->map(std::forward<F>(f), std::forward<Range>(r), 1);
  }

  /// Stops accepting work; cancel_futures drops what has not started; wait joins the workers.
  void shutdown(bool wait = true, bool cancel_futures = false) {
    if (cancel_futures) pool_->core().cancel_pending();
    pool_->close();
    if (wait) pool_->join();
  }

  [[nodiscard]] std::vector<pid_t> worker_pids() const { return pool_->worker_pids(); }

 private:
  // Python's executor hands a worker its next call only when it is free, so a submitted
  // Future stays cancellable until then: prefetch 0 unless PoolOptions::prefetch says
  // otherwise. Short tasks (see PoolOptions::prefetch) are sent ahead in batches all the same.
  std::shared_ptr<Pool> pool_;
};

}  // namespace kin
