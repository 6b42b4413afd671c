#include <kin/runtime/futex.hpp>
#include <kin/runtime/runtime.hpp>
#include <kin/runtime/syscall.hpp>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

namespace kin::detail {

bool futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected, Deadline deadline) {
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
  timespec ts{};
  timespec* tsp = nullptr;
  if (deadline) {
    // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time, which is steady_clock on Linux:
    // no drift from recomputing a relative timeout after each spurious return.
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline->time_since_epoch()).count();
    if (ns < 0) ns = 0;
    ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    tsp = &ts;
  }
  long rc = ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAIT_BITSET, expected,
                      tsp, nullptr, FUTEX_BITSET_MATCH_ANY);
  if (rc == 0) return true;
  switch (errno) {
    case ETIMEDOUT: return false;
    case EAGAIN:
    case EINTR: return true;
    default: throw_errno("futex(FUTEX_WAIT_BITSET)");
  }
}

int futex_wake(std::atomic<std::uint32_t>* word, int n) {
  long rc = ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAKE,
                      n < 0 ? INT_MAX : n, nullptr, nullptr, 0);
  if (rc < 0) throw_errno("futex(FUTEX_WAKE)");
  return static_cast<int>(rc);
}

namespace {
thread_local std::int32_t t_tid = 0;
// A fork child's only thread has a new id: forget the cached one there. (getpid() on every call
// would cost a system call per lock operation.)
void forget_tid_in_child() { t_tid = 0; }
[[maybe_unused]] const int g_atfork = at_fork(nullptr, nullptr, forget_tid_in_child);  // kin's one fork handler
}  // namespace

std::int32_t this_tid() noexcept {
  if (t_tid == 0) t_tid = static_cast<std::int32_t>(::gettid());
  return t_tid;
}

}  // namespace kin::detail
