#include <kin/runtime/runtime.hpp>  // first: the header is self-contained

#include <kin/lock.hpp>
#include <kin/process.hpp>
#include <kin/queue.hpp>
#include <kin/runtime/syscall.hpp>

#include <gtest/gtest.h>

#include "sanitizer_limits.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <thread>

using namespace std::chrono_literals;
using kin::detail::Deadline;
using kin::detail::Readiness;
using kin::detail::Runtime;

namespace {

int all_threads() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/task")) {
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') ++n;
    ::closedir(d);
  }
  return n;
}

// Threads the sanitizer runtime itself runs in a helper, counted when the helper starts.
int g_runtime_threads = 0;

// This process's threads other than the sanitizer's: 1 in a fresh helper.
int thread_count() { return all_threads() - g_runtime_threads; }

// Runs `body` in a raw-forked helper; its return value is the helper's exit code.
int in_helper(const std::function<int()>& body) {
  pid_t pid = ::fork();
  if (pid == 0) {
    g_runtime_threads = all_threads() - 1;
    ::_exit(body());
  }
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(2ms);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

// A one-shot flag a callback on the runtime thread sets and a test waits for (bounded).
struct Flag {
  std::mutex m;
  std::condition_variable cv;
  bool set = false;
  void raise() {
    std::lock_guard g{m};
    set = true;
    cv.notify_all();
  }
  bool wait(std::chrono::milliseconds bound) {
    std::unique_lock g{m};
    return cv.wait_for(g, bound, [&] { return set; });
  }
};

}  // namespace

TEST(Runtime, AProgramUsingOnlyQueuesAndLocksStartsNoThread) {
  // A fresh process (the helper: a fork child gets an idle runtime) with one thread.
  EXPECT_EQ(in_helper([] {
              kin::Queue<int> q;
              q.put(1);
              if (q.get() != 1) return 1;
              kin::Lock l;
              l.acquire();
              l.release();
              if (Runtime::get().started()) return 2;
              return thread_count() == 1 ? 0 : 3;
            }),
            0);
}

TEST(Runtime, PostRunsOnTheRuntimeThreadWhichStartsOnFirstUse) {
  EXPECT_EQ(in_helper([] {
              if (Runtime::get().started() || thread_count() != 1) return 1;
              Flag f;
              std::atomic<bool> on_thread{false};
              kin::detail::post([&] {
                on_thread = Runtime::get().on_runtime_thread();
                f.raise();
              });
              if (!f.wait(10s) || !on_thread) return 2;
              if (Runtime::get().on_runtime_thread()) return 3;
              // TSan starts its background thread beside the first new one in a fork child.
              return thread_count() == 2 + (kin::testing::tsan ? 1 : 0) ? 0 : 4;
            }),
            0);
}

TEST(Runtime, RunWaitsAndRethrows) {
  int x = 0;
  Runtime::get().run([&] { x = 5; });
  EXPECT_EQ(x, 5);
  EXPECT_THROW(Runtime::get().run([] { throw std::runtime_error("boom"); }), std::runtime_error);
  // The loop survives a callback that throws.
  Runtime::get().post([] { throw std::runtime_error("ignored"); });
  Runtime::get().run([&] { x = 6; });
  EXPECT_EQ(x, 6);
}

TEST(Runtime, WatchFiresWhenReadableAndUnwatchStopsIt) {
  auto p = kin::detail::make_pipe();
  Flag fired;
  Runtime::get().watch_fd(p.read.get(), Readiness::read, [&] { fired.raise(); });
  EXPECT_FALSE(fired.wait(50ms));
  ASSERT_EQ(::write(p.write.get(), "x", 1), 1);
  EXPECT_TRUE(fired.wait(10s));

  auto q = kin::detail::make_pipe();
  std::atomic<int> calls{0};
  auto id = Runtime::get().watch_fd(q.read.get(), Readiness::read, [&] { ++calls; });
  Runtime::get().unwatch_fd(id);
  ASSERT_EQ(::write(q.write.get(), "x", 1), 1);
  std::this_thread::sleep_for(50ms);
  Runtime::get().run([] {});  // anything queued has run by now
  EXPECT_EQ(calls, 0);
}

TEST(Runtime, TimersFireAtTheirDeadlineAndCanBeCancelled) {
  Flag fired;
  auto t0 = std::chrono::steady_clock::now();
  Runtime::get().call_at(Deadline::after(50ms), [&] { fired.raise(); });
  ASSERT_TRUE(fired.wait(10s));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 50ms);

  std::atomic<int> calls{0};
  auto id = Runtime::get().call_at(Deadline::after(30ms), [&] { ++calls; });
  Runtime::get().cancel_timer(id);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(calls, 0);
}

TEST(Runtime, AForkChildStartsWithAFreshIdleRuntime) {
  // The parent's runtime is running and watching a pipe.
  auto p = kin::detail::make_pipe();
  Flag parent_fired;
  Runtime::get().watch_fd(p.read.get(), Readiness::read, [&] { parent_fired.raise(); });
  Runtime::get().run([] {});
  const auto parent_fds = Runtime::get().own_fds();
  ASSERT_FALSE(parent_fds.empty()) << "the io_context's fds were not found";
  const int write_end = p.write.get();
  EXPECT_EQ(in_helper([&] {
              // No thread, no watches, none of the parent's io_context fds.
              if (Runtime::get().started()) return 1;
              if (thread_count() != 1) return 2;
              for (int fd : parent_fds)
                if (::fcntl(fd, F_GETFD) != -1) return 3;
              // Data on the parent's watched pipe does not reach a watch here (there is none),
              // and the parent's own watch still fires.
              if (::write(write_end, "x", 1) != 1) return 4;
              // The child's own runtime works.
              Flag f;
              kin::detail::post([&] { f.raise(); });
              return f.wait(10s) ? 0 : 5;
            }),
            0);
  EXPECT_TRUE(parent_fired.wait(10s)) << "the child disturbed the parent's watch";
}

namespace {
std::atomic<int> g_prepared{0}, g_parented{0};
int g_childed = 0;
void count_prepare() { ++g_prepared; }
void count_parent() { ++g_parented; }
void count_child() { ++g_childed; }
}  // namespace

TEST(Runtime, ForkHooksRunAroundEveryFork) {
  static const int hooked = kin::detail::at_fork(count_prepare, count_parent, count_child);
  (void)hooked;
  const int before_prepare = g_prepared, before_parent = g_parented;
  EXPECT_EQ(in_helper([] { return g_childed == 1 ? 0 : 1; }), 0);
  EXPECT_EQ(g_prepared, before_prepare + 1);
  EXPECT_EQ(g_parented, before_parent + 1);
}
