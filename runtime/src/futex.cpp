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
#include <cstdio>
#include <cstring>
#include <string>

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

namespace {
// Reads /proc/<pid>/stat; returns false when the process does not exist.
bool read_stat(std::int32_t pid, char& state, std::uint64_t& start_time) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE* f = std::fopen(path, "re");
  if (f == nullptr) return false;
  char buf[1024];
  std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  // The command name (field 2) may contain spaces and parentheses: parse after the last ')'.
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr) return false;
  ++p;
  char st = 0;
  unsigned long long start = 0;
  // fields 3 (state) .. 22 (starttime): skip 18 fields in between.
  if (std::sscanf(p, " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
                  &st, &start) != 2)
    return false;
  state = st;
  start_time = start;
  return true;
}
}  // namespace

bool process_is_dead(std::int32_t pid, std::uint64_t start_time) {
  if (pid <= 0) return false;
  char state = 0;
  std::uint64_t start = 0;
  if (!read_stat(pid, state, start)) return true;
  if (state == 'Z' || state == 'X') return true;
  return start_time != 0 && start != start_time;
}

std::uint64_t process_start_time(std::int32_t pid) {
  char state = 0;
  std::uint64_t start = 0;
  return read_stat(pid, state, start) ? start : 0;
}

}  // namespace kin::detail
