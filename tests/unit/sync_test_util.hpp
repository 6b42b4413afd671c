// Raw fork helpers for the shared-state tests: a child runs a function and _exits with its
// result; the parent waits for that pid only, with a bound, and kills it if it overstays.
#pragma once

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <exception>
#include <thread>

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
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
}

/// Polls `cond` every ms for at most `limit`.
template <class Cond>
bool eventually(Cond cond, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return cond();
}

}  // namespace kin::test
