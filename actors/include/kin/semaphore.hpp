// kin::Semaphore — Python's multiprocessing.Semaphore / threading.Semaphore across processes
// and threads; copies share the counter. acquire() takes a permit (optionally with a timeout
// or non-blocking), release(n) gives n back. Also Lockable/TimedLockable (lock = acquire).
//
// Robust: a semaphore has no owner, so kin counts each process's acquires minus releases; when
// a process dies holding permits, a waiter that has slept 100 ms without a wake-up puts them
// back, and the acquirer that takes such a permit sees previous_owner_died() == true (a flag
// of this handle, for its latest acquire). See runtime/counting_semaphore.hpp for the details.
#pragma once

#include <kin/errors.hpp>

#include <kin/runtime/counting_semaphore.hpp>
#include <kin/runtime/futex.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>

namespace kin {

class Semaphore {
 public:
  /// `value` free permits (Python's default is 1).
  explicit Semaphore(std::uint32_t value = 1) : impl_(value, false) {}

  bool acquire(bool blocking = true) { return take(blocking, std::nullopt); }
  template <class Rep, class Period>
  bool acquire(std::chrono::duration<Rep, Period> timeout) {
    return take(true, detail::deadline_after(timeout));
  }
  void release(std::uint32_t n = 1) { impl_.release(n); }
  /// Free permits now (Python's get_value()).
  [[nodiscard]] std::uint32_t get_value() const { return impl_.value(); }
  /// True when the permit taken by this handle's latest acquire came from a dead holder.
  [[nodiscard]] bool previous_owner_died() const noexcept { return died_.load(); }

  void lock() { acquire(); }
  void unlock() { release(); }
  bool try_lock() { return acquire(false); }
  template <class Rep, class Period>
  bool try_lock_for(std::chrono::duration<Rep, Period> d) {
    return acquire(d);
  }
  template <class Clock, class Duration>
  bool try_lock_until(std::chrono::time_point<Clock, Duration> tp) {
    return acquire(tp - Clock::now());
  }

  Semaphore(const Semaphore& o) : impl_(o.impl_), died_(o.died_.load()) {}
  Semaphore& operator=(const Semaphore& o) {
    impl_ = o.impl_;
    died_ = o.died_.load();
    return *this;
  }

  template <class Inspector>
  friend void inspect(Inspector& f, Semaphore& x) {
    detail::inspect_block(f, x.impl_.block());
  }

 protected:
  Semaphore(std::uint32_t value, bool bounded) : impl_(value, bounded) {}

 private:
  bool take(bool blocking, detail::Deadline d) {
    bool recovered = false;
    bool ok = impl_.acquire(blocking, d, recovered);
    if (ok) died_.store(recovered);
    return ok;
  }
  detail::CountingSemaphore impl_;
  std::atomic<bool> died_{false};
};

}  // namespace kin
