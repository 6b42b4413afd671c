#include <kin/runtime/robust_mutex.hpp>
#include <kin/runtime/syscall.hpp>

#include <cerrno>
#include <ctime>
#include <thread>

namespace kin::detail {

namespace {
LockResult settle(int rc, const char* call) {
  switch (rc) {
    case 0: return LockResult::acquired;
    case ETIMEDOUT:
    case EBUSY: return LockResult::timeout;
    case EOWNERDEAD: {
      return LockResult::owner_died;
    }
    default: throw_errno(call, rc);
  }
}
}  // namespace

void RobustMutex::init() {
  pthread_mutexattr_t a;
  if (int rc = pthread_mutexattr_init(&a); rc != 0) throw_errno("pthread_mutexattr_init", rc);
  pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
  // Error-checking type: unlocking a mutex this thread does not hold reports EPERM instead of
  // corrupting it (robust mutexes check the owner anyway; this makes relocking EDEADLK too).
  pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
  int rc = pthread_mutex_init(&m, &a);
  pthread_mutexattr_destroy(&a);
  if (rc != 0) throw_errno("pthread_mutex_init", rc);
}

LockResult RobustMutex::lock(Deadline deadline) {
  int rc;
  if (!deadline) {
    rc = pthread_mutex_lock(&m);
  } else {
#if defined(__SANITIZE_THREAD__)
    // GCC 12's ThreadSanitizer does not intercept pthread_mutex_clocklock, and its timedlock
    // interceptor ignores EOWNERDEAD (both then end in false "unlock of an unlocked mutex"
    // reports). Its trylock interceptor handles both: poll it in TSan builds.
    for (;;) {
      rc = pthread_mutex_trylock(&m);
      if (rc != EBUSY) break;
      if (std::chrono::steady_clock::now() >= *deadline) {
        rc = ETIMEDOUT;
        break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
#else
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline->time_since_epoch()).count();
    if (ns < 0) ns = 0;
    timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
    rc = pthread_mutex_clocklock(&m, CLOCK_MONOTONIC, &ts);
#endif
  }
  if (rc == EDEADLK) throw ValueError("kin: lock is already held by this thread (use kin::RLock to re-enter)");
  LockResult r = settle(rc, "pthread_mutex_lock");
  if (r == LockResult::owner_died) pthread_mutex_consistent(&m);
  return r;
}

LockResult RobustMutex::try_lock() {
  int rc = pthread_mutex_trylock(&m);
  if (rc == EDEADLK) return LockResult::timeout;
  LockResult r = settle(rc, "pthread_mutex_trylock");
  if (r == LockResult::owner_died) pthread_mutex_consistent(&m);
  return r;
}

bool RobustMutex::unlock() noexcept { return pthread_mutex_unlock(&m) == 0; }

}  // namespace kin::detail
