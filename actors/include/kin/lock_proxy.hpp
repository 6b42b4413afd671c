// kin::LockProxy, kin::RLockProxy, kin::SemaphoreProxy, kin::BoundedSemaphoreProxy: locks and
// semaphores kept by a kin::Manager's server process (Python's m.Lock(), m.RLock(), ...).
//
//   auto lock = m.Lock();
//   { std::lock_guard g{lock};  ... }        // or acquire() / acquire(100ms) / release()
//   auto sem = m.Semaphore(3);  sem.acquire();  sem.release();
//
// A blocked acquire waits on the server, which grants in arrival order; acquire(timeout)
// returns false when the time runs out. A Lock is held by the connection that acquired it:
// when that client process dies (or its last proxy to the server goes) while holding it, the
// server releases it, so the next acquirer gets it instead of hanging. An RLock is owned by
// the acquiring thread of the acquiring process and counts its re-acquisitions. release() of
// a lock that is not held, of an RLock held by another thread, or of a BoundedSemaphore past
// its initial value is kin::ValueError. When the server is gone every call is
// kin::ManagerLost.
#pragma once

#include <kin/detail/manager_proxy.hpp>

#include <chrono>
#include <cstdint>

namespace kin {

namespace detail::mgr {
class SyncProxy : public ProxyBase {
 public:
  SyncProxy() = default;
  using ProxyBase::ProxyBase;

  void acquire() { (void)acquire_for(-1); }
  template <class Rep, class Period>
  [[nodiscard]] bool acquire(std::chrono::duration<Rep, Period> timeout) {
    return acquire_for(timeout_us(timeout));
  }
  /// acquire(blocking=False).
  [[nodiscard]] bool try_acquire() { return acquire_for(0); }
  void release() {
    auto f = request(Op::s_release);
    const std::int64_t owner = owner_token();
    Writer{f}.raw(&owner, sizeof owner);
    (void)call(f);
  }
  // BasicLockable / Lockable, for std::lock_guard and std::unique_lock.
  void lock() { acquire(); }
  void unlock() { release(); }
  [[nodiscard]] bool try_lock() { return try_acquire(); }

 protected:
  bool acquire_for(std::int64_t us) {
    auto f = request(Op::s_acquire);
    Writer w{f};
    const std::int64_t owner = owner_token();
    w.raw(&us, sizeof us);
    w.raw(&owner, sizeof owner);
    auto r = call(f);
    auto rd = reader(r);
    bool ok = false;
    rd.apply(ok);
    return ok;
  }
  [[nodiscard]] std::int64_t value() const {
    auto f = request(Op::s_value);
    auto r = call(f);
    auto rd = reader(r);
    return get_num<std::int64_t>(rd);
  }
};
}  // namespace detail::mgr

class LockProxy : public detail::mgr::SyncProxy {
 public:
  using SyncProxy::SyncProxy;
  /// True while some client holds it.
  [[nodiscard]] bool locked() const { return value() == 0; }
};

class RLockProxy : public detail::mgr::SyncProxy {
 public:
  using SyncProxy::SyncProxy;
};

class SemaphoreProxy : public detail::mgr::SyncProxy {
 public:
  using SyncProxy::SyncProxy;
  /// The current count (Python's Semaphore._value / get_value()).
  [[nodiscard]] std::int64_t get_value() const { return value(); }
};

class BoundedSemaphoreProxy : public detail::mgr::SyncProxy {
 public:
  using SyncProxy::SyncProxy;
  [[nodiscard]] std::int64_t get_value() const { return value(); }
};

}  // namespace kin
