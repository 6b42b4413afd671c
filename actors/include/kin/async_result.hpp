// kin::AsyncResult<R>: the result of Pool/ThreadPool apply_async, map_async and starmap_async
// (Python's multiprocessing.pool.AsyncResult), and kin::callbacks{on_ok, on_error}, the
// callback/error_callback pair those calls take.
//
//   auto r = pool.apply_async(square, 7, kin::callbacks{
//       [](int v) { std::printf("got %d\n", v); },
//       [](const std::exception& e) { std::printf("failed: %s\n", e.what()); }});
//   int v = r.get(1s);            // kin::TimeoutError when not ready within 1 s
//   r.ready(); r.successful();    // successful() before ready() is a kin::ValueError, as Python
//
// get() rethrows the task's exception: in a ThreadPool the original exception object (same
// process), in a process Pool a kin::RemoteError or kin::WorkerLost. The callbacks run on the
// thread that completes the result, before get() returns (Python's order); a callback that
// throws is reported on stderr and does not harm the pool. An AsyncResult is a handle: copies
// share one result, and it may outlive its pool (a pool that terminates fails what it drops).
//
// What a crash does: a worker that dies fails only its own results (WorkerLost); a result that
// nothing completes makes get() wait until its timeout, never past it.
#pragma once

#include <kin/detail/result_state.hpp>
#include <kin/errors.hpp>

#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

namespace kin {

/// No callback (the default of both members of kin::callbacks).
struct no_callback {};

/// Python's `callback=` / `error_callback=` of apply_async/map_async/starmap_async:
/// `kin::callbacks{on_ok}`, `kin::callbacks{on_ok, on_error}`,
/// `kin::callbacks{.on_error = f}`. on_ok takes the value (nothing for void results); on_error
/// takes a std::exception_ptr or a `const std::exception&`.
template <class OnOk = no_callback, class OnError = no_callback>
struct callbacks {
  OnOk on_ok{};
  OnError on_error{};
};

namespace detail {

template <class T>
struct is_callbacks : std::false_type {};
template <class A, class B>
struct is_callbacks<callbacks<A, B>> : std::true_type {};
/// True for kin::callbacks<...>: how a pool's apply_async tells its last argument apart.
template <class T>
inline constexpr bool is_callbacks_v = is_callbacks<std::remove_cvref_t<T>>::value;

template <class OnError>
void call_on_error(OnError& on_error, const std::exception_ptr& e) {
  if constexpr (std::is_same_v<OnError, no_callback>) {
    (void)on_error;
    (void)e;
  } else if constexpr (std::is_invocable_v<OnError&, std::exception_ptr>) {
    on_error(e);
  } else {
    static_assert(std::is_invocable_v<OnError&, const std::exception&>,
                  "kin::callbacks: on_error must take a std::exception_ptr or a const std::exception&");
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      on_error(ex);
    } catch (...) {
      // Not a std::exception: nothing the callback's signature can receive. Report it like an
      // exception in a callback so it is not silently dropped.
      report_callback_exception("error_callback (a non-std::exception was raised)");
    }
  }
}

/// Installs `cbs` on `st` so they run before the result is ready (Pool's callback order).
template <class R, class OnOk, class OnError>
void attach_callbacks(ResultState<R>& st, callbacks<OnOk, OnError> cbs) {
  if constexpr (std::is_same_v<OnOk, no_callback> && std::is_same_v<OnError, no_callback>) {
    (void)st;
    (void)cbs;
  } else {
    if constexpr (!std::is_same_v<OnOk, no_callback>) {
      if constexpr (std::is_void_v<R>) {
        static_assert(std::is_invocable_v<OnOk&>, "kin::callbacks: on_ok of a void result takes no argument");
      } else {
        static_assert(std::is_invocable_v<OnOk&, R&>, "kin::callbacks: on_ok must take the result value");
      }
    }
    st.on_settle(
        [c = std::move(cbs)](ResultStateBase& base) mutable {
          auto& s = static_cast<ResultState<R>&>(base);
          if (s.settled_cancelled()) return;
          if constexpr (std::is_void_v<R>) {
            if (auto e = s.settled_exception()) {
              call_on_error(c.on_error, e);
            } else if constexpr (!std::is_same_v<OnOk, no_callback>) {
              c.on_ok();
            }
          } else {
            if (R* v = s.value_if_any()) {
              if constexpr (!std::is_same_v<OnOk, no_callback>) c.on_ok(*v);
            } else {
              call_on_error(c.on_error, s.settled_exception());
            }
          }
        },
        "pool");
  }
}

}  // namespace detail

/// The result of an asynchronous pool call.
template <class R>
class AsyncResult {
 public:
  using value_type = R;
  using State = detail::ResultState<R>;

  /// An empty handle (every call is a ValueError); pools hand out real ones.
  AsyncResult() = default;
  explicit AsyncResult(std::shared_ptr<State> state) : state_(std::move(state)) {}

  /// Waits for the result and returns it (a copy: get() may be called again), or rethrows the
  /// task's exception. A move-only R is returned by reference.
  decltype(auto) get() const {
    wait();
    return fetch();
  }
  /// get() waiting at most `timeout`: kin::TimeoutError when the result is not ready by then.
  template <class Rep, class Period>
  decltype(auto) get(std::chrono::duration<Rep, Period> timeout) const {
    if (!wait(timeout)) throw TimeoutError("kin::AsyncResult::get: the result is not ready (timeout)");
    return fetch();
  }
  /// Waits until the result is ready.
  void wait() const { checked().wait(detail::Deadline::never()); }
  /// Waits at most `timeout`; true when the result is ready.
  template <class Rep, class Period>
  bool wait(std::chrono::duration<Rep, Period> timeout) const {
    return checked().wait(detail::Deadline::after(timeout));
  }
  [[nodiscard]] bool ready() const { return checked().ready(); }
  /// Whether the call completed without raising; kin::ValueError while not ready (as Python).
  [[nodiscard]] bool successful() const {
    if (!checked().ready()) throw ValueError("kin::AsyncResult::successful: the result is not ready");
    return checked().succeeded();
  }

  /// The shared state (for producers and adaptors).
  [[nodiscard]] const std::shared_ptr<State>& state() const noexcept { return state_; }
  [[nodiscard]] bool valid() const noexcept { return state_ != nullptr; }

 private:
  State& checked() const {
    if (!state_) throw ValueError("kin::AsyncResult: an empty handle (not from a pool call)");
    return *state_;
  }
  // Through checked(), not state_->: GCC's -O3 -Wnonnull cannot see that an empty handle threw.
  decltype(auto) fetch() const { return detail::fetch_result(checked()); }

  std::shared_ptr<State> state_;
};

}  // namespace kin
