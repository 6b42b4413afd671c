#include <kin/thread.hpp>

#include <kin/errors.hpp>

#include "fork_child.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using kin::test::wait_child;

namespace {

// A gate the test opens; a thread waits on it for at most 10 s so a failing test cannot hang.
struct Gate {
  std::mutex m;
  std::condition_variable cv;
  bool open = false;
  void release() {
    {
      std::lock_guard lk{m};
      open = true;
    }
    cv.notify_all();
  }
  bool wait() {
    std::unique_lock lk{m};
    return cv.wait_for(lk, 10s, [&] { return open; });
  }
};

pid_t gettid_() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

bool has_name(const std::vector<kin::ThreadHandle>& v, const std::string& name) {
  return std::any_of(v.begin(), v.end(), [&](const kin::ThreadHandle& h) { return h.name() == name; });
}

}  // namespace

TEST(Thread, RunsCallableWithArguments) {
  int result = 0;
  kin::Thread t{[](int a, int b, int& out) { out = a + b; }, 2, 3, std::ref(result)};
  t.start();
  ASSERT_TRUE(t.join(5s));
  EXPECT_EQ(result, 5);
  EXPECT_FALSE(t.is_alive());
}

TEST(Thread, MoveOnlyArgumentsAreAccepted) {
  auto p = std::make_unique<int>(7);
  int seen = 0;
  kin::Thread t{[&seen](std::unique_ptr<int> q) { seen = *q; }, std::move(p)};
  t.start();
  t.join();
  EXPECT_EQ(seen, 7);
}

TEST(Thread, OptionsNameAndDaemon) {
  kin::Thread t{kin::ThreadOptions{.name = "worker", .daemon = true}, [] {}};
  EXPECT_EQ(t.name(), "worker");
  EXPECT_TRUE(t.daemon());
  t.start();
  t.join();
}

TEST(Thread, DefaultNameAndInheritedDaemonFlag) {
  kin::Thread a{[] {}};
  kin::Thread b{[] {}};
  EXPECT_EQ(a.name().rfind("Thread-", 0), 0u) << a.name();
  EXPECT_NE(a.name(), b.name());
  EXPECT_FALSE(a.daemon());  // the main thread is not a daemon

  // A thread created by a daemon thread is a daemon by default.
  bool child_daemon = false;
  kin::Thread d{kin::ThreadOptions{.daemon = true}, [&] {
                  kin::Thread inner{[] {}};
                  child_daemon = inner.daemon();
                }};
  d.start();
  ASSERT_TRUE(d.join(5s));
  EXPECT_TRUE(child_daemon);
}

TEST(Thread, SetNameAndDaemonBeforeStart) {
  kin::Thread t{[] {}};
  t.set_name("renamed");
  t.set_daemon(true);
  EXPECT_EQ(t.name(), "renamed");
  EXPECT_TRUE(t.daemon());
  t.start();
  EXPECT_THROW(t.set_daemon(false), kin::ValueError);
  t.join();
}

TEST(Thread, StartTwiceIsValueError) {
  kin::Thread t{[] {}};
  t.start();
  EXPECT_THROW(t.start(), kin::ValueError);
  t.join();
  EXPECT_THROW(t.start(), kin::ValueError);
}

TEST(Thread, JoinBeforeStartIsValueError) {
  kin::Thread t{[] {}};
  EXPECT_THROW(t.join(), kin::ValueError);
  EXPECT_THROW((void)t.join(10ms), kin::ValueError);
}

TEST(Thread, JoinItselfIsValueError) {
  std::atomic<bool> threw{false};
  kin::Thread* self = nullptr;
  Gate ready;
  kin::Thread t{[&] {
    ready.wait();
    try {
      self->join();
    } catch (const kin::ValueError&) {
      threw = true;
    }
  }};
  self = &t;
  t.start();
  ready.release();
  ASSERT_TRUE(t.join(5s));
  EXPECT_TRUE(threw);
}

TEST(Thread, JoinWithTimeoutOnABusyThread) {
  Gate gate;
  kin::Thread t{[&] { gate.wait(); }};
  t.start();
  EXPECT_TRUE(t.is_alive());
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(t.join(50ms));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 45ms);
  EXPECT_TRUE(t.is_alive());
  gate.release();
  EXPECT_TRUE(t.join(5s));
  EXPECT_FALSE(t.is_alive());
}

TEST(Thread, IdentAndNativeId) {
  kin::Thread t{[] {}};
  EXPECT_FALSE(t.ident().has_value());
  EXPECT_FALSE(t.native_id().has_value());
  std::atomic<pid_t> tid{0};
  std::atomic<std::uint64_t> self{0};
  Gate gate;
  kin::Thread u{[&] {
    tid = gettid_();
    self = static_cast<std::uint64_t>(::pthread_self());
    gate.wait();
  }};
  u.start();
  // start() returns once the thread runs: its ids are known.
  ASSERT_TRUE(u.native_id().has_value());
  ASSERT_TRUE(u.ident().has_value());
  gate.release();
  ASSERT_TRUE(u.join(5s));
  EXPECT_EQ(*u.native_id(), tid.load());
  EXPECT_EQ(kin::get_native_id(), ::getpid());  // on the main thread
  EXPECT_EQ(kin::get_ident(), *kin::main_thread().ident());
  std::pair<std::uint64_t, pid_t> inside{};
  kin::Thread v{[&] { inside = {kin::get_ident(), kin::get_native_id()}; }};
  v.start();
  ASSERT_TRUE(v.join(5s));
  EXPECT_EQ(inside.first, *v.ident());
  EXPECT_EQ(inside.second, *v.native_id());
  EXPECT_EQ(*u.ident(), self.load());
  EXPECT_NE(*u.native_id(), ::getpid());
  EXPECT_NE(*u.ident(), *kin::main_thread().ident());
  EXPECT_EQ(*kin::main_thread().native_id(), ::getpid());
}

namespace {
struct Counter : kin::Thread {
  explicit Counter(int n) : kin::Thread(kin::ThreadOptions{.name = "counter"}), n_(n) {}
  void run() override {
    for (int i = 0; i < n_; ++i) ++count;
    name_seen = kin::current_thread().name();
  }
  int n_;
  int count = 0;
  std::string name_seen;
};
}  // namespace

TEST(Thread, SubclassOverridingRun) {
  Counter c{1000};
  c.start();
  ASSERT_TRUE(c.join(5s));
  EXPECT_EQ(c.count, 1000);
  EXPECT_EQ(c.name_seen, "counter");
}

TEST(Thread, RunCalledDirectlyRunsTheTargetHere) {
  std::thread::id where;
  kin::Thread t{[&] { where = std::this_thread::get_id(); }};
  t.run();
  EXPECT_EQ(where, std::this_thread::get_id());
  EXPECT_FALSE(t.is_alive());
}

TEST(Thread, UncaughtExceptionIsPrintedAndTheProcessGoesOn) {
  testing::internal::CaptureStderr();
  kin::Thread t{kin::ThreadOptions{.name = "boom"}, [] { throw std::runtime_error("bad value"); }};
  t.start();
  bool joined = t.join(5s);
  std::string err = testing::internal::GetCapturedStderr();
  ASSERT_TRUE(joined);
  EXPECT_NE(err.find("Exception in thread boom:\n"), std::string::npos) << err;
  EXPECT_NE(err.find("std::runtime_error: bad value"), std::string::npos) << err;
  EXPECT_FALSE(t.is_alive());
}

TEST(Thread, NonStandardExceptionIsPrintedWithItsType) {
  testing::internal::CaptureStderr();
  kin::Thread t{kin::ThreadOptions{.name = "int-thrower"}, [] { throw 42; }};
  t.start();
  bool joined = t.join(5s);
  std::string err = testing::internal::GetCapturedStderr();
  ASSERT_TRUE(joined);
  EXPECT_NE(err.find("Exception in thread int-thrower:\nint"), std::string::npos) << err;
}

TEST(Thread, CurrentThreadAndMainThread) {
  EXPECT_EQ(kin::current_thread().name(), "MainThread");
  EXPECT_TRUE(kin::current_thread() == kin::main_thread());
  EXPECT_FALSE(kin::main_thread().daemon());
  EXPECT_TRUE(kin::main_thread().is_alive());
  EXPECT_THROW(kin::main_thread().join(), kin::ValueError);

  std::string inside;
  std::optional<pid_t> inside_id;
  kin::Thread t{kin::ThreadOptions{.name = "inner"}, [&] {
                  inside = kin::current_thread().name();
                  inside_id = kin::current_thread().native_id();
                }};
  t.start();
  ASSERT_TRUE(t.join(5s));
  EXPECT_EQ(inside, "inner");
  EXPECT_EQ(inside_id, t.native_id());
}

TEST(Thread, ForeignThreadGetsADummyDaemonHandle) {
  std::string name;
  bool daemon = false;
  bool joinable = true;
  std::thread th{[&] {
    auto h = kin::current_thread();
    name = h.name();
    daemon = h.daemon();
    try {
      h.join();
    } catch (const kin::ValueError&) {
      joinable = false;
    }
  }};
  th.join();
  EXPECT_EQ(name.rfind("Dummy-", 0), 0u) << name;
  EXPECT_TRUE(daemon);
  EXPECT_FALSE(joinable);
}

TEST(Thread, EnumerateAndActiveCount) {
  const auto before = kin::active_count();
  EXPECT_TRUE(has_name(kin::enumerate_threads(), "MainThread"));
  Gate gate;
  kin::Thread t{kin::ThreadOptions{.name = "listed"}, [&] { gate.wait(); }};
  EXPECT_FALSE(has_name(kin::enumerate_threads(), "listed"));  // not started yet
  t.start();
  EXPECT_EQ(kin::active_count(), before + 1);
  EXPECT_TRUE(has_name(kin::enumerate_threads(), "listed"));
  gate.release();
  ASSERT_TRUE(t.join(5s));
  EXPECT_EQ(kin::active_count(), before);
  EXPECT_FALSE(has_name(kin::enumerate_threads(), "listed"));
}

TEST(Thread, ObjectMayBeDestroyedWhileTheThreadRuns) {
  auto gate = std::make_shared<Gate>();
  auto done = std::make_shared<std::atomic<bool>>(false);
  std::optional<kin::ThreadHandle> h;
  {
    kin::Thread t{[gate, done] {
      gate->wait();
      *done = true;
    }};
    t.start();
    h = t.handle();
  }
  EXPECT_TRUE(h->is_alive());
  gate->release();
  ASSERT_TRUE(h->join(5s));
  EXPECT_TRUE(*done);
}

TEST(Thread, ThreadsAreMovableIntoContainers) {
  std::atomic<int> sum{0};
  std::vector<kin::Thread> ts;
  for (int i = 1; i <= 8; ++i) {
    ts.emplace_back([&sum](int k) { sum += k; }, i);
    ts.back().start();
  }
  for (auto& t : ts) ASSERT_TRUE(t.join(5s));
  EXPECT_EQ(sum, 36);
}

TEST(Thread, MovedFromThreadIsValueError) {
  kin::Thread a{[] {}};
  kin::Thread b{std::move(a)};
  EXPECT_THROW(a.start(), kin::ValueError);  // NOLINT(bugprone-use-after-move): on purpose
  EXPECT_THROW(a.set_name("x"), kin::ValueError);
  EXPECT_THROW(a.set_daemon(true), kin::ValueError);
  EXPECT_THROW((void)a.is_alive(), kin::ValueError);
  b.start();
  ASSERT_TRUE(b.join(5s));
}

TEST(Thread, ThreadsShareTheProcessPid) {
  std::vector<pid_t> pids(4);
  std::vector<kin::Thread> ts;
  for (int i = 0; i < 4; ++i) ts.emplace_back([&pids, i] { pids[i] = ::getpid(); });
  for (auto& t : ts) t.start();
  for (auto& t : ts) ASSERT_TRUE(t.join(5s));
  for (pid_t p : pids) EXPECT_EQ(p, ::getpid());
}

namespace {
// Reads a pipe until EOF, for at most 10 s.
std::string read_all_bounded(int fd) {
  std::string got;
  char buf[256];
  auto end = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    auto n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  return got;
}

int g_exit_pipe = -1;
void say(const char* s) { [[maybe_unused]] auto n = ::write(g_exit_pipe, s, std::strlen(s)); }

struct NoisyStatic {
  ~NoisyStatic() { say("static-destroyed\n"); }
};
}  // namespace

// The exit-time join must come before the destruction of statics built before the latest
// start(), not only of those built before the first one.
TEST(Thread, ExitJoinPrecedesDestructionOfStaticsBuiltBeforeTheStart) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    g_exit_pipe = fds[1];
    kin::Thread first{[] {}};
    first.start();
    first.join();
    static NoisyStatic noisy;  // built after the first start, before the worker's
    kin::Thread worker{[] {
      std::this_thread::sleep_for(200ms);
      say("worker-finished\n");
    }};
    worker.start();
    std::exit(0);
  }
  ::close(fds[1]);
  std::string got = read_all_bounded(fds[0]);
  ::close(fds[0]);
  EXPECT_EQ(wait_child(pid, 10s), 0);
  EXPECT_EQ(got, "worker-finished\nstatic-destroyed\n");
}

// A child made by a raw fork system call runs no atfork handler; its exit must still not wait
// for the parent's threads, which it does not have.
TEST(Thread, ChildForkedWithoutLibcDoesNotWaitForTheParentsThreads) {
  Gate gate;
  kin::Thread t{[&] { gate.wait(); }};  // non-daemon, running in the parent
  t.start();
  pid_t pid = static_cast<pid_t>(::syscall(SYS_fork));
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::exit(0);
  }
  int rc = wait_child(pid, 10s);
  EXPECT_NE(rc, -1000) << "the child hung at exit";
#ifndef __SANITIZE_ADDRESS__
  EXPECT_EQ(rc, 0);  // (LeakSanitizer fails the exit of a raw-forked child: the parent's threads' memory)
#endif
  gate.release();
  ASSERT_TRUE(t.join(5s));
}

// Python's exit: non-daemon threads are joined, daemon threads abandoned. Run in a forked
// child that calls std::exit while both kinds run; its output comes back through a pipe.
TEST(Thread, ExitJoinsNonDaemonThreadsAndAbandonsDaemons) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    int out = fds[1];
    auto say = [out](const char* s) { [[maybe_unused]] auto n = ::write(out, s, std::strlen(s)); };
    // The forking thread is the child's main thread; the parent's threads are gone.
    if (kin::current_thread() != kin::main_thread() || kin::active_count() != 1) say("bad-registry\n");
    kin::Thread daemon{kin::ThreadOptions{.name = "d", .daemon = true}, [say] {
                         std::this_thread::sleep_for(20s);
                         say("daemon-finished\n");
                       }};
    kin::Thread worker{kin::ThreadOptions{.name = "w"}, [say] {
                         std::this_thread::sleep_for(200ms);
                         say("worker-finished\n");
                       }};
    daemon.start();
    worker.start();
    say("main-exiting\n");
    std::exit(0);
  }
  ::close(fds[1]);
  std::string got;
  char buf[256];
  auto end = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < end) {
    pollfd p{fds[0], POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    auto n = ::read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  EXPECT_EQ(wait_child(pid, 10s), 0);
  EXPECT_EQ(got, "main-exiting\nworker-finished\n");
}
