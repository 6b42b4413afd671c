// Raw fork helpers for the shared-state tests: a child runs a function and _exits with its
// result; the parent waits for that pid only, with a bound, and kills it if it overstays.
// fork_holder is the first half of every "a holder is SIGKILLed" test: a child takes the lock
// (the permits, the segment...) and stays, and the parent goes on once it holds.
//
//   pid_t pid = kin::test::fork_holder([&] { lock.acquire(); });
//   ASSERT_GT(pid, 0);
//   kin::test::kill_child(pid);               // killed while holding
//   ASSERT_TRUE(lock.acquire(5s));            // ... and the next acquirer is told
//
// Plain fork(): call these only from a process without other threads (under ASan, see
// sanitizer_limits.hpp).
#pragma once

#include "test_util.hpp"

#include <gtest/gtest.h>

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <thread>
#include <type_traits>

namespace kin::test {

/// Forks; the child runs f() (an int exit code, or 0 for void) and _exits.
template <class F>
pid_t fork_child(F f) {
  pid_t pid = ::fork();
  if (pid < 0) std::abort();
  if (pid == 0) {
    int code = 0;
    try {
      if constexpr (std::is_void_v<decltype(f())>) {
        f();
      } else {
        code = static_cast<int>(f());
      }
    } catch (const std::exception&) {
      code = 99;
    }
    ::_exit(code);
  }
  return pid;
}

/// Waits for `pid` at most `limit`; kills and reaps it if it is still running. Returns the
/// exit code, or -signal, or -1000 when it had to be killed.
inline int wait_child(pid_t pid, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  if (pid <= 0) std::abort();  // kill(0 or -1, ...) would signal the test's own group, or all
  auto end = std::chrono::steady_clock::now() + limit;
  int status = 0;
  while (std::chrono::steady_clock::now() < end) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return -1000;
}

/// SIGKILLs and reaps `pid`.
inline void kill_child(pid_t pid) {
  if (pid <= 0) std::abort();  // kill(0 or -1, ...) would signal the test's own group, or all
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
}

/// Forks a child that runs `hold()` and then stays (paused) until it is killed; returns its
/// pid once `hold()` has returned there. A child that dies or throws first, or is not done
/// within `limit`, is a test failure and -1 (the child reaped).
template <class F>
pid_t fork_holder(F hold, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  int ready[2];
  if (::pipe(ready) != 0) std::abort();
  pid_t pid = fork_child([&] {
    ::close(ready[0]);
    hold();
    char x = 1;
    (void)!::write(ready[1], &x, 1);
    for (;;) ::pause();
  });
  ::close(ready[1]);  // so that the child's death ends the read below (EOF)
  pollfd p{ready[0], POLLIN, 0};
  int rc;
  do rc = ::poll(&p, 1, static_cast<int>(limit.count()));
  while (rc < 0 && errno == EINTR);
  char x = 0;
  const bool held = rc == 1 && ::read(ready[0], &x, 1) == 1;
  ::close(ready[0]);
  if (held) return pid;
  ADD_FAILURE() << "fork_holder: the child did not report holding (died, threw, or took over "
                << limit.count() << " ms)";
  kill_child(pid);
  return -1;
}

/// Polls `cond` every ms for at most `limit`.
template <class Cond>
bool eventually(Cond cond, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  return kin::testing::eventually(cond, limit, std::chrono::milliseconds(1));
}

}  // namespace kin::test
