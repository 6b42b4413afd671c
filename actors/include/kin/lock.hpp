// kin::Lock — Python's multiprocessing.Lock / threading.Lock, working across processes and
// threads. Copies share one lock (pass it to a fork child by copy, to spawn/forkserver children
// as an argument). It satisfies TimedLockable, so std::lock_guard / std::unique_lock /
// std::scoped_lock work.
//
// Robust: if the holder dies (process killed, thread exited) the next acquirer gets the lock
// instead of hanging, and `previous_owner_died()` is true for that holding — kin reports by a
// flag, not by throwing, so a std::lock_guard never ends up owning a lock it did not construct.
// Ownership is per thread: release() by a thread that does not hold it throws ValueError.
#pragma once

#include <kin/detail/lockable.hpp>
#include <kin/errors.hpp>

#include <kin/runtime/futex.hpp>
#include <kin/runtime/owned_lock.hpp>

#include <chrono>

namespace kin {

class Lock : public detail::Lockable<Lock> {
 public:
  /// A new, unlocked lock in shared memory.
  Lock() : impl_(detail::OwnedLock::create(false)) {}

  /// Blocks until acquired (blocking = true) or tries once; true when acquired.
  bool acquire(bool blocking = true) { return impl_.acquire(blocking, std::nullopt); }
  /// Waits at most `timeout`; true when acquired.
  template <class Rep, class Period>
  bool acquire(std::chrono::duration<Rep, Period> timeout) {
    return impl_.acquire(true, detail::deadline_after(timeout));
  }
  /// Throws ValueError when this thread does not hold the lock.
  void release() { impl_.release(); }

  /// True while some thread (in any process) holds it.
  [[nodiscard]] bool locked() const noexcept { return impl_.locked(); }
  /// True when the current holding was taken over from a holder that died.
  [[nodiscard]] bool previous_owner_died() const noexcept { return impl_.previous_owner_died(); }

  template <class Inspector>
  friend void inspect(Inspector& f, Lock& x) {
    detail::inspect_block(f, x.impl_.block());
  }

 private:
  friend struct detail::LockAccess;  // Value, Array and Condition share the state
  explicit Lock(detail::OwnedLock impl) noexcept : impl_(std::move(impl)) {}

  detail::OwnedLock impl_;
};

}  // namespace kin
