// kin::Future<R>: the result of an executor's submit (concurrent.futures.Future), with
// kin::as_completed(futures, timeout) and kin::wait(futures, timeout, return_when).
//
//   kin::ThreadPoolExecutor ex{4};
//   std::vector<kin::Future<int>> fs;
//   for (int i = 0; i < 10; ++i) fs.push_back(ex.submit(square, i));
//   for (auto& f : kin::as_completed(fs, 5s)) std::printf("%d\n", f.result());
//   auto [done, not_done] = kin::wait(fs, 1s, kin::FIRST_EXCEPTION);
//
// result() rethrows what the task raised (the original exception object in a
// ThreadPoolExecutor; kin::RemoteError / kin::WorkerLost from a ProcessPoolExecutor) and
// kin::CancelledError for a cancelled future; result(timeout) and exception(timeout) throw
// kin::TimeoutError when the future is not done in time. cancel() succeeds only for a future
// that has not started running. add_done_callback(f) calls f(future) on the thread that
// completes it, or at once when it is already done; an exception from f is reported on stderr
// and the other callbacks still run. A Future is a handle: copies share one result.
//
// as_completed yields each future once, as it completes (those already done first); iterating
// past the timeout with futures still pending throws kin::TimeoutError. kin::wait returns
// {done, not_done} (input order, duplicates dropped) when the condition holds or the timeout
// passes. (kin::wait over Connections/Queues/Processes lives in <kin/wait.hpp>; the two
// overload sets take different argument types and do not clash.)
//
// What a crash does: a future whose worker dies completes with kin::WorkerLost; nothing waits
// past its timeout.
#pragma once

#include <kin/detail/result_state.hpp>
#include <kin/errors.hpp>

#include <string>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <vector>

namespace kin {

template <class R>
class Future {
 public:
  using value_type = R;
  using State = detail::ResultState<R>;

  /// An empty handle (every call is a ValueError); executors hand out real ones.
  Future() = default;
  explicit Future(std::shared_ptr<State> state) : state_(std::move(state)) {}

  /// Waits for the result and returns it (a copy: result() may be called again; a move-only R
  /// by reference), or rethrows the task's exception; kin::CancelledError when cancelled.
  decltype(auto) result() const {
    checked().wait(detail::Deadline::never());
    return fetch();
  }
  /// result() waiting at most `timeout`: kin::TimeoutError when not done by then.
  template <class Rep, class Period>
  decltype(auto) result(std::chrono::duration<Rep, Period> timeout) const {
    if (!checked().wait(detail::Deadline::after(timeout)))
      throw TimeoutError("kin::Future::result: the future is not done (timeout)");
    return fetch();
  }
  /// The exception the task raised, null when it returned; waits for it. kin::CancelledError
  /// is thrown (not returned) for a cancelled future, as Python does.
  std::exception_ptr exception() const {
    checked().wait(detail::Deadline::never());
    return fetch_exception();
  }
  template <class Rep, class Period>
  std::exception_ptr exception(std::chrono::duration<Rep, Period> timeout) const {
    if (!checked().wait(detail::Deadline::after(timeout)))
      throw TimeoutError("kin::Future::exception: the future is not done (timeout)");
    return fetch_exception();
  }

  /// Finished or cancelled.
  [[nodiscard]] bool done() const { return checked().ready(); }
  [[nodiscard]] bool running() const { return checked().running(); }
  [[nodiscard]] bool cancelled() const { return checked().cancelled(); }
  /// Cancels a future that has not started: true when it is (now or already) cancelled, false
  /// when it is running or done. cancel(true) also stops a running task when its executor can
  /// (a process pool kills the worker running it; a thread cannot be stopped, so a
  /// ThreadPoolExecutor's running task is not cancelled).
  bool cancel(bool force = false) { return checked().cancel(force); }

  /// Calls `fn(future)` (or `fn()`) once the future is done — at once when it already is.
  template <class F>
  void add_done_callback(F fn) {
    static_assert(std::is_invocable_v<F&, Future&> || std::is_invocable_v<F&>,
                  "kin::Future::add_done_callback: the callback takes the Future (or nothing)");
    checked().add_done_callback(
        [f = std::move(fn)](detail::ResultStateBase& base) mutable {
          if constexpr (std::is_invocable_v<F&, Future&>) {
            Future self{std::static_pointer_cast<State>(base.shared_from_this())};
            f(self);
          } else {
            f();
          }
        },
        "future done");
  }

  /// The shared state (for producers and adaptors).
  [[nodiscard]] const std::shared_ptr<State>& state() const noexcept { return state_; }
  [[nodiscard]] bool valid() const noexcept { return state_ != nullptr; }
  friend bool operator==(const Future& a, const Future& b) noexcept { return a.state_ == b.state_; }

 private:
  State& checked() const {
    if (!state_) throw ValueError("kin::Future: an empty handle (not from an executor)");
    return *state_;
  }
  // Through checked(), not state_->: GCC's -O3 -Wnonnull cannot see that an empty handle threw.
  decltype(auto) fetch() const { return detail::fetch_result(checked()); }
  std::exception_ptr fetch_exception() const {
    if (checked().cancelled()) throw CancelledError{};
    return checked().exception();
  }

  std::shared_ptr<State> state_;
};

/// kin::wait's `return_when` (Python's concurrent.futures constants).
enum class ReturnWhen { first_completed, first_exception, all_completed };
inline constexpr ReturnWhen FIRST_COMPLETED = ReturnWhen::first_completed;
inline constexpr ReturnWhen FIRST_EXCEPTION = ReturnWhen::first_exception;
inline constexpr ReturnWhen ALL_COMPLETED = ReturnWhen::all_completed;

/// What kin::wait returns: `auto [done, not_done] = kin::wait(fs, ...)`.
template <class R>
struct DoneAndNotDone {
  std::vector<Future<R>> done;
  std::vector<Future<R>> not_done;
};

namespace detail {

template <class T>
struct is_future : std::false_type {};
template <class R>
struct is_future<Future<R>> : std::true_type {};

/// A range of kin::Future<R> (vector, array, list, view...).
template <class Rng>
concept future_range = std::ranges::input_range<Rng> &&
                       is_future<std::remove_cvref_t<std::ranges::range_reference_t<Rng>>>::value;

template <class Rng>
using future_value_t = typename std::remove_cvref_t<std::ranges::range_reference_t<Rng>>::value_type;

/// Collects completions of many futures: each future's done callback pushes its index and
/// rings. Shared with the callbacks, so one that runs after its waiter has gone is harmless.
struct CompletionWaiter {
  std::mutex m;
  std::condition_variable cv;
  std::deque<std::size_t> completed;  // indices, in completion order
  bool any_failed = false;

  /// False when the deadline passed first.
  template <class Pred>
  bool wait_until(Deadline d, std::unique_lock<std::mutex>& lk, Pred pred) {
    if (d.infinite()) {
      cv.wait(lk, pred);
      return true;
    }
    return cv.wait_until(lk, d.when(), pred);
  }
};

/// The distinct futures of a range, in input order.
template <class R, class Rng>
std::vector<Future<R>> distinct_futures(Rng&& futures) {
  std::vector<Future<R>> out;
  std::unordered_set<const void*> seen;
  for (auto&& f : futures) {
    if (!f.valid()) throw ValueError("kin: an empty kin::Future in the futures to wait for");
    if (seen.insert(f.state().get()).second) out.push_back(f);
  }
  return out;
}

/// Hooks `w` to every pending future of `fs` (index = position); returns how many were done
/// already, pushing their indices first.
template <class R>
void watch_all(const std::vector<Future<R>>& fs, const std::shared_ptr<CompletionWaiter>& w) {
  for (std::size_t i = 0; i < fs.size(); ++i) {
    fs[i].state()->add_done_callback(
        [w, i](ResultStateBase& s) {
          const bool failed = !s.cancelled() && s.exception() != nullptr;
          {
            std::lock_guard lk{w->m};
            w->completed.push_back(i);
            w->any_failed = w->any_failed || failed;
          }
          w->cv.notify_all();
        },
        "kin::wait", w.get());
  }
}

template <class R>
void unwatch_all(const std::vector<Future<R>>& fs, const CompletionWaiter* w) {
  for (const auto& f : fs) f.state()->remove_done_callbacks(w);
}

template <class R>
DoneAndNotDone<R> wait_futures(std::vector<Future<R>> fs, Deadline deadline, ReturnWhen when) {
  auto w = std::make_shared<CompletionWaiter>();
  watch_all(fs, w);
  {
    std::unique_lock lk{w->m};
    w->wait_until(deadline, lk, [&] {
      if (w->completed.size() == fs.size()) return true;
      if (when == ReturnWhen::first_completed) return !w->completed.empty();
      if (when == ReturnWhen::first_exception) return w->any_failed;
      return false;
    });
  }
  unwatch_all(fs, w.get());
  DoneAndNotDone<R> out;
  // Readiness now, not the waiter's snapshot: a future done meanwhile is reported done.
  for (auto& f : fs) (f.state()->ready() ? out.done : out.not_done).push_back(std::move(f));
  return out;
}

}  // namespace detail

/// Waits until `return_when` holds for `futures` (ALL_COMPLETED: all done; FIRST_COMPLETED: any;
/// FIRST_EXCEPTION: any raised, or all done) or the timeout passes; returns {done, not_done}.
template <detail::future_range Futures, class Rep, class Period>
auto wait(Futures&& futures, std::chrono::duration<Rep, Period> timeout, ReturnWhen return_when = ALL_COMPLETED) {
  using R = detail::future_value_t<Futures>;
  return detail::wait_futures<R>(detail::distinct_futures<R>(futures), detail::Deadline::after(timeout), return_when);
}
/// No timeout: waits as long as it takes.
template <detail::future_range Futures>
auto wait(Futures&& futures, ReturnWhen return_when = ALL_COMPLETED) {
  using R = detail::future_value_t<Futures>;
  return detail::wait_futures<R>(detail::distinct_futures<R>(futures), detail::Deadline::never(), return_when);
}
/// Python's `wait(fs, timeout=None, return_when=...)`.
template <detail::future_range Futures>
auto wait(Futures&& futures, std::nullopt_t, ReturnWhen return_when = ALL_COMPLETED) {
  return kin::wait(std::forward<Futures>(futures), return_when);
}
template <class R, class Rep, class Period>
DoneAndNotDone<R> wait(std::initializer_list<Future<R>> futures, std::chrono::duration<Rep, Period> timeout,
                       ReturnWhen return_when = ALL_COMPLETED) {
  return detail::wait_futures<R>(detail::distinct_futures<R>(futures), detail::Deadline::after(timeout), return_when);
}
template <class R>
DoneAndNotDone<R> wait(std::initializer_list<Future<R>> futures, ReturnWhen return_when = ALL_COMPLETED) {
  return detail::wait_futures<R>(detail::distinct_futures<R>(futures), detail::Deadline::never(), return_when);
}

/// The futures of a range as they complete: an input range (see kin::as_completed).
template <class R>
class AsCompleted {
 public:
  AsCompleted(std::vector<Future<R>> fs, detail::Deadline deadline)
      : fs_(std::move(fs)), deadline_(deadline), waiter_(std::make_shared<detail::CompletionWaiter>()) {
    detail::watch_all(fs_, waiter_);
  }
  AsCompleted(const AsCompleted&) = delete;
  AsCompleted& operator=(const AsCompleted&) = delete;
  ~AsCompleted() { detail::unwatch_all(fs_, waiter_.get()); }

  class iterator {
   public:
    using value_type = Future<R>;
    using difference_type = std::ptrdiff_t;
    using reference = const Future<R>&;
    iterator() = default;
    reference operator*() const { return owner_->fs_[owner_->current_]; }
    const Future<R>* operator->() const { return &owner_->fs_[owner_->current_]; }
    iterator& operator++() {
      owner_->advance();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) { return it.at_end(); }

   private:
    friend class AsCompleted;
    explicit iterator(AsCompleted* o) : owner_(o) {}
    [[nodiscard]] bool at_end() const { return owner_ == nullptr || owner_->yielded_ > owner_->fs_.size(); }
    AsCompleted* owner_ = nullptr;
  };

  /// Waits for the first completion: kin::TimeoutError when the timeout passes first.
  iterator begin() {
    if (yielded_ == 0) advance();
    return iterator{this};
  }
  std::default_sentinel_t end() const noexcept { return {}; }
  /// How many futures it watches.
  [[nodiscard]] std::size_t size() const noexcept { return fs_.size(); }

 private:
  // Moves to the next completed future; past the end once all were yielded.
  void advance() {
    if (yielded_ >= fs_.size()) {
      yielded_ = fs_.size() + 1;
      return;
    }
    std::unique_lock lk{waiter_->m};
    if (!waiter_->wait_until(deadline_, lk, [&] { return !waiter_->completed.empty(); })) {
      throw TimeoutError(std::to_string(fs_.size() - yielded_)
                             .insert(0, "kin::as_completed: timeout with ")
                             .append(" of ")
                             .append(std::to_string(fs_.size()))
                             .append(" futures unfinished"));
    }
    current_ = waiter_->completed.front();
    waiter_->completed.pop_front();
    ++yielded_;
  }

  std::vector<Future<R>> fs_;
  detail::Deadline deadline_;
  std::shared_ptr<detail::CompletionWaiter> waiter_;
  std::size_t current_ = 0;
  std::size_t yielded_ = 0;  // fs_.size() + 1: the end
};

/// Yields the futures of `futures` as they complete (already-done ones first), each once;
/// iterating on after `timeout` (counted from this call) with futures pending throws
/// kin::TimeoutError.
template <detail::future_range Futures, class Rep, class Period>
auto as_completed(Futures&& futures, std::chrono::duration<Rep, Period> timeout) {
  using R = detail::future_value_t<Futures>;
  return AsCompleted<R>(detail::distinct_futures<R>(futures), detail::Deadline::after(timeout));
}
template <detail::future_range Futures>
auto as_completed(Futures&& futures) {
  using R = detail::future_value_t<Futures>;
  return AsCompleted<R>(detail::distinct_futures<R>(futures), detail::Deadline::never());
}
template <detail::future_range Futures>
auto as_completed(Futures&& futures, std::nullopt_t) {
  return kin::as_completed(std::forward<Futures>(futures));
}

}  // namespace kin
