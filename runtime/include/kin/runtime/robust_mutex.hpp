// RobustMutex: the owning word behind kin::Lock, RLock, Condition, the Queue's ring and the
// internal state lock of Barrier. It is a pthread mutex placed in shared memory with
// PTHREAD_PROCESS_SHARED + PTHREAD_MUTEX_ROBUST: glibc keeps it on the owning thread's robust
// list, and when that thread or its process dies (SIGKILL included) the kernel marks the word
// FUTEX_OWNER_DIED and wakes a waiter. The next locker gets EOWNERDEAD, the mutex is made
// consistent at once, and the caller is told through LockResult::owner_died. glibc owns the
// robust list, so kin uses pthread robust mutexes for ownership and plain futexes for waiting.
// RobustLock is the scope guard over one; kin::Lock's engine (OwnedLock) holds its mutex
// across calls instead, so it locks and unlocks the mutex itself.
#pragma once

#include <kin/runtime/futex.hpp>

#include <pthread.h>

namespace kin::detail {

enum class LockResult { acquired, owner_died, timeout };

struct RobustMutex {
  pthread_mutex_t m;

  /// Initialises the mutex in place (the segment is fresh, zero-filled memory).
  void init();
  /// Locks, waiting until `deadline` (none = forever).
  LockResult lock(Deadline deadline = std::nullopt);
  /// Locks only if free now.
  LockResult try_lock();
  /// Unlocks; false when the calling thread does not own it (nothing changes then).
  bool unlock() noexcept;
};

/// Holds a RobustMutex for a scope, as std::unique_lock holds a std::mutex: the one guard over
/// the robust mutexes of kin's shared objects (Barrier's state, the Queue ring's two locks).
/// It knows whether it holds, so a caller may unlock() to sleep and lock() again inside the
/// scope, and an exception between the two releases nothing it does not hold. What a holder's
/// death left behind is the caller's to handle: lock() returns LockResult::owner_died (the
/// mutex is already consistent again) and owner_died() remembers it for the current holding.
///
///   RobustLock g{state->mu};                     // or {mu, deadline}: check g.owns()
///   if (g.owner_died()) repair(state);
///   g.unlock(); futex_wait(...); g.lock();
class RobustLock {
 public:
  RobustLock() noexcept = default;
  /// Locks `m`, waiting until `deadline` (none = forever; with one, check owns()).
  explicit RobustLock(RobustMutex& m, Deadline deadline = std::nullopt) : m_(&m) { lock(deadline); }
  RobustLock(RobustLock&& o) noexcept : m_(o.m_), owns_(o.owns_), died_(o.died_) { o.owns_ = false; }
  RobustLock& operator=(RobustLock&&) = delete;
  RobustLock(const RobustLock&) = delete;
  RobustLock& operator=(const RobustLock&) = delete;
  ~RobustLock() { unlock(); }

  /// Locks `m` (this guard must not hold another mutex now).
  LockResult lock(RobustMutex& m, Deadline deadline = std::nullopt) {
    m_ = &m;
    return lock(deadline);
  }
  /// Locks the mutex again (after unlock()).
  LockResult lock(Deadline deadline = std::nullopt) {
    const LockResult r = m_->lock(deadline);
    owns_ = r != LockResult::timeout;
    died_ = r == LockResult::owner_died;
    return r;
  }
  void unlock() noexcept {
    if (owns_) m_->unlock();
    owns_ = false;
  }
  [[nodiscard]] bool owns() const noexcept { return owns_; }
  /// The current holding was taken over from a holder that died.
  [[nodiscard]] bool owner_died() const noexcept { return owns_ && died_; }

 private:
  RobustMutex* m_ = nullptr;
  bool owns_ = false;
  bool died_ = false;
};

}  // namespace kin::detail
