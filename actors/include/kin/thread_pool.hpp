// kin::ThreadPool: multiprocessing.pool.ThreadPool — kin::Pool's API, served by threads of this
// process. Use it for blocking I/O, for calls that release no lock anyway, or where arguments
// cannot be copied to another process.
//
//   kin::ThreadPool pool{4};                                   // or ThreadPool{kin::PoolOptions{...}}
//   std::vector<int> sq = pool.map(square, std::vector{1, 2, 3});
//   auto r = pool.apply_async(square, 7, kin::callbacks{on_ok, on_error});
//   for (int v : pool.imap(square, std::views::iota(0), 16)) { if (v > 1000) break; }   // endless input
//   pool.close(); pool.join();                                 // or let the destructor terminate
//
// Semantics kept from Python: apply/map block, *_async return kin::AsyncResult; map chunks its
// input (default chunksize ceil(n / (4 * threads))) and is ready only once every chunk is done,
// raising the first exception; imap yields in order, imap_unordered as chunks complete; close()
// refuses new work, join() (after close or terminate, else ValueError) waits for the workers;
// calls after close are a kin::ValueError ("Pool not running"). Tasks raise their original
// exception type (same process). Callbacks run on the worker thread that completes the result,
// before get() returns; one that throws is reported on stderr and the pool keeps serving.
//
// Beyond Python: imap/imap_unordered pull a lazy (even endless) input only as results are
// consumed — at most a bounded window of chunks is in flight — so memory stays flat; join()
// after close() still feeds an unfinished imap to its end, as Python's eager feeder does.
// terminate() (and the destructor) drops queued tasks, whose results raise kin::CancelledError,
// stops chunks between items, and waits for running tasks: a thread cannot be killed, so a task
// that never returns blocks terminate — the one wait here without a bound.
//
// What a crash does: a task that crashes the process takes the pool with it (threads share the
// process; use kin::Pool to isolate tasks). An exception never does.
#pragma once

#include <kin/async_result.hpp>
#include <kin/detail/pull_range.hpp>
#include <kin/detail/result_state.hpp>
#include <kin/errors.hpp>
#include <kin/pool_options.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace kin {

namespace detail {

/// One unit of work on a WorkerSet's queue (intrusive: the queue allocates nothing).
struct TaskNode {
  TaskNode* next_task = nullptr;
  /// Runs and releases the task. `stop` is the pool's terminate flag (chunks stop early).
  virtual void run(const std::atomic<bool>& stop) noexcept = 0;
  /// Fails and releases a task that will not run: `why` null = cancelled.
  virtual void drop(const std::exception_ptr& why) noexcept = 0;

 protected:
  ~TaskNode() = default;
};

/// Something that still has tasks to submit (an imap with input left): join() drains it.
struct JobFeeder {
  virtual ~JobFeeder() = default;
  virtual void drain() = 0;
};

/// The threads and the queue behind ThreadPool and ThreadPoolExecutor: one mutex-guarded
/// intrusive FIFO; workers take short tasks in batches and wake each other in a cascade, so a
/// producer pays one lock per task and rarely a wake-up, while long tasks spread over the
/// threads one at a time.
/// "ThreadPoolExecutor-K", K counting the executors of this process (Python's default prefix).
std::string next_executor_name_prefix();

class WorkerSet {
 public:
  struct Options {
    std::size_t threads = 1;
    std::function<void()> initializer{};
    std::size_t max_tasks_per_thread = 0;  // 0 = unlimited; else a thread is replaced after that many
    bool lazy = false;                     // start threads on demand (ThreadPoolExecutor)
    const char* name = "ThreadPool";
    /// Threads are named prefix_0, prefix_1, ... (ThreadPoolExecutor's names); empty: "Thread-N
    /// (worker)", as Python's ThreadPool names them.
    std::string thread_name_prefix{};
  };
  explicit WorkerSet(Options options);
  WorkerSet(const WorkerSet&) = delete;
  WorkerSet& operator=(const WorkerSet&) = delete;
  /// terminate() then join().
  ~WorkerSet();

  /// Queues `t`; false (t untouched) when the set no longer accepts new work.
  bool submit(TaskNode* t) { return push(t, t, 1, false); }
  /// Queues the tasks first..last (linked through next_task) with one lock.
  bool submit_chain(TaskNode* first, TaskNode* last, std::size_t n) { return push(first, last, n, false); }
  /// For jobs accepted before close(): allowed until terminate() / the workers are gone.
  bool submit_followup(TaskNode* t) { return push(t, t, 1, true); }
  bool submit_followup_chain(TaskNode* first, TaskNode* last, std::size_t n) { return push(first, last, n, true); }

  /// No new work; the workers finish the queue (and the open jobs) and exit.
  void close();
  /// close(); with cancel_queued the queued tasks are dropped as cancelled.
  void shutdown(bool cancel_queued);
  /// Refuses everything, drops the queue (results: kin::CancelledError), asks running chunks
  /// to stop; the workers exit after their current task.
  void terminate();
  /// Waits until every worker has exited (after close/shutdown/terminate), draining open jobs.
  void join();

  /// An imap with input left registers while it feeds; join() drains it.
  void open_job(std::shared_ptr<JobFeeder> job);
  void close_job(const JobFeeder* job);

  [[nodiscard]] bool accepting() const;
  [[nodiscard]] bool terminated() const { return stop_.load(std::memory_order_acquire); }
  [[nodiscard]] std::size_t threads() const noexcept { return options_.threads; }
  /// The initializer's exception once a thread's initializer failed (the set is then broken).
  [[nodiscard]] std::exception_ptr broken() const;

 private:
  bool push(TaskNode* first, TaskNode* last, std::size_t n, bool followup);
  void start_thread_locked();
  void worker_main(bool run_initializer, std::string name) noexcept;
  void fail_queue_locked(std::unique_lock<std::mutex>& lk, const std::exception_ptr& why);

  Options options_;
  mutable std::mutex m_;
  std::condition_variable work_cv_;
  std::condition_variable exit_cv_;
  TaskNode* head_ = nullptr;
  TaskNode* tail_ = nullptr;
  std::size_t queued_ = 0;
  std::size_t idle_ = 0;
  std::size_t live_ = 0;
  std::size_t busy_ = 0;     // threads running a batch
  std::size_t started_ = 0;  // threads ever started (their names' index)
  bool wake_pending_ = false;
  bool closing_ = false;
  std::atomic<bool> stop_{false};
  std::exception_ptr broken_;
  std::vector<std::thread> threads_;
  std::vector<std::shared_ptr<JobFeeder>> jobs_;
};

/// A submitted call: its result state, its callable and arguments, and its queue link in one
/// allocation (make_shared). The queue's reference is `keep`, released when it ran.
template <class R, class F, class Tuple>
class TaskState final : public ResultState<R>, public TaskNode {
 public:
  using ResultStateType = ResultState<R>;
  TaskState(F f, Tuple args) : f_(std::move(f)), args_(std::move(args)) {}
  void run(const std::atomic<bool>&) noexcept override {
    auto self = std::move(keep);
    if (!start()) return;
    complete_with(*this, [this]() -> R { return std::apply(f_, std::move(args_)); });
  }
  void drop(const std::exception_ptr& why) noexcept override {
    auto self = std::move(keep);
    if (why) {
      this->try_set_exception(why);
    } else {
      this->settle_cancelled();
    }
  }
  std::shared_ptr<void> keep;

 private:
  bool start() noexcept {
    try {
      return this->set_running();
    } catch (...) {
      return false;  // not pending: completed by someone else (a forced settle)
    }
  }
  F f_;
  Tuple args_;
};

template <class F, class... A>
using task_result_t = std::invoke_result_t<std::decay_t<F>&, std::decay_t<A>&&...>;

/// make_shared'ed TaskState for f(args...), with its queue reference set.
template <class F, class... A>
auto make_task(F&& f, A&&... args) {
  using R = task_result_t<F, A...>;
  using Tuple = std::tuple<std::decay_t<A>...>;
  using T = TaskState<R, std::decay_t<F>, Tuple>;
  auto t = std::make_shared<T>(std::forward<F>(f), Tuple(std::forward<A>(args)...));
  t->keep = t;
  return t;
}

/// Where a result vector keeps its values while chunks fill it from several threads:
/// std::vector<bool> packs bits (neighbouring writes would race), and a type that cannot be
/// default-constructed waits in an optional.
template <class R>
using Slot = std::conditional_t<std::is_same_v<R, bool> || !std::is_default_constructible_v<R>, std::optional<R>, R>;

template <class R>
std::vector<R> unslot(std::vector<Slot<R>>&& v) {
  if constexpr (std::is_same_v<Slot<R>, R>) {
    return std::move(v);
  } else {
    std::vector<R> out;
    out.reserve(v.size());
    for (auto& s : v) out.push_back(std::move(*s));
    return out;
  }
}

/// Calls f with one input item: f(item) for map, std::apply(f, item) for starmap.
template <bool Star, class F, class Item>
decltype(auto) call_item(F& f, Item&& item) {
  if constexpr (Star) {
    return std::apply(f, std::forward<Item>(item));
  } else {
    return std::invoke(f, std::forward<Item>(item));
  }
}

template <bool Star, class F, class Item>
using item_result_t = decltype(call_item<Star>(std::declval<F&>(), std::declval<Item&&>()));

template <class R>
using map_value_t = std::conditional_t<std::is_void_v<R>, void, std::vector<R>>;

/// map/starmap: the result state, the inputs, the outputs and the chunks in one object. The
/// chunks count down `left_`; the last one completes the result and releases the job.
template <bool Star, class Item, class F>
class MapJob final : public ResultState<map_value_t<item_result_t<Star, F, Item>>> {
 public:
  using R = item_result_t<Star, F, Item>;

  struct Chunk final : TaskNode {
    MapJob* job = nullptr;
    std::size_t begin = 0, end = 0;
    void run(const std::atomic<bool>& stop) noexcept override { job->run_chunk(begin, end, stop); }
    void drop(const std::exception_ptr& why) noexcept override {
      job->chunk_done(why ? why : std::make_exception_ptr(CancelledError("kin: the pool dropped the task")));
    }
  };

  MapJob(F f, std::vector<Item> items, std::size_t chunksize)
      : f_(std::move(f)), items_(std::move(items)) {
    if constexpr (!std::is_void_v<R>) out_.resize(items_.size());
    const std::size_t n = items_.size();
    const std::size_t chunks = n == 0 ? 0 : (n + chunksize - 1) / chunksize;
    chunks_.resize(chunks);
    for (std::size_t i = 0; i < chunks; ++i) {
      chunks_[i].job = this;
      chunks_[i].begin = i * chunksize;
      chunks_[i].end = std::min(n, (i + 1) * chunksize);
      chunks_[i].next_task = i + 1 < chunks ? &chunks_[i + 1] : nullptr;
    }
    left_.store(chunks, std::memory_order_relaxed);
  }

  /// Queues every chunk (one lock); completes at once for an empty input.
  void start(WorkerSet& ws, const std::shared_ptr<MapJob>& self) {
    if (chunks_.empty()) {
      finish();
      return;
    }
    keep_ = self;
    if (!ws.submit_chain(&chunks_.front(), &chunks_.back(), chunks_.size())) {
      keep_.reset();
      throw ValueError("kin::ThreadPool: Pool not running (closed or terminated)");
    }
  }

 private:
  void run_chunk(std::size_t b, std::size_t e, const std::atomic<bool>& stop) noexcept {
    std::exception_ptr err;
    try {
      for (std::size_t i = b; i < e; ++i) {
        if (stop.load(std::memory_order_relaxed)) {
          err = std::make_exception_ptr(CancelledError("kin: the pool was terminated during the map"));
          break;
        }
        if constexpr (std::is_void_v<R>) {
          call_item<Star>(f_, std::move(items_[i]));
        } else {
          out_[i] = call_item<Star>(f_, std::move(items_[i]));
        }
      }
    } catch (...) {
      err = std::current_exception();
    }
    chunk_done(err);
  }
  void chunk_done(const std::exception_ptr& err) noexcept {
    if (err) {
      std::lock_guard lk{err_m_};
      if (!error_) error_ = err;  // the first failure to arrive wins, as in Python
    }
    // Nothing of this chunk is touched after the decrement: the last chunk frees the job.
    if (left_.fetch_sub(1, std::memory_order_acq_rel) == 1) finish();
  }
  void finish() noexcept {
    auto self = std::move(keep_);
    std::exception_ptr err;
    {
      std::lock_guard lk{err_m_};
      err = error_;
    }
    if (err) {
      this->try_set_exception(err);
    } else if constexpr (std::is_void_v<R>) {
      this->try_set_value();
    } else {
      try {
        this->try_set_value(unslot<R>(std::move(out_)));
      } catch (...) {
        this->try_set_exception(std::current_exception());
      }
    }
  }

  F f_;
  std::vector<Item> items_;
  std::conditional_t<std::is_void_v<R>, char, std::vector<Slot<std::conditional_t<std::is_void_v<R>, int, R>>>> out_{};
  std::vector<Chunk> chunks_;
  std::atomic<std::size_t> left_{0};
  std::mutex err_m_;
  std::exception_ptr error_;
  std::shared_ptr<MapJob> keep_;
};

template <class... A>
struct last_is_callbacks : std::false_type {};
template <class A0, class... A>
struct last_is_callbacks<A0, A...>
    : std::bool_constant<is_callbacks_v<std::tuple_element_t<sizeof...(A), std::tuple<A0, A...>>>> {};
/// True when the last of A... is kin::callbacks (apply_async's optional last argument).
template <class... A>
inline constexpr bool last_is_callbacks_v = last_is_callbacks<A...>::value;

/// Python's default map chunksize: ceil(n / (4 * workers)).
inline std::size_t default_chunksize(std::size_t n, std::size_t workers) {
  if (n == 0) return 1;
  const std::size_t d = 4 * std::max<std::size_t>(workers, 1);
  return std::max<std::size_t>(1, (n + d - 1) / d);
}

/// One imap chunk: its inputs, then its results (or an exception).
template <class R>
struct ImapChunkBase : ResultState<std::vector<Slot<R>>>, TaskNode {
  std::shared_ptr<void> keep;
  std::function<void(ImapChunkBase*)> on_done;  // imap_unordered's inbox
};

template <bool Star, class Item, class F, class R>
struct ImapChunk final : ImapChunkBase<R> {
  ImapChunk(std::shared_ptr<F> f, std::vector<Item> items) : f_(std::move(f)), items_(std::move(items)) {}
  void run(const std::atomic<bool>& stop) noexcept override {
    auto self = std::move(this->keep);
    try {
      std::vector<Slot<R>> out;
      out.reserve(items_.size());
      for (auto& it : items_) {
        if (stop.load(std::memory_order_relaxed)) throw CancelledError("kin: the pool was terminated during imap");
        out.emplace_back(call_item<Star>(*f_, std::move(it)));
      }
      items_.clear();
      this->try_set_value(std::move(out));
    } catch (...) {
      this->try_set_exception(std::current_exception());
    }
  }
  void drop(const std::exception_ptr& why) noexcept override {
    auto self = std::move(this->keep);
    this->try_set_exception(why ? why : std::make_exception_ptr(CancelledError("kin: the pool dropped the task")));
  }
  std::shared_ptr<F> f_;
  std::vector<Item> items_;
};

/// The source side of an imap: pulls chunks from the input (lazily) and queues them.
template <class R>
class ImapSource : public JobFeeder {
 public:
  struct Inbox {
    std::mutex m;
    std::condition_variable cv;
    std::deque<std::shared_ptr<ImapChunkBase<R>>> done;
  };
  /// Next chunk of input, queued; null when the input is exhausted (or the pool refused it:
  /// then the chunk returned already carries the error).
  virtual std::shared_ptr<ImapChunkBase<R>> next_chunk() = 0;
};

template <bool Star, class Range, class F, class R>
class ImapFeed final : public ImapSource<R> {
 public:
  using View = std::views::all_t<Range>;
  using Item = std::remove_cvref_t<std::ranges::range_reference_t<View>>;

  ImapFeed(std::shared_ptr<WorkerSet> ws, Range&& r, F f, std::size_t chunksize, std::size_t window, bool ordered)
      : ws_(std::move(ws)), view_(std::views::all(std::forward<Range>(r))), it_(std::ranges::begin(view_)),
        f_(std::make_shared<F>(std::move(f))), chunksize_(chunksize), window_(window), ordered_(ordered),
        inbox_(std::make_shared<typename ImapSource<R>::Inbox>()) {}

  // ---- consumer side (under m_) ----
  std::mutex m;
  std::deque<std::shared_ptr<ImapChunkBase<R>>> in_flight;  // ordered: submission order
  std::size_t outstanding = 0;                              // unordered: queued, not yet taken
  std::shared_ptr<typename ImapSource<R>::Inbox> inbox() const { return inbox_; }
  [[nodiscard]] bool exhausted() const { return exhausted_; }
  [[nodiscard]] std::size_t window() const { return window_; }
  [[nodiscard]] bool ordered() const { return ordered_; }

  std::shared_ptr<ImapChunkBase<R>> next_chunk() override {
    if (exhausted_) return nullptr;
    std::vector<Item> items;
    items.reserve(chunksize_);
    try {
      for (; items.size() < chunksize_ && it_ != std::ranges::end(view_); ++it_) items.emplace_back(*it_);
    } catch (...) {
      exhausted_ = true;  // the input itself raised: that is the last "result"
      auto c = make_chunk({});
      c->try_set_exception(std::current_exception());
      return c;
    }
    if (it_ == std::ranges::end(view_)) exhausted_ = true;
    if (items.empty()) return nullptr;
    auto c = make_chunk(std::move(items));
    c->keep = c;
    if (!ws_->submit_followup(c.get())) {
      exhausted_ = true;
      c->drop(std::make_exception_ptr(
          ws_->terminated() ? CancelledError("kin::ThreadPool::imap: the pool was terminated")
                            : CancelledError("kin::ThreadPool::imap: the pool was joined before the input ended")));
    }
    return c;
  }

  /// Tops the window up (call with m held).
  void refill() {
    const std::size_t have = ordered_ ? in_flight.size() : outstanding;
    for (std::size_t k = have; k < window_ && !exhausted_; ++k) {
      auto c = next_chunk();
      if (!c) break;
      if (ordered_) {
        in_flight.push_back(std::move(c));
      } else {
        ++outstanding;
      }
    }
    if (exhausted_ && !closed_job_) {
      closed_job_ = true;
      ws_->close_job(this);
    }
  }

  /// join() after close(): feed everything (Python's eager feeder), ignoring the window.
  void drain() override {
    std::lock_guard lk{m};
    while (!exhausted_) {
      auto c = next_chunk();
      if (!c) break;
      if (ordered_) {
        in_flight.push_back(std::move(c));
      } else {
        ++outstanding;
      }
    }
    closed_job_ = true;  // join() forgets it itself
  }
  /// The iterator went away with input left.
  void abandon() {
    std::lock_guard lk{m};
    exhausted_ = true;
    if (!closed_job_) {
      closed_job_ = true;
      ws_->close_job(this);
    }
  }

 private:
  std::shared_ptr<ImapChunkBase<R>> make_chunk(std::vector<Item> items) {
    auto c = std::make_shared<ImapChunk<Star, Item, F, R>>(f_, std::move(items));
    if (!ordered_) {
      std::weak_ptr<typename ImapSource<R>::Inbox> wi = inbox_;
      c->add_done_callback(
          [wi](ResultStateBase& s) {
            if (auto in = wi.lock()) {
              {
                std::lock_guard lk{in->m};
                in->done.push_back(std::static_pointer_cast<ImapChunkBase<R>>(s.shared_from_this()));
              }
              in->cv.notify_all();
            }
          },
          "imap_unordered");
    }
    return c;
  }

  std::shared_ptr<WorkerSet> ws_;  // a feed may outlive its pool (then it only reports the end)
  View view_;
  std::ranges::iterator_t<View> it_;
  std::shared_ptr<F> f_;
  std::size_t chunksize_;
  std::size_t window_;
  bool ordered_;
  bool exhausted_ = false;
  bool closed_job_ = false;
  std::shared_ptr<typename ImapSource<R>::Inbox> inbox_;
};

}  // namespace detail

/// The results of ThreadPool::imap / imap_unordered: an input range, and Python's
/// IMapIterator.next(timeout). A task's exception is raised when its result is reached (for a
/// chunk, once, in place of the chunk's results); iteration may go on after it.
template <class R>
class IMapIterator : public detail::PullRange<IMapIterator<R>, R> {
 public:
  static_assert(!std::is_void_v<R>, "kin imap: the function must return a value (use map for void)");
  IMapIterator(const IMapIterator&) = delete;
  IMapIterator& operator=(const IMapIterator&) = delete;
  IMapIterator(IMapIterator&&) noexcept = default;
  IMapIterator& operator=(IMapIterator&&) noexcept = default;
  ~IMapIterator() {
    if (abandon_) abandon_();
  }

  /// The next result; std::nullopt at the end. Rethrows the task's exception.
  std::optional<R> next() { return next_until(detail::Deadline::never()); }
  /// next() waiting at most `timeout`: kin::TimeoutError (nothing lost: call again).
  template <class Rep, class Period>
  std::optional<R> next(std::chrono::duration<Rep, Period> timeout) {
    return next_until(detail::Deadline::after(timeout));
  }


  /// For adaptors: builds the iterator over a feed (ThreadPool::imap does this).
  template <class Feed>
  static IMapIterator make(std::shared_ptr<Feed> feed, detail::WorkerSet& ws) {
    IMapIterator it;
    {
      std::lock_guard lk{feed->m};
      ws.open_job(feed);
      feed->refill();
    }
    it.take_ = [feed](detail::Deadline d) { return take(*feed, d); };
    it.abandon_ = [feed] { feed->abandon(); };
    return it;
  }

 private:
  IMapIterator() = default;
  using Chunk = detail::ImapChunkBase<R>;

  template <class Feed>
  static std::shared_ptr<Chunk> take(Feed& feed, detail::Deadline d) {
    std::unique_lock lk{feed.m};
    feed.refill();
    if (feed.ordered()) {
      if (feed.in_flight.empty()) return nullptr;
      auto c = feed.in_flight.front();
      lk.unlock();
      if (!c->wait(d)) throw TimeoutError("kin::IMapIterator::next: no result yet (timeout)");
      lk.lock();
      if (!feed.in_flight.empty() && feed.in_flight.front() == c) feed.in_flight.pop_front();
      feed.refill();
      return c;
    }
    if (feed.outstanding == 0) return nullptr;
    lk.unlock();  // drain() (join) may feed meanwhile
    auto in = feed.inbox();
    std::shared_ptr<Chunk> c;
    {
      std::unique_lock ilk{in->m};
      auto have = [&] { return !in->done.empty(); };
      if (d.infinite()) {
        in->cv.wait(ilk, have);
      } else if (!in->cv.wait_until(ilk, d.when(), have)) {
        throw TimeoutError("kin::IMapIterator::next: no result yet (timeout)");
      }
      c = std::move(in->done.front());
      in->done.pop_front();
    }
    lk.lock();
    --feed.outstanding;
    feed.refill();
    return c;
  }

  std::optional<R> next_until(detail::Deadline d) {
    for (;;) {
      if (pos_ < buffer_.size()) {
        auto& s = buffer_[pos_++];
        if constexpr (std::is_same_v<detail::Slot<R>, R>) {
          return std::optional<R>(std::move(s));
        } else {
          return std::move(s);
        }
      }
      buffer_.clear();
      pos_ = 0;
      auto c = take_(d);
      if (!c) return std::nullopt;
      buffer_ = std::move(c->value());  // rethrows the chunk's exception
    }
  }

  std::function<std::shared_ptr<Chunk>(detail::Deadline)> take_;
  std::function<void()> abandon_;
  std::vector<detail::Slot<R>> buffer_;
  std::size_t pos_ = 0;
};

/// multiprocessing.pool.ThreadPool.
class ThreadPool {
 public:
  /// `processes` threads (0: kin::process_cpu_count()).
  explicit ThreadPool(std::size_t processes = 0) : ThreadPool(PoolOptions{.processes = processes}) {}
  explicit ThreadPool(const PoolOptions& options);
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  /// terminate(), like leaving Python's `with Pool() as p:` block.
  ~ThreadPool();

  /// f(args...) on a worker; waits for it and returns its value or rethrows.
  template <class F, class... A>
  detail::task_result_t<F, A...> apply(F&& f, A&&... args) {
    return apply_async(std::forward<F>(f), std::forward<A>(args)...).get();
  }
  /// f(args...) on a worker; the last argument may be kin::callbacks{on_ok, on_error}.
  template <class F, class... A>
  auto apply_async(F&& f, A&&... args) {
    if constexpr (detail::last_is_callbacks_v<A...>) {
      return apply_with_callbacks(std::forward<F>(f), std::forward_as_tuple(std::forward<A>(args)...),
                                  std::make_index_sequence<sizeof...(A) - 1>{});
    } else {
      return submit_task(detail::make_task(std::forward<F>(f), std::forward<A>(args)...));
    }
  }

  /// [f(x) for x in range], chunked (0: Python's default chunksize).
  template <class F, std::ranges::input_range Range>
  auto map(F&& f, Range&& range, std::size_t chunksize = 0) {
    return map_async(std::forward<F>(f), std::forward<Range>(range), chunksize).get();
  }
  template <class F, std::ranges::input_range Range, class OnOk = no_callback, class OnError = no_callback>
  auto map_async(F&& f, Range&& range, std::size_t chunksize = 0, callbacks<OnOk, OnError> cbs = {}) {
    return start_map<false>(std::forward<F>(f), std::forward<Range>(range), chunksize, std::move(cbs));
  }
  template <class F, std::ranges::input_range Range, class OnOk, class OnError>
  auto map_async(F&& f, Range&& range, callbacks<OnOk, OnError> cbs) {
    return start_map<false>(std::forward<F>(f), std::forward<Range>(range), 0, std::move(cbs));
  }
  /// [f(*args) for args in range]: each element a tuple (or pair/array).
  template <class F, std::ranges::input_range Range>
  auto starmap(F&& f, Range&& range, std::size_t chunksize = 0) {
    return starmap_async(std::forward<F>(f), std::forward<Range>(range), chunksize).get();
  }
  template <class F, std::ranges::input_range Range, class OnOk = no_callback, class OnError = no_callback>
  auto starmap_async(F&& f, Range&& range, std::size_t chunksize = 0, callbacks<OnOk, OnError> cbs = {}) {
    return start_map<true>(std::forward<F>(f), std::forward<Range>(range), chunksize, std::move(cbs));
  }
  template <class F, std::ranges::input_range Range, class OnOk, class OnError>
  auto starmap_async(F&& f, Range&& range, callbacks<OnOk, OnError> cbs) {
    return start_map<true>(std::forward<F>(f), std::forward<Range>(range), 0, std::move(cbs));
  }

  /// Results in input order, computed ahead within a bounded window; the input is read lazily
  /// (an lvalue range is referenced: keep it alive while iterating).
  template <class F, std::ranges::input_range Range>
  auto imap(F&& f, Range&& range, std::size_t chunksize = 1) {
    return start_imap<false>(std::forward<F>(f), std::forward<Range>(range), chunksize, true);
  }
  /// As imap, results in completion order.
  template <class F, std::ranges::input_range Range>
  auto imap_unordered(F&& f, Range&& range, std::size_t chunksize = 1) {
    return start_imap<false>(std::forward<F>(f), std::forward<Range>(range), chunksize, false);
  }

  /// No more tasks; workers exit when the queued ones are done.
  void close() { workers_->close(); }
  /// Drops the queued tasks (their results raise kin::CancelledError) and stops the workers
  /// after their current task; waits for them.
  void terminate();
  /// Waits for the workers to exit; kin::ValueError unless close() or terminate() came first.
  void join();

  /// The number of worker threads.
  [[nodiscard]] std::size_t processes() const noexcept { return workers_->threads(); }
  /// How many chunks an imap keeps in flight.
  [[nodiscard]] std::size_t imap_window() const noexcept { return 4 * workers_->threads() + 2; }

 private:
  template <class F, class Tuple, std::size_t... I>
  auto apply_with_callbacks(F&& f, Tuple&& args, std::index_sequence<I...>) {
    auto t = detail::make_task(std::forward<F>(f), std::get<I>(std::forward<Tuple>(args))...);
    detail::attach_callbacks(*t, std::get<sizeof...(I)>(std::forward<Tuple>(args)));
    return submit_task(std::move(t));
  }
  template <class T>
  auto submit_task(std::shared_ptr<T> t) {
    using State = typename T::ResultStateType;
    AsyncResult<typename State::value_type> r{std::static_pointer_cast<State>(t)};
    if (!workers_->submit(t.get())) {
      t->keep.reset();
      throw ValueError("kin::ThreadPool: Pool not running (closed or terminated)");
    }
    return r;
  }

  template <bool Star, class F, class Range, class OnOk, class OnError>
  auto start_map(F&& f, Range&& range, std::size_t chunksize, callbacks<OnOk, OnError> cbs) {
    using Item = std::remove_cvref_t<std::ranges::range_reference_t<Range>>;
    using Fn = std::decay_t<F>;
    using Job = detail::MapJob<Star, Item, Fn>;
    using V = detail::map_value_t<typename Job::R>;
    check_running();
    std::vector<Item> items;
    if constexpr (std::ranges::sized_range<Range>) items.reserve(std::ranges::size(range));
    for (auto&& x : range) items.emplace_back(std::forward<decltype(x)>(x));
    const std::size_t cs = chunksize != 0 ? chunksize : detail::default_chunksize(items.size(), processes());
    auto job = std::make_shared<Job>(Fn(std::forward<F>(f)), std::move(items), cs);
    detail::attach_callbacks(static_cast<detail::ResultState<V>&>(*job), std::move(cbs));
    job->start(*workers_, job);
    return AsyncResult<V>{std::static_pointer_cast<detail::ResultState<V>>(job)};
  }

  template <bool Star, class F, class Range>
  auto start_imap(F&& f, Range&& range, std::size_t chunksize, bool ordered) {
    using View = std::views::all_t<Range>;
    using Item = std::remove_cvref_t<std::ranges::range_reference_t<View>>;
    using Fn = std::decay_t<F>;
    using R = std::remove_cvref_t<detail::item_result_t<Star, Fn, Item>>;
    using Feed = detail::ImapFeed<Star, Range, Fn, R>;
    check_running();
    auto feed = std::make_shared<Feed>(workers_, std::forward<Range>(range), Fn(std::forward<F>(f)),
                                       std::max<std::size_t>(chunksize, 1), imap_window(), ordered);
    return IMapIterator<R>::make(std::move(feed), *workers_);
  }

  void check_running() const;

  std::shared_ptr<detail::WorkerSet> workers_;
};

}  // namespace kin
