// RobustMutex: the owning word behind kin::Lock, RLock, Condition, the Queue's ring and the
// internal state lock of Barrier. It is a pthread mutex placed in shared memory with
// PTHREAD_PROCESS_SHARED + PTHREAD_MUTEX_ROBUST: glibc keeps it on the owning thread's robust
// list, and when that thread or its process dies (SIGKILL included) the kernel marks the word
// FUTEX_OWNER_DIED and wakes a waiter. The next locker gets EOWNERDEAD, the mutex is made
// consistent at once, and the caller is told through LockResult::owner_died. glibc owns the
// robust list, so kin uses pthread robust mutexes for ownership and plain futexes for waiting.
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

}  // namespace kin::detail
