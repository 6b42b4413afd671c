// kin::ConditionProxy: a condition variable kept by a kin::Manager's server process (Python's
// m.Condition() / m.Condition(lock)).
//
//   auto cv = m.Condition();                 // over a new RLock of its own, as in Python
//   auto items = m.list<int>();
//   {                                          // a consumer, in any process
//     std::unique_lock g{cv};
//     if (cv.wait_for([&] { return items.size() > 0; }, 5s)) use(items.pop(0));
//   }
//   { std::lock_guard g{cv};  items.append(1);  cv.notify(); }   // a producer
//
// It is lockable like a LockProxy (acquire/release, lock/unlock/try_lock: its lock's). wait()
// releases the lock entirely — whatever an RLock's depth — and takes it back before it returns,
// also when it times out (wait(timeout) is then false); wait_for(predicate[, timeout]) checks
// the predicate with the lock held and waits until it holds or the time is up, returning its
// last value. notify(n) wakes up to n waiters in the order they began to wait, notify_all()
// all of them; a woken waiter returns once it holds the lock again. wait() or notify() without
// holding the lock (an RLock: held by this thread; a Lock: held at all, as Python's
// _is_owned) is kin::ValueError (Python: RuntimeError), as with kin::Condition.
// m.Condition(lock) shares a LockProxy or RLockProxy of the same manager.
//
// Everything runs on the server, so a waiter's release and its parking are one step: no notify
// is lost between them. A client that dies while waiting is forgotten; one that dies holding
// the lock releases it (the LockProxy rule: the server sees its connection close), so the
// others are never stuck. When the server is gone every call — a wait in progress included —
// is kin::ManagerLost.
#pragma once

#include <kin/lock_proxy.hpp>

#include <chrono>
#include <cstdint>

namespace kin {

class ConditionProxy : public detail::mgr::SyncProxy {
  using Op = detail::mgr::Op;

 public:
  ConditionProxy() = default;
  using SyncProxy::SyncProxy;

  /// Releases the lock, waits until notified, takes the lock back. ValueError if not held.
  void wait() { (void)wait_us(-1); }
  /// As wait(); false when `timeout` passed without a notification (the lock is held again).
  template <class Rep, class Period>
  [[nodiscard]] bool wait(std::chrono::duration<Rep, Period> timeout) {
    return wait_us(detail::mgr::timeout_us(timeout));
  }
  /// Waits until `pred()` is true (checked with the lock held); returns true.
  template <class Pred>
  bool wait_for(Pred pred) {
    while (!pred()) wait();
    return true;
  }
  /// Waits at most `timeout` in all; returns the last pred() result (Python's wait_for).
  template <class Pred, class Rep, class Period>
  bool wait_for(Pred pred, std::chrono::duration<Rep, Period> timeout) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::ceil<std::chrono::steady_clock::duration>(timeout);
    for (bool result = pred(); !result; result = pred()) {
      const auto left = until - std::chrono::steady_clock::now();
      if (left <= left.zero()) return false;
      (void)wait(left);
    }
    return true;
  }
  /// Wakes up to `n` waiters (the longest waiting first). ValueError if the lock is not held.
  void notify(std::int64_t n = 1) { notify_n(n < 0 ? 0 : n); }
  void notify_all() { notify_n(-1); }

 private:
  bool wait_us(std::int64_t us) {
    auto r = call_as_owner(Op::c_wait, us);
    auto rd = detail::mgr::reader(r);
    bool notified = false;
    rd.apply(notified);
    return notified;
  }
  void notify_n(std::int64_t n) { (void)call_as_owner(Op::c_notify, n); }
  // Both requests carry one number and the caller's owner token (the server checks the lock).
  Bytes call_as_owner(Op op, std::int64_t arg) {
    auto f = request(op);
    detail::Writer w{f};
    const std::int64_t owner = detail::mgr::owner_token();
    w.raw(&arg, sizeof arg);
    w.raw(&owner, sizeof owner);
    return call(f);
  }
};

}  // namespace kin
