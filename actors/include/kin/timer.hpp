// kin::Timer — Python's threading.Timer: a Thread that calls f(args...) after an interval
// unless cancel() comes first. cancel() wakes the waiting thread at once (a condition
// variable, not a sleep), so a cancelled Timer ends immediately and join() returns.
// Like any callable-built Thread, the Timer object may be destroyed before it fires: the
// pending call still happens (a non-daemon Timer is waited for at the program's exit).
#pragma once

#include <kin/thread.hpp>

#include <chrono>
#include <concepts>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <tuple>
#include <type_traits>
#include <utility>

namespace kin {

namespace detail {
struct TimerFlag {
  std::mutex m;
  std::condition_variable cv;
  bool cancelled = false;
};
}  // namespace detail

class Timer : public Thread {
 public:
  template <class Rep, class Period, class F, class... Args>
    requires std::invocable<std::decay_t<F>, std::decay_t<Args>...>
  Timer(std::chrono::duration<Rep, Period> interval, F&& f, Args&&... args)
      : Timer(ThreadOptions{}, interval, std::forward<F>(f), std::forward<Args>(args)...) {}

  template <class Rep, class Period, class F, class... Args>
    requires std::invocable<std::decay_t<F>, std::decay_t<Args>...>
  Timer(ThreadOptions options, std::chrono::duration<Rep, Period> interval, F&& f,
        Args&&... args)
      : Timer(std::move(options), std::make_shared<detail::TimerFlag>(),
              std::chrono::ceil<std::chrono::nanoseconds>(interval), std::forward<F>(f),
              std::forward<Args>(args)...) {}

  /// Stops the timer if it has not fired yet; harmless afterwards or before start().
  void cancel() {
    if (!flag_) throw ValueError("kin::Timer::cancel: moved-from Timer");
    {
      std::lock_guard lk{flag_->m};
      flag_->cancelled = true;
    }
    flag_->cv.notify_all();
  }

 private:
  template <class F, class... Args>
  Timer(ThreadOptions options, std::shared_ptr<detail::TimerFlag> flag,
        std::chrono::nanoseconds interval, F&& f, Args&&... args)
      : Thread(std::move(options),
               [flag, interval, f = std::decay_t<F>(std::forward<F>(f)),
                args = std::tuple<std::decay_t<Args>...>(std::forward<Args>(args)...)]() mutable {
                 {
                   std::unique_lock lk{flag->m};
                   if (flag->cv.wait_for(lk, interval, [&] { return flag->cancelled; })) return;
                 }
                 std::apply(f, std::move(args));
               }),
        flag_(std::move(flag)) {}

  std::shared_ptr<detail::TimerFlag> flag_;
};

}  // namespace kin
