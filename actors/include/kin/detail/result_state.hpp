// kin::detail::ResultState<R>: the thread-safe shared state behind one asynchronous result —
// what kin::AsyncResult<R> and kin::Future<R> hold, and what a pool, an executor or any other
// producer completes from its own thread. R may be void.
//
//   auto st = std::make_shared<kin::detail::ResultState<int>>();
//   // producer thread:                      // consumer:
//   if (st->set_running())                   //   st->wait(kin::detail::Deadline::after(1s));
//     st->set_value(42);                     //   int v = st->value();   // or rethrows
//
// Life of a result: pending → running (optional, executors) → finished (a value or an
// exception), or pending → cancelled. It completes exactly once: set_value / set_exception a
// second time throw kin::ValueError; try_set_value / try_set_exception return false instead (for
// producers that race, e.g. a worker's late result against a WorkerLost verdict).
//
// Callbacks run once, on the completing thread (or at once, on the calling thread, when added
// to a result that is already done). Two kinds:
//  - settle callbacks (on_settle) run *before* the result becomes visible as ready, so a
//    consumer's get() returns only after them — Python's Pool callback/error_callback order;
//  - done callbacks (add_done_callback) run *after* it is ready and the waiters are woken —
//    Python's Future.add_done_callback order.
// A callback that throws does not reach the producer: the exception is reported on stderr
// ("Exception in <what> callback:" with the exception's type and message, as Python logs it)
// and the remaining callbacks still run.
//
// What a crash does: nothing here outlives the process; a producer that dies (a thread that
// never completes the state) leaves its waiters waiting until their Deadline, which is why
// every pool completes its states with an exception (WorkerLost, CancelledError) on shutdown.
#pragma once

#include <kin/errors.hpp>
#include <kin/runtime/deadline.hpp>
#include <kin/runtime/futex.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <new>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace kin {

namespace detail {

/// Reports an exception escaping a callback: "Exception in <what> callback:\n<type>: <msg>".
/// Call it inside a catch block.
void report_callback_exception(const char* what) noexcept;

/// What every result state shares, whatever R is: status, waiting, callbacks, exception.
///
/// One 32-bit word carries the status and the flags, so the hot path (a task without
/// callbacks: set_running, complete, a consumer that finds it done) costs three atomic
/// read-modify-writes and no lock; callbacks and the stop handler live in a side block
/// allocated only when used, guarded by a spin bit of the same word.
class ResultStateBase : public std::enable_shared_from_this<ResultStateBase> {
 public:
  using Callback = std::function<void(ResultStateBase&)>;

  ResultStateBase() = default;
  ResultStateBase(const ResultStateBase&) = delete;
  ResultStateBase& operator=(const ResultStateBase&) = delete;
  virtual ~ResultStateBase() = default;

  // ---- queries (any thread) ----------------------------------------------------------------
  /// Finished (value or exception) or cancelled.
  [[nodiscard]] bool ready() const noexcept { return status() >= kCancelled; }
  [[nodiscard]] bool running() const noexcept { return status() == kRunning; }
  [[nodiscard]] bool cancelled() const noexcept { return status() == kCancelled; }
  /// Finished with a value (not an exception, not cancelled). Only meaningful once ready().
  [[nodiscard]] bool succeeded() const noexcept { return status() == kFinished && !error_; }
  /// The exception it finished with (CancelledError's when cancelled); null for a value or
  /// while not ready.
  [[nodiscard]] std::exception_ptr exception() const {
    const auto s = status();
    if (s == kCancelled) return std::make_exception_ptr(CancelledError{});
    return s == kFinished ? error_ : nullptr;
  }

  /// Sleeps until ready() or the deadline; returns ready(). It first spins a few microseconds
  /// (yielding the CPU between looks): a pool's reply often lands that soon, and a futex sleep
  /// costs a wake-up of tens of microseconds on a loaded machine.
  bool wait(Deadline deadline) const {
    // Bounded in time too: on a loaded machine one yield can last a whole time slice.
    const auto spin_end = std::chrono::steady_clock::now() + kWaitSpin;
    for (int i = 0; i < kWaitSpins; ++i) {
      if ((word_.load(std::memory_order_acquire) & kStatusMask) >= kCancelled) return true;
      if ((i & 3) == 3) {
        if (std::chrono::steady_clock::now() >= spin_end) break;
        std::this_thread::yield();
      } else {
        for (int j = 0; j < 32; ++j) relax();
      }
    }
    for (;;) {
      std::uint32_t w = word_.load(std::memory_order_acquire);
      if ((w & kStatusMask) >= kCancelled) return true;
      if (deadline.expired()) return false;
      if ((w & kWaiters) == 0) {
        if (!word_.compare_exchange_weak(w, w | kWaiters, std::memory_order_acq_rel)) continue;
        w |= kWaiters;
      }
      // A flip of the spin bit also ends the sleep early; the loop re-checks.
      if (!futex_wait(&word_, w, deadline) && !ready()) return false;
    }
  }

  // ---- producers (executors, pools) --------------------------------------------------------
  /// pending → running. False when it was cancelled (the task must then not run) — Python's
  /// Future.set_running_or_notify_cancel. A result not pending nor cancelled is a ValueError.
  bool set_running() {
    std::uint32_t w = word_.load(std::memory_order_relaxed);
    for (;;) {
      // Being completed already (a cancel, a pool dropping it): the task must not run.
      if ((w & kStatusMask) == kCancelled || (w & kSettling) != 0) return false;
      if ((w & kStatusMask) != kPending)
        throw ValueError("kin::detail::ResultState::set_running: the result is not pending");
      if (word_.compare_exchange_weak(w, (w & ~kStatusMask) | kRunning, std::memory_order_acq_rel)) return true;
    }
  }
  bool try_set_exception(std::exception_ptr e) {
    if (!e) e = std::make_exception_ptr(ValueError("kin::detail::ResultState: null exception_ptr"));
    if (!claim()) return false;
    error_ = std::move(e);
    settle();
    return true;
  }
  void set_exception(std::exception_ptr e) {
    if (!try_set_exception(std::move(e))) throw_already_set();
  }

  /// pending → cancelled: true when it is cancelled now (or was already); false when it is
  /// running or finished. Wakes the waiters and runs the callbacks.
  bool cancel() {
    std::uint32_t w = word_.load(std::memory_order_acquire);
    for (;;) {
      if ((w & kStatusMask) == kCancelled) return true;
      if ((w & kSettling) != 0 || (w & kStatusMask) != kPending) return false;
      if (word_.compare_exchange_weak(w, w | kSettling, std::memory_order_acq_rel)) break;
    }
    cancelled_ = true;
    settle();
    return true;
  }
  /// Forced cancel of a running task (Future::cancel(true)): producers that can stop a running
  /// task (a process pool kills its worker) install `stop` here; cancel(true) on a running
  /// result calls it and returns true. `stop` should end with the producer calling
  /// settle_cancelled(). Without a handler cancel(true) is cancel().
  void set_stop_handler(std::function<void()> stop) {
    lock();
    extras().stop = std::move(stop);
    unlock();
  }
  bool cancel(bool force) {
    if (cancel() || !force) return cancelled();
    std::function<void()> stop;
    lock();
    const auto w = word_.load(std::memory_order_acquire);
    if ((w & kStatusMask) == kRunning && (w & kSettling) == 0 && extras_) stop = extras_->stop;
    unlock();
    if (!stop) return false;
    stop();
    return true;
  }
  /// Producers: completes a pending or running result as cancelled (after a forced stop, or
  /// when a pool drops it). False when it was already complete.
  bool settle_cancelled() {
    if (!claim()) return false;
    cancelled_ = true;
    settle();
    return true;
  }

  /// For settle callbacks (the result is settled but not yet ready): its exception (null for a
  /// value) and whether it was cancelled.
  [[nodiscard]] std::exception_ptr settled_exception() const noexcept { return error_; }
  [[nodiscard]] bool settled_cancelled() const noexcept { return cancelled_; }

  // ---- callbacks ---------------------------------------------------------------------------
  /// Runs `cb` just before the result becomes ready (see the file comment); at once when it is
  /// already settled. `what` names it in the report of an exception it throws.
  void on_settle(Callback cb, const char* what = "result") { add(std::move(cb), what, true, nullptr); }
  /// Runs `cb` once the result is ready (at once, here, when it already is).
  void add_done_callback(Callback cb, const char* what = "done") { add(std::move(cb), what, false, nullptr); }
  /// A done callback that can be taken back: remove_done_callbacks(tag) drops every pending one
  /// added with `tag` (kin::wait and as_completed clean up so repeated waits do not pile up).
  void add_done_callback(Callback cb, const char* what, const void* tag) { add(std::move(cb), what, false, tag); }
  void remove_done_callbacks(const void* tag) {
    lock();
    if (extras_) std::erase_if(extras_->done, [tag](const Entry& e) { return e.tag == tag; });
    unlock();
  }

 protected:
  /// Derived classes store their value once they hold the claim, then settle.
  template <class Store>
  bool try_complete(Store&& store) {
    if (!claim()) return false;
    try {
      std::forward<Store>(store)();
    } catch (...) {
      error_ = std::current_exception();  // R's constructor threw: that is the result
    }
    settle();
    return true;
  }
  [[noreturn]] static void throw_already_set() {
    throw ValueError("kin::detail::ResultState: the result is already set (a result completes once)");
  }
  /// Rethrows the exception (or CancelledError) of a ready result that did not succeed.
  void rethrow_if_failed() const {
    if (status() == kCancelled) throw CancelledError{};
    if (error_) std::rethrow_exception(error_);
  }

 private:
  static constexpr int kWaitSpins = 64;
  static constexpr auto kWaitSpin = std::chrono::microseconds{20};
  static void relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
  static constexpr std::uint32_t kPending = 0, kRunning = 1, kCancelled = 2, kFinished = 3;
  static constexpr std::uint32_t kStatusMask = 3;
  static constexpr std::uint32_t kWaiters = 1u << 2;     // someone sleeps on the word
  static constexpr std::uint32_t kSettling = 1u << 3;    // completion claimed: no second one
  static constexpr std::uint32_t kLocked = 1u << 4;      // spin bit guarding extras_
  static constexpr std::uint32_t kHasEarly = 1u << 5;    // settle callbacks are waiting
  static constexpr std::uint32_t kHasDone = 1u << 6;     // done callbacks are waiting

  struct Entry {
    Callback cb;
    const char* what;
    const void* tag = nullptr;
  };
  struct Extras {
    std::vector<Entry> early;
    std::vector<Entry> done;
    std::function<void()> stop;
  };

  [[nodiscard]] std::uint32_t status() const noexcept { return word_.load(std::memory_order_acquire) & kStatusMask; }

  /// Takes the one completion; false when it is taken (or the result is final).
  bool claim() noexcept {
    std::uint32_t w = word_.load(std::memory_order_relaxed);
    for (;;) {
      if ((w & kSettling) != 0 || (w & kStatusMask) >= kCancelled) return false;
      if (word_.compare_exchange_weak(w, w | kSettling, std::memory_order_acq_rel)) return true;
    }
  }
  void lock() const noexcept {
    for (unsigned spins = 0;; ++spins) {
      std::uint32_t w = word_.load(std::memory_order_relaxed);
      if ((w & kLocked) == 0 && word_.compare_exchange_weak(w, w | kLocked, std::memory_order_acquire)) return;
      if (spins > 64) std::this_thread::yield();  // the holder only moves a vector entry
    }
  }
  void unlock() const noexcept { word_.fetch_and(~kLocked, std::memory_order_release); }
  Extras& extras() {
    if (!extras_) extras_ = std::make_unique<Extras>();
    return *extras_;
  }

  static void run(Entry& e, ResultStateBase& self) noexcept {
    try {
      e.cb(self);
    } catch (...) {
      report_callback_exception(e.what);
    }
  }

  void add(Callback cb, const char* what, bool early, const void* tag) {
    const std::uint32_t flag = early ? kHasEarly : kHasDone;
    lock();
    std::uint32_t w = word_.load(std::memory_order_acquire);
    // Settle callbacks are too late once the completion is claimed; done callbacks once final.
    auto too_late = [early](std::uint32_t x) {
      return (x & kStatusMask) >= kCancelled || (early && (x & kSettling) != 0);
    };
    if (!too_late(w)) {
      try {
        auto& list = early ? extras().early : extras().done;
        list.push_back(Entry{std::move(cb), what, tag});
      } catch (...) {
        unlock();
        throw;
      }
      // The flag goes on with a CAS on the word the completer claims/publishes with, so one of
      // the two sees the other: either the completer finds the flag, or we find it too late.
      for (;;) {
        if (too_late(w)) break;
        if (word_.compare_exchange_weak(w, w | flag, std::memory_order_acq_rel)) {
          unlock();
          return;
        }
      }
      auto& list = early ? extras_->early : extras_->done;
      Entry e = std::move(list.back());
      list.pop_back();
      unlock();
      run(e, *this);
      return;
    }
    unlock();
    Entry e{std::move(cb), what, tag};
    run(e, *this);
  }

  std::vector<Entry> take(bool early) {
    lock();
    std::vector<Entry> out;
    if (extras_) out = std::move(early ? extras_->early : extras_->done);
    unlock();
    return out;
  }

  // Called by the holder of the claim: settle callbacks, publish, wake, done callbacks.
  void settle() {
    if ((word_.load(std::memory_order_acquire) & kHasEarly) != 0) {
      auto early = take(true);
      for (auto& e : early) run(e, *this);
    }
    const std::uint32_t final_status = cancelled_ ? kCancelled : kFinished;
    std::uint32_t w = word_.load(std::memory_order_relaxed);
    // Keep only the spin bit (its holder clears it); status, claim and flags are done with.
    while (!word_.compare_exchange_weak(w, final_status | (w & kLocked), std::memory_order_acq_rel)) {
    }
    if ((w & kWaiters) != 0) futex_wake(&word_, -1);
    if ((w & kHasDone) != 0) {
      auto done = take(false);
      for (auto& e : done) run(e, *this);
    }
  }

  mutable std::atomic<std::uint32_t> word_{kPending};
  bool cancelled_ = false;
  std::exception_ptr error_;
  std::unique_ptr<Extras> extras_;
};

/// The shared state of one result of type R.
template <class R>
class ResultState : public ResultStateBase {
 public:
  using value_type = R;
  ResultState() = default;
  ~ResultState() override {
    if (has_value_) std::launder(reinterpret_cast<R*>(&storage_))->~R();
  }

  template <class... A>
  bool try_set_value(A&&... a) {
    return try_complete([&] {
      ::new (static_cast<void*>(&storage_)) R(std::forward<A>(a)...);
      has_value_ = true;
    });
  }
  template <class... A>
  void set_value(A&&... a) {
    if (!try_set_value(std::forward<A>(a)...)) throw_already_set();
  }

  /// The value of a ready result; rethrows its exception (CancelledError when cancelled).
  /// Call only once ready() (wait first).
  R& value() {
    rethrow_if_failed();
    return *std::launder(reinterpret_cast<R*>(&storage_));
  }
  /// For settle callbacks: the value when the result is a value, else null.
  R* value_if_any() noexcept { return has_value_ ? std::launder(reinterpret_cast<R*>(&storage_)) : nullptr; }

 private:
  alignas(R) unsigned char storage_[sizeof(R)];
  bool has_value_ = false;
};

template <>
class ResultState<void> : public ResultStateBase {
 public:
  using value_type = void;
  bool try_set_value() {
    return try_complete([] {});
  }
  void set_value() {
    if (!try_set_value()) throw_already_set();
  }
  void value() { rethrow_if_failed(); }
};

/// Runs `f(args...)` and completes `st` with its value or the exception it throws (the
/// original exception type: producer and consumer share one process). False when `st` was
/// already complete.
template <class R, class F, class... A>
bool complete_with(ResultState<R>& st, F&& f, A&&... args) noexcept {
  try {
    if constexpr (std::is_void_v<R>) {
      std::invoke(std::forward<F>(f), std::forward<A>(args)...);
      return st.try_set_value();
    } else {
      return st.try_set_value(std::invoke(std::forward<F>(f), std::forward<A>(args)...));
    }
  } catch (...) {
    try {
      return st.try_set_exception(std::current_exception());
    } catch (...) {
      return false;  // std::bad_alloc building the callback list; nothing better to do
    }
  }
}

/// What AsyncResult::get() and Future::result() return for a ready state: a copy of the value
/// (so it may be asked again), a reference for a move-only R, nothing for void; rethrows the
/// task's exception.
template <class R>
decltype(auto) fetch_result(ResultState<R>& s) {
  if constexpr (std::is_void_v<R>) {
    s.value();
  } else if constexpr (std::is_copy_constructible_v<R>) {
    return R(s.value());
  } else {
    return static_cast<R&>(s.value());
  }
}

}  // namespace detail
}  // namespace kin
