// kin::Condition — Python's Condition across processes and threads. It is built over a kin::Lock
// or kin::RLock (a new RLock by default, as in Python) and is itself lockable: hold it, test your
// predicate, wait(); notify()/notify_all() must be called while holding it (else ValueError).
//
// Waiting is a futex on a sequence word that notify() bumps while holding the lock, so a
// notification between the waiter's release of the lock and its sleep is never lost. As with
// std::condition_variable, a notify(n) may wake more than n waiters; wait_for(predicate) loops
// on the predicate and is the form to use. A waiter killed while asleep holds nothing; one killed
// while holding the lock is handled by the lock's robustness (previous_owner_died()).
#pragma once

#include <kin/detail/lockable.hpp>
#include <kin/errors.hpp>

#include <kin/lock.hpp>
#include <kin/rlock.hpp>
#include <kin/runtime/futex.hpp>
#include <kin/runtime/shared_block.hpp>

#include <chrono>

namespace kin {

class Condition : public detail::Lockable<Condition> {
 public:
  /// Over a new RLock.
  Condition();
  /// Over a given lock (shared with its other holders).
  explicit Condition(const Lock& lock);
  explicit Condition(const RLock& lock);

  bool acquire(bool blocking = true) { return lock_.acquire(blocking, std::nullopt); }
  template <class Rep, class Period>
  bool acquire(std::chrono::duration<Rep, Period> timeout) {
    return lock_.acquire(true, detail::deadline_after(timeout));
  }
  void release() { lock_.release(); }
  [[nodiscard]] bool previous_owner_died() const noexcept { return lock_.previous_owner_died(); }

  /// Releases the lock, sleeps until notified, takes the lock back. ValueError if not held.
  void wait() { wait_until(std::nullopt); }
  /// As wait(); false when `timeout` passed without a notification.
  template <class Rep, class Period>
  bool wait(std::chrono::duration<Rep, Period> timeout) {
    return wait_until(detail::deadline_after(timeout));
  }
  /// Waits until `pred()` is true (checked with the lock held); returns pred().
  template <class Pred>
  bool wait_for(Pred pred) {
    while (!pred()) wait();
    return true;
  }
  /// Waits at most `timeout` in total; returns the last pred() result.
  template <class Pred, class Rep, class Period>
  bool wait_for(Pred pred, std::chrono::duration<Rep, Period> timeout) {
    auto d = detail::deadline_after(timeout);
    while (!pred()) {
      if (!wait_until(d)) return pred();
    }
    return true;
  }
  /// Wakes at least one waiter (up to n), if any. ValueError unless the lock is held.
  void notify(int n = 1);
  void notify_all() { notify(-1); }

  template <class Inspector>
  friend void inspect(Inspector& f, Condition& x) {
    bool recursive = x.lock_.recursive();
    f(recursive);
    detail::inspect_block(f, x.lock_.block());
    detail::inspect_block(f, x.block_);
    if constexpr (Inspector::writes_state) x.lock_ = detail::OwnedLock{x.lock_.block(), recursive};
  }

 private:
  explicit Condition(detail::OwnedLock lock);
  bool wait_until(detail::Deadline d);
  detail::OwnedLock lock_;
  detail::SharedBlock block_;
};

}  // namespace kin
