// kin::detail::Lockable<Derived>: the standard library's TimedLockable names — lock, unlock,
// try_lock, try_lock_for, try_lock_until — for Lock, RLock, Semaphore and Condition, written
// once in terms of the Python names each defines: acquire(bool blocking), acquire(duration)
// and release(). So std::lock_guard, std::unique_lock and std::scoped_lock take any of them.
//
//   class Lock : public detail::Lockable<Lock> { public: bool acquire(bool); ... };
#pragma once

#include <chrono>
#include <utility>

namespace kin::detail {

template <class Derived>
class Lockable {
 public:
  void lock() { self().acquire(); }
  void unlock() { self().release(); }
  bool try_lock() { return self().acquire(false); }
  template <class Rep, class Period>
  bool try_lock_for(std::chrono::duration<Rep, Period> d) {
    return self().acquire(d);
  }
  template <class Clock, class Duration>
  bool try_lock_until(std::chrono::time_point<Clock, Duration> tp) {
    return self().acquire(tp - Clock::now());
  }

 private:
  Derived& self() { return static_cast<Derived&>(*this); }
};

/// How Value, Array and Condition reach the shared state of a Lock or RLock, which stays out of
/// those types' public API: Value and Array keep their lock inside their own segment, and a
/// Condition built on a lock shares that lock's state.
struct LockAccess {
  template <class L, class Impl>
  static L make(Impl impl) {
    return L{std::move(impl)};
  }
  template <class L>
  static const auto& impl(const L& lock) noexcept {
    return lock.impl_;
  }
};

}  // namespace kin::detail
