// kin::Pool: a pool of worker processes (Python's multiprocessing.Pool).
//
//   int square(int x) { return x * x; }
//   kin::Pool pool{4};
//   std::vector<int> v = pool.map(square, std::vector{1, 2, 3});     // {1, 4, 9}
//   auto r = pool.apply_async(square, 7, kin::callbacks{[](int& y) { std::printf("%d\n", y); }});
//   r.get(std::chrono::seconds(1));                                   // 49, or kin::TimeoutError
//   for (int y : pool.imap(square, std::views::iota(0))) if (y > 100) break;   // endless input
//   pool.close(); pool.join();
//
// Functions are function pointers (or capture-less lambdas); arguments and results travel
// through kin's codec. Workers start with fork unless PoolOptions::start_method says spawn or
// forkserver; then functions reach the workers as (object, offset) references and an
// initializer must be a function pointer (a closure is StartMethodError at construction).
// An exception raised in a worker arrives as kin::RemoteError (type name, message, pid).
// The destructor terminates, like Python's `with Pool() as p:` block.
//
// What a crash does: a worker that dies (SIGKILL, segfault, exit) fails only the task it held
// with kin::WorkerLost (pid, ExitStatus) and is replaced at once; the pool keeps serving. A task
// is retried up to PoolOptions::max_retries times, and never after it has killed
// max_worker_kills workers. An initializer that throws breaks the pool with a RemoteError
// (no respawn loop). If the owning process dies, its workers die with it.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <kin/async_result.hpp>
#include <kin/detail/pool_core.hpp>
#include <kin/detail/pull_range.hpp>
#include <kin/errors.hpp>
#include <kin/pool_options.hpp>
#include <kin/runtime/deadline.hpp>

namespace kin {

namespace detail {

template <class Fp>
struct pool_fn {
  static constexpr bool ok = false;
};
template <class R, class... P>
struct pool_fn<R (*)(P...)> {
  static constexpr bool ok = true;
  using result = R;
  using args = std::tuple<std::decay_t<P>...>;
  static constexpr std::size_t arity = sizeof...(P);
};
template <class R, class... P>
struct pool_fn<R (*)(P...) noexcept> : pool_fn<R (*)(P...)> {};

template <class F>
using pool_fnptr_t = decltype(+std::declval<std::decay_t<F>&>());

template <class F>
constexpr bool pool_callable_v = requires { +std::declval<std::decay_t<F>&>(); } && pool_fn<pool_fnptr_t<F>>::ok;

template <class F>
auto pool_fnptr(F&& f) {
  static_assert(pool_callable_v<F>,
                "kin::Pool needs a function pointer or a capture-less lambda (state travels in the arguments)");
  return +f;
}

template <class Fp>
void pool_invoke_apply(std::uintptr_t fn, std::span<const std::byte> in, Bytes& out) {
  using T = pool_fn<Fp>;
  auto args = decode<typename T::args>(in);
  auto f = reinterpret_cast<Fp>(fn);
  if constexpr (std::is_void_v<typename T::result>) {
    std::apply(f, std::move(args));
  } else {
    out = encode(std::apply(f, std::move(args)));
  }
}

template <class Fp, bool Star>
using pool_item_t = std::conditional_t<Star, typename pool_fn<Fp>::args,
                                       std::tuple_element_t<0, std::conditional_t<pool_fn<Fp>::arity == 1,
                                                                                  typename pool_fn<Fp>::args,
                                                                                  std::tuple<int>>>>;

template <class Fp, bool Star>
void pool_invoke_chunk(std::uintptr_t fn, std::span<const std::byte> in, Bytes& out) {
  using R = typename pool_fn<Fp>::result;
  auto items = decode<std::vector<pool_item_t<Fp, Star>>>(in);
  auto f = reinterpret_cast<Fp>(fn);
  std::vector<R> res;
  res.reserve(items.size());
  for (auto& it : items) {
    if constexpr (Star) {
      res.push_back(std::apply(f, std::move(it)));
    } else {
      res.push_back(f(std::move(it)));
    }
  }
  out = encode(res);
}

// Completes an apply/submit task's result state (PoolTask::finish) with its outcome.
template <class R>
void pool_finish_one(PoolTask& t, PoolOutcome&& o) {
  auto& st = static_cast<ResultState<R>&>(*t.state);
  if (!o.ok) {
    st.try_set_exception(o.error);
    return;
  }
  try {
    if constexpr (std::is_void_v<R>) {
      st.try_set_value();
    } else {
      st.try_set_value(decode<R>(o.value));
    }
  } catch (...) {
    st.try_set_exception(std::current_exception());
  }
}

template <class... A>
constexpr bool pool_last_is_callbacks() {
  if constexpr (sizeof...(A) == 0) {
    return false;
  } else {
    return is_callbacks_v<std::tuple_element_t<sizeof...(A) - 1, std::tuple<A...>>>;
  }
}

inline std::size_t pool_auto_chunksize(std::size_t n, std::size_t workers) {
  if (n == 0) return 1;
  const std::size_t d = 4 * std::max<std::size_t>(workers, 1);
  return std::max<std::size_t>(1, (n + d - 1) / d);
}

// The results of an imap: chunks complete on the pool thread into `ready`; the consumer takes
// them in order (imap) or as they come (imap_unordered).
template <class R>
struct PoolImapInbox {
  std::mutex m;
  std::condition_variable cv;
  std::map<std::size_t, PoolOutcome> ready;
  // imap's chunk size; with chunksize 0 it adapts (see Pool::imap_impl).
  std::atomic<std::size_t> chunk{1};
};

// imap's automatic chunk size, joblib's rule: a chunk that came back (from its submission, so
// queueing counts) in under kFast doubles the next ones, one slower than kSlow halves them.
// kFast is ~100 round trips of a pool task here: below it a chunk is mostly overhead.
struct PoolAutoChunk {
  static constexpr auto kFast = std::chrono::milliseconds{2};
  static constexpr auto kSlow = std::chrono::milliseconds{50};
  static constexpr std::size_t kMax = 65536;
  static void adapt(std::atomic<std::size_t>& chunk, std::size_t items, std::chrono::steady_clock::duration took) {
    std::size_t c = chunk.load(std::memory_order_relaxed);
    if (items < c) return;  // a chunk of an older size, or the input's short tail
    std::size_t next;
    if (took < kFast && c < kMax)
      next = c * 2;
    else if (took > kSlow && c > 1)
      next = c / 2;
    else
      return;
    chunk.compare_exchange_strong(c, next, std::memory_order_relaxed);  // lost to another: theirs stands
  }
};

}  // namespace detail

/// The lazy result of Pool::imap / imap_unordered: an input range of R, fed with a bounded window.
template <class R>
class PoolIMapIterator : public detail::PullRange<PoolIMapIterator<R>, R> {
 public:
  PoolIMapIterator(std::function<bool()> pull, std::shared_ptr<detail::PoolImapInbox<R>> inbox, bool ordered,
                   std::size_t window)
      : pull_(std::move(pull)), inbox_(std::move(inbox)), ordered_(ordered), window_(window) {}
  PoolIMapIterator(PoolIMapIterator&&) noexcept = default;
  // Movable, so that it is a viewable range (kin::progress, std::views) like ThreadPool's.
  PoolIMapIterator& operator=(PoolIMapIterator&&) noexcept = default;

  /// Items per task: the chunksize given, or with chunksize 0 the size chosen so far.
  [[nodiscard]] std::size_t chunksize() const noexcept { return inbox_->chunk.load(std::memory_order_relaxed); }

  /// The next result, std::nullopt at the end; rethrows a task's exception.
  std::optional<R> next() { return next_until(detail::Deadline{std::nullopt}); }
  /// As next(), but throws TimeoutError when no result comes within `timeout`.
  template <class Rep, class Period>
  std::optional<R> next(std::chrono::duration<Rep, Period> timeout) {
    return next_until(detail::Deadline{std::chrono::steady_clock::now() +
                               std::chrono::duration_cast<std::chrono::steady_clock::duration>(timeout)});
  }

 private:
  std::optional<R> next_until(detail::Deadline dl) {
    for (;;) {
      if (pos_ < buf_.size()) return std::move(buf_[pos_++]);
      while (!exhausted_ && inflight_ < window_) {
        if (pull_()) {
          ++inflight_;
        } else {
          exhausted_ = true;
        }
      }
      if (inflight_ == 0) return std::nullopt;
      detail::PoolOutcome o;
      {
        std::unique_lock lk(inbox_->m);
        auto have = [&] { return ordered_ ? inbox_->ready.count(seq_) != 0 : !inbox_->ready.empty(); };
        if (dl) {
          if (!inbox_->cv.wait_until(lk, *dl, have)) throw TimeoutError("kin::Pool imap: no result within the timeout");
        } else {
          inbox_->cv.wait(lk, have);
        }
        auto it = ordered_ ? inbox_->ready.find(seq_) : inbox_->ready.begin();
        o = std::move(it->second);
        inbox_->ready.erase(it);
      }
      ++seq_;
      --inflight_;
      if (!o.ok) std::rethrow_exception(o.error);
      buf_ = decode<std::vector<R>>(o.value);
      pos_ = 0;
    }
  }

  std::function<bool()> pull_;
  std::shared_ptr<detail::PoolImapInbox<R>> inbox_;
  bool ordered_;
  std::size_t window_;
  std::size_t inflight_ = 0, seq_ = 0, pos_ = 0;
  bool exhausted_ = false;
  std::vector<R> buf_;
};

class Pool {
 public:
  explicit Pool(std::size_t processes = 0) : Pool(PoolOptions{.processes = processes}) {}
  explicit Pool(PoolOptions options) : core_(std::make_unique<detail::PoolCore>(std::move(options))) {}
  /// For executors: `default_prefetch` is the prefetch when options.prefetch is unset.
  Pool(PoolOptions options, std::size_t default_prefetch)
      : core_(std::make_unique<detail::PoolCore>(std::move(options), default_prefetch)) {}
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;
  ~Pool() = default;  // PoolCore's destructor terminates

  /// Runs f(args...) in a worker and waits for its result.
  template <class F, class... A>
  auto apply(F&& f, A&&... a) {
    return apply_async(std::forward<F>(f), std::forward<A>(a)...).get();
  }

  /// Runs f(args...) in a worker; an optional trailing kin::callbacks{on_ok, on_error} runs on
  /// the pool's result thread before the result is ready.
  template <class F, class... A>
  auto apply_async(F&& f, A&&... a) {
    using Fp = detail::pool_fnptr_t<F>;
    using R = typename detail::pool_fn<Fp>::result;
    auto st = std::make_shared<detail::ResultState<R>>();
    auto fp = detail::pool_fnptr(f);
    auto all = std::forward_as_tuple(std::forward<A>(a)...);
    constexpr std::size_t N = sizeof...(A);
    if constexpr (detail::pool_last_is_callbacks<A...>()) {
      detail::attach_callbacks(*st, std::get<N - 1>(all));
      submit_one<Fp>(fp, st, [&]<std::size_t... I>(std::index_sequence<I...>) {
        return typename detail::pool_fn<Fp>::args(std::get<I>(all)...);
      }(std::make_index_sequence<N - 1>{}));
    } else {
      submit_one<Fp>(fp, st, std::apply([](auto&&... x) { return typename detail::pool_fn<Fp>::args(x...); }, all));
    }
    return AsyncResult<R>{st};
  }

  /// f over every item, in order; chunksize 0 picks one (Python's len / (4 * processes)).
  template <class F, class Range>
  auto map(F&& f, Range&& r, std::size_t chunksize = 0) {
    return map_async(std::forward<F>(f), std::forward<Range>(r), chunksize).get();
  }
  /// As map, without waiting; an optional kin::callbacks{on_ok, on_error} (Python's callback=
  /// and error_callback=) gets the whole result vector, or the first error, on the pool's
  /// result thread before the result is ready.
  template <class F, class Range, class OnOk = no_callback, class OnError = no_callback>
  auto map_async(F&& f, Range&& r, std::size_t chunksize = 0, callbacks<OnOk, OnError> cbs = {}) {
    return map_impl<false>(detail::pool_fnptr(f), std::forward<Range>(r), chunksize, std::move(cbs));
  }
  template <class F, class Range, class OnOk, class OnError>
  auto map_async(F&& f, Range&& r, callbacks<OnOk, OnError> cbs) {
    return map_impl<false>(detail::pool_fnptr(f), std::forward<Range>(r), 0, std::move(cbs));
  }
  template <class F, class Range>
  auto starmap(F&& f, Range&& r, std::size_t chunksize = 0) {
    return starmap_async(std::forward<F>(f), std::forward<Range>(r), chunksize).get();
  }
  template <class F, class Range, class OnOk = no_callback, class OnError = no_callback>
  auto starmap_async(F&& f, Range&& r, std::size_t chunksize = 0, callbacks<OnOk, OnError> cbs = {}) {
    return map_impl<true>(detail::pool_fnptr(f), std::forward<Range>(r), chunksize, std::move(cbs));
  }
  template <class F, class Range, class OnOk, class OnError>
  auto starmap_async(F&& f, Range&& r, callbacks<OnOk, OnError> cbs) {
    return map_impl<true>(detail::pool_fnptr(f), std::forward<Range>(r), 0, std::move(cbs));
  }

  /// Lazy, ordered map over a possibly endless range; at most 2 * processes chunks are in flight.
  /// chunksize 0 adapts it to the task's cost (from 1, doubled while chunks come back within
  /// 2 ms, halved when one takes over 50 ms; the iterator's chunksize() tells the current one).
  template <class F, class Range>
  auto imap(F&& f, Range&& r, std::size_t chunksize = 1) {
    return imap_impl(detail::pool_fnptr(f), std::forward<Range>(r), chunksize, true);
  }
  template <class F, class Range>
  auto imap_unordered(F&& f, Range&& r, std::size_t chunksize = 1) {
    return imap_impl(detail::pool_fnptr(f), std::forward<Range>(r), chunksize, false);
  }

  /// For kin::ProcessPoolExecutor: queues f(args...) and returns its state and task id.
  template <class F, class... A>
  auto submit_task(F&& f, A&&... a) {
    using Fp = detail::pool_fnptr_t<F>;
    using R = typename detail::pool_fn<Fp>::result;
    auto st = std::make_shared<detail::ResultState<R>>();
    auto id = submit_one<Fp>(detail::pool_fnptr(f), st, typename detail::pool_fn<Fp>::args(std::forward<A>(a)...));
    return std::pair{st, id};
  }

  void close() { core_->close(); }
  void join() { core_->join(); }
  void terminate() { core_->terminate(); }
  [[nodiscard]] std::size_t processes() const noexcept { return core_->processes(); }
  /// The pids of the live workers (for tests and tools).
  [[nodiscard]] std::vector<pid_t> worker_pids() const { return core_->worker_pids(); }
  detail::PoolCore& core() noexcept { return *core_; }

 private:
  template <class Fp, class R>
  std::uint64_t submit_one(Fp fp, const std::shared_ptr<detail::ResultState<R>>& st,
                           const typename detail::pool_fn<Fp>::args& args) {
    auto t = std::make_unique<detail::PoolTask>();
    t->invoker = &detail::pool_invoke_apply<Fp>;
    t->fn = reinterpret_cast<std::uintptr_t>(fp);
    t->args = encode(args);
    t->state = st;
    t->finish = &detail::pool_finish_one<R>;
    return core_->submit(std::move(t));
  }

  template <bool Star, class Fp, class Range, class OnOk, class OnError>
  auto map_impl(Fp fp, Range&& r, std::size_t chunksize, callbacks<OnOk, OnError> cbs) {
    using R = typename detail::pool_fn<Fp>::result;
    using Item = detail::pool_item_t<Fp, Star>;
    static_assert(!std::is_void_v<R>, "kin::Pool::map: the function must return a value (use apply_async for void)");
    static_assert(Star || detail::pool_fn<Fp>::arity == 1, "kin::Pool::map: the function takes one argument (use starmap)");
    std::vector<Item> items;
    for (auto&& x : r) items.emplace_back(x);
    auto st = std::make_shared<detail::ResultState<std::vector<R>>>();
    detail::attach_callbacks(*st, std::move(cbs));
    const std::size_t n = items.size();
    if (n == 0) {
      st->set_value(std::vector<R>{});
      return AsyncResult<std::vector<R>>{st};
    }
    if (chunksize == 0) chunksize = detail::pool_auto_chunksize(n, processes());
    struct Join {
      std::vector<R> out;
      std::size_t left = 0;
    };
    auto j = std::make_shared<Join>();
    j->out.resize(n);
    j->left = (n + chunksize - 1) / chunksize;
    std::vector<std::unique_ptr<detail::PoolTask>> tasks;
    tasks.reserve(j->left);
    for (std::size_t b = 0; b < n; b += chunksize) {
      const std::size_t e = std::min(n, b + chunksize);
      auto t = std::make_unique<detail::PoolTask>();
      t->invoker = &detail::pool_invoke_chunk<Fp, Star>;
      t->fn = reinterpret_cast<std::uintptr_t>(fp);
      t->args = encode(std::vector<Item>(std::make_move_iterator(items.begin() + static_cast<std::ptrdiff_t>(b)),
                                         std::make_move_iterator(items.begin() + static_cast<std::ptrdiff_t>(e))));
      t->done = [st, j, b](detail::PoolOutcome&& o) {
        if (st->ready()) return;
        if (!o.ok) {
          st->try_set_exception(o.error);
          return;
        }
        try {
          auto v = decode<std::vector<R>>(o.value);
          std::move(v.begin(), v.end(), j->out.begin() + static_cast<std::ptrdiff_t>(b));
          if (--j->left == 0) st->try_set_value(std::move(j->out));
        } catch (...) {
          st->try_set_exception(std::current_exception());
        }
      };
      tasks.push_back(std::move(t));
    }
    core_->submit_all(tasks);
    return AsyncResult<std::vector<R>>{st};
  }

  template <class Fp, class Range>
  auto imap_impl(Fp fp, Range&& r, std::size_t chunksize, bool ordered) {
    using R = typename detail::pool_fn<Fp>::result;
    using Item = detail::pool_item_t<Fp, false>;
    static_assert(!std::is_void_v<R>, "kin::Pool::imap: the function must return a value");
    const bool adaptive = chunksize == 0;
    struct Feed {
      std::decay_t<Range> range;
      decltype(std::ranges::begin(std::declval<std::decay_t<Range>&>())) it;
      decltype(std::ranges::end(std::declval<std::decay_t<Range>&>())) end;
      std::size_t seq = 0;
    };
    auto feed = std::shared_ptr<Feed>(new Feed{std::forward<Range>(r), {}, {}, 0});
    feed->it = std::ranges::begin(feed->range);
    feed->end = std::ranges::end(feed->range);
    auto inbox = std::make_shared<detail::PoolImapInbox<R>>();
    inbox->chunk = adaptive ? 1 : chunksize;
    detail::PoolCore* core = core_.get();
    auto pull = [feed, inbox, core, fp, adaptive]() -> bool {
      const std::size_t want = inbox->chunk.load(std::memory_order_relaxed);
      std::vector<Item> items;
      for (; items.size() < want && feed->it != feed->end; ++feed->it) items.emplace_back(*feed->it);
      if (items.empty()) return false;
      auto t = std::make_unique<detail::PoolTask>();
      t->invoker = &detail::pool_invoke_chunk<Fp, false>;
      t->fn = reinterpret_cast<std::uintptr_t>(fp);
      t->args = encode(items);
      std::size_t seq = feed->seq++;
      t->done = [inbox, seq, adaptive, n = items.size(), sent = std::chrono::steady_clock::now()](detail::PoolOutcome&& o) {
        if (adaptive) detail::PoolAutoChunk::adapt(inbox->chunk, n, std::chrono::steady_clock::now() - sent);
        {
          std::lock_guard lk(inbox->m);
          inbox->ready.emplace(seq, std::move(o));
        }
        inbox->cv.notify_all();
      };
      core->submit(std::move(t));
      return true;
    };
    return PoolIMapIterator<R>{std::move(pull), std::move(inbox), ordered, 2 * processes()};
  }

  std::unique_ptr<detail::PoolCore> core_;
};

}  // namespace kin
