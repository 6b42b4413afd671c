// kin::ThreadPoolExecutor: concurrent.futures.ThreadPoolExecutor — submit callables to a set
// of threads of this process and get kin::Future<R> back.
//
//   kin::ThreadPoolExecutor ex{4};                       // 0 / default: min(32, process_cpu_count() + 4)
//   kin::Future<int> f = ex.submit(square, 7);
//   int v = f.result(1s);                                // kin::TimeoutError if not done in 1 s
//   for (int r : ex.map(square, std::vector{1, 2, 3}, 5s)) use(r);
//   ex.shutdown(/*wait=*/true, /*cancel_futures=*/false);  // the destructor does shutdown(true)
//
// Semantics kept from Python: threads start on demand up to max_workers; submit after shutdown
// is a kin::ValueError ("cannot schedule new futures after shutdown"); map submits every item
// at once and yields results in order, each waited for against one deadline counted from the
// map call (kin::TimeoutError), cancelling the rest when it stops early; shutdown(cancel_futures)
// cancels what has not started; an initializer that throws breaks the executor: queued and later
// tasks fail with its exception (BrokenThreadPool). Tasks raise their original exception type.
//
// The submit path costs one allocation (the future's state, which also holds the callable and
// its arguments), one uncontended lock, and a wake-up only when a thread sleeps and none is
// already being woken: workers take tasks in batches and wake each other.
//
// What a crash does: a task that crashes the process takes it down (threads share it; use
// kin::ProcessPoolExecutor to isolate tasks). A running thread cannot be stopped: shutdown(wait)
// waits for running tasks, and Future::cancel(true) does not cancel one that runs.
#pragma once

#include <kin/detail/pull_range.hpp>
#include <kin/errors.hpp>
#include <kin/future.hpp>
#include <kin/thread_pool.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <ranges>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace kin {

/// ThreadPoolExecutor(max_workers, thread_name_prefix, initializer) in Python's keyword order.
struct ThreadPoolExecutorOptions {
  /// 0: min(32, cpu_count() + 4), as Python.
  std::size_t max_workers = 0;
  /// Threads are named prefix_0, prefix_1, ...; empty: "ThreadPoolExecutor-K".
  std::string thread_name_prefix{};
  /// Runs first in every worker thread; if it throws, the executor is broken.
  std::function<void()> initializer{};
};

/// The results of ThreadPoolExecutor::map: an input range of R, in input order.
template <class R>
class ExecutorMapResults : public detail::PullRange<ExecutorMapResults<R>, R> {
 public:
  ExecutorMapResults(std::vector<Future<R>> fs, detail::Deadline deadline)
      : fs_(std::move(fs)), deadline_(deadline) {}
  ExecutorMapResults(const ExecutorMapResults&) = delete;
  ExecutorMapResults& operator=(const ExecutorMapResults&) = delete;
  ExecutorMapResults(ExecutorMapResults&&) noexcept = default;
  ExecutorMapResults& operator=(ExecutorMapResults&&) noexcept = default;
  /// Python's generator close(): what has not started is cancelled.
  ~ExecutorMapResults() { cancel_rest(); }

  /// The next result (nullopt at the end); rethrows a task's exception or kin::TimeoutError,
  /// cancelling the futures not yet started.
  std::optional<R> next() {
    if (pos_ >= fs_.size()) return std::nullopt;
    try {
      auto& f = fs_[pos_];
      if (!f.state()->wait(deadline_)) throw TimeoutError("kin::ThreadPoolExecutor::map: timeout");
      std::optional<R> v{f.result()};
      ++pos_;
      return v;
    } catch (...) {
      ++pos_;
      cancel_rest();
      throw;
    }
  }

  /// The futures behind it.
  [[nodiscard]] const std::vector<Future<R>>& futures() const noexcept { return fs_; }

 private:
  void cancel_rest() noexcept {
    for (std::size_t i = pos_; i < fs_.size(); ++i) {
      if (fs_[i].valid()) fs_[i].state()->cancel();
    }
    pos_ = fs_.size();
  }
  std::vector<Future<R>> fs_;
  detail::Deadline deadline_;
  std::size_t pos_ = 0;
};

class ThreadPoolExecutor {
 public:
  explicit ThreadPoolExecutor(std::size_t max_workers = 0)
      : ThreadPoolExecutor(ThreadPoolExecutorOptions{.max_workers = max_workers}) {}
  explicit ThreadPoolExecutor(ThreadPoolExecutorOptions options)
      : workers_(std::make_shared<detail::WorkerSet>(detail::WorkerSet::Options{
            .threads = options.max_workers != 0 ? options.max_workers : default_max_workers(),
            .initializer = std::move(options.initializer),
            .max_tasks_per_thread = 0,
            .lazy = true,
            .name = "ThreadPoolExecutor",
            .thread_name_prefix = options.thread_name_prefix.empty() ? detail::next_executor_name_prefix()
                                                                     : std::move(options.thread_name_prefix)})) {}
  ThreadPoolExecutor(const ThreadPoolExecutor&) = delete;
  ThreadPoolExecutor& operator=(const ThreadPoolExecutor&) = delete;
  /// shutdown(wait = true), like leaving Python's `with` block.
  ~ThreadPoolExecutor() { shutdown(true); }

  /// Schedules f(args...) and returns its Future.
  template <class F, class... A>
  Future<detail::task_result_t<F, A...>> submit(F&& f, A&&... args) {
    using R = detail::task_result_t<F, A...>;
    auto t = detail::make_task(std::forward<F>(f), std::forward<A>(args)...);
    Future<R> fut{std::static_pointer_cast<detail::ResultState<R>>(t)};
    if (!workers_->submit(t.get())) {
      t->keep.reset();
      throw ValueError("kin::ThreadPoolExecutor: cannot schedule new futures after shutdown");
    }
    return fut;
  }

  /// f over every element (all submitted now); results in input order, against one deadline.
  template <class F, std::ranges::input_range Range, class Rep, class Period>
  auto map(F&& f, Range&& range, std::chrono::duration<Rep, Period> timeout) {
    return map_until(std::forward<F>(f), std::forward<Range>(range), detail::Deadline::after(timeout));
  }
  template <class F, std::ranges::input_range Range>
  auto map(F&& f, Range&& range) {
    return map_until(std::forward<F>(f), std::forward<Range>(range), detail::Deadline::never());
  }

  /// No more submits; with cancel_futures the queued ones are cancelled; with wait, returns
  /// once every running and queued task is done and the threads have exited.
  void shutdown(bool wait = true, bool cancel_futures = false) {
    workers_->shutdown(cancel_futures);
    if (wait) workers_->join();
  }

  /// max_workers.
  [[nodiscard]] std::size_t max_workers() const noexcept { return workers_->threads(); }

 private:
  static std::size_t default_max_workers();

  template <class F, class Range>
  auto map_until(F&& f, Range&& range, detail::Deadline deadline) {
    using Fn = std::decay_t<F>;
    using Item = std::ranges::range_reference_t<Range>;
    using R = std::invoke_result_t<Fn&, Item>;
    static_assert(!std::is_void_v<R>, "kin::ThreadPoolExecutor::map: the function must return a value");
    std::vector<Future<R>> fs;
    if constexpr (std::ranges::sized_range<Range>) fs.reserve(std::ranges::size(range));
    Fn fn(std::forward<F>(f));
    try {
      for (auto&& x : range) fs.push_back(submit(fn, std::forward<decltype(x)>(x)));
    } catch (...) {
      for (auto& fu : fs) fu.cancel();
      throw;
    }
    return ExecutorMapResults<R>(std::move(fs), deadline);
  }

  std::shared_ptr<detail::WorkerSet> workers_;
};

}  // namespace kin
