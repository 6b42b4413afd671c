// kin::Semaphore — Python's multiprocessing.Semaphore / threading.Semaphore across processes
// and threads; copies share the counter. acquire() takes a permit (optionally with a timeout
// or non-blocking), release(n) gives n back. Also Lockable/TimedLockable (lock = acquire).
//
//   kin::Semaphore items{0};
//   kin::Process producer{[items]() mutable { items.release(); }};   // one item made
//   items.acquire(1s);                                              // one item taken
//
// A semaphore is a counter and counts exactly, across processes and deaths: a permit taken and
// not released is consumed, whether its taker exits normally or is SIGKILLed — kin never hands
// it out again on the dead process's behalf (a semaphore has no owner to recover from; for
// mutual exclusion that survives a holder's death use kin::Lock, whose next acquirer is told).
// The count is one atomic word with no lock around it: a process killed or stopped at any
// point blocks no one, and a timed acquire is bounded by its timeout alone.
#pragma once

#include <kin/detail/lockable.hpp>
#include <kin/errors.hpp>

#include <kin/runtime/counting_semaphore.hpp>
#include <kin/runtime/futex.hpp>

#include <chrono>
#include <cstdint>

namespace kin {

class Semaphore : public detail::Lockable<Semaphore> {
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

  template <class Inspector>
  friend void inspect(Inspector& f, Semaphore& x) {
    detail::inspect_block(f, x.impl_.block());
  }

 protected:
  Semaphore(std::uint32_t value, bool bounded) : impl_(value, bounded) {}

 private:
  bool take(bool blocking, detail::Deadline d) { return impl_.acquire(blocking, d); }
  detail::CountingSemaphore impl_;
};

}  // namespace kin
