// Fault injection for kin's tests: run a piece of code in a real child process and get its
// ExitStatus back, optionally killed at a named point inside kin (kin/runtime/test_point.hpp)
// (kin/runtime/fault_point.hpp, KIN_FAULT_AT) or under a resource limit. Every wait is bounded: a child still running after `timeout` is
// SIGKILLed (and reported as killed by SIGKILL), and it is always reaped.
//
//   auto st = kin::testing::run_in_child([] { kin::SharedMemory s{"x", 4096}; return 0; });
//   EXPECT_TRUE(st.success()) << st.str();
//   auto died = kin::testing::run_in_child(body, {.die_at = "shm.create.opened"});
//   EXPECT_EQ(died.signal(), SIGKILL);
//
// The child leaves through _exit (no atexit hooks, no gtest teardown); an exception escaping
// `body` prints its message and exits 101, a failed expectation inside is up to the body (return
// non-zero). A body that needs the crash to look like a crash (no atexit cleanup) gets it for free.
#pragma once

#include <kin/exit_status.hpp>

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <optional>
#include <thread>

namespace kin::testing {

struct ChildOptions {
  /// KIN_FAULT_AT in the child: it SIGKILLs itself at that kin fault_point().
  const char* die_at = nullptr;
  /// A resource limit set in the child before `body` runs (e.g. {RLIMIT_FSIZE, 4096}).
  std::optional<std::pair<int, rlim_t>> rlimit;
  std::chrono::milliseconds timeout{30000};
};

/// The child's pid is passed to `started` (if given) right after fork, in the parent: the
/// parent's side of the scenario runs there, while the child runs (an exception from it is
/// rethrown after the child is reaped).
inline kin::ExitStatus run_in_child(const std::function<int()>& body, ChildOptions options = {},
                                    const std::function<void(pid_t)>& started = {}) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) std::abort();
  if (pid == 0) {
    if (options.die_at != nullptr) ::setenv("KIN_FAULT_AT", options.die_at, 1);
    if (options.rlimit) {
      rlimit rl{options.rlimit->second, options.rlimit->second};
      if (::setrlimit(options.rlimit->first, &rl) != 0) ::_exit(102);
    }
    int code = 0;
    try {
      code = body();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child: uncaught %s\n", e.what());
      code = 101;
    }
    std::fflush(nullptr);
    ::_exit(code);
  }
  std::exception_ptr failed;
  if (started) {
    try {
      started(pid);
    } catch (...) {
      failed = std::current_exception();  // still reap the child first
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + options.timeout;
  int status = 0;
  for (;;) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (failed) std::rethrow_exception(failed);
  return kin::ExitStatus::from_wait_status(status);
}

}  // namespace kin::testing
