// kin::Pool (multiprocessing.Pool): every call with its errors and timeouts, RemoteError,
// callbacks that throw, worker death (SIGKILL, segfault, exit) mid-apply and mid-map with every
// task either done or WorkerLost, retries and the poison-task limit, per-task timeout,
// maxtasksperchild, initializer failure, terminate during a map, an endless imap.
#include <kin/current_process.hpp>
#include <kin/pool.hpp>
#include <kin/progress.hpp>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <ranges>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

using namespace std::chrono_literals;

namespace {

struct MyError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

int square(int x) { return x * x; }
int add(int a, int b) { return a + b; }
std::string greet(std::string s) { return "hello " + s; }
int thrower(int x) {
  if (x == 3) throw MyError("three is bad");
  return x;
}
int sleeper(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
int self_kill(int x) {
  if (x == 5) ::kill(::getpid(), SIGKILL);
  return x;
}
int die_exit(int x) { std::_Exit(x); }
int my_pid(int) { return static_cast<int>(::getpid()); }
int add_one(int x) { return x + 1; }
int g_inits_in_this_worker = 0;
int print_in_worker(int x) {
  std::printf("in worker %d;", x);  // no newline, no flush: the worker's exit must write it
  return x;
}
std::string who_am_i(int) {
  auto me = kin::current_process();
  auto parent = kin::parent_process();
  return me.name + (me.daemon ? " daemon " : " ") + (parent ? std::to_string(parent->pid) : "none");
}
void bad_init() { throw MyError("no config"); }
int segv(int x) {
  ::raise(SIGSEGV);
  return x;
}
void nothing() {}

TEST(Pool, ApplyApplyAsyncAndCallbacks) {
  kin::Pool pool{2};
  EXPECT_EQ(pool.apply(square, 7), 49);
  EXPECT_EQ(pool.apply(add, 2, 3), 5);
  EXPECT_EQ(pool.apply(greet, std::string("kin")), "hello kin");
  pool.apply(nothing);
  std::atomic<int> got{0};
  auto r = pool.apply_async(square, 9, kin::callbacks{[&](int& v) { got = v; }});
  EXPECT_EQ(r.get(5s), 81);
  EXPECT_EQ(got.load(), 81);
  EXPECT_TRUE(r.ready());
  EXPECT_TRUE(r.successful());
  auto lam = pool.apply([](int x) { return x + 1; }, 1);
  EXPECT_EQ(lam, 2);
}

// _test_multiprocessing.py _TestPool.test_map_async_callbacks: map_async's callback gets the
// whole result list, its error_callback the error; exactly one of them runs, once.
TEST(Pool, MapAsyncAndStarmapAsyncCallbacks) {
  kin::Pool pool{2};
  std::mutex mu;
  std::vector<std::vector<int>> results;
  std::vector<std::string> errors;
  auto on_ok = [&](std::vector<int>& v) {
    std::lock_guard g{mu};
    results.push_back(v);
  };
  auto on_error = [&](const std::exception& e) {
    std::lock_guard g{mu};
    errors.emplace_back(e.what());
  };
  auto r = pool.map_async(square, std::vector{1, 2, 3}, kin::callbacks{on_ok, on_error});
  EXPECT_EQ(r.get(10s), (std::vector<int>{1, 4, 9}));
  {
    std::lock_guard g{mu};
    ASSERT_EQ(results.size(), 1u);
    EXPECT_EQ(results[0], (std::vector<int>{1, 4, 9}));
    EXPECT_TRUE(errors.empty());
  }
  auto bad = pool.map_async(thrower, std::vector{1, 2, 3, 4}, 1, kin::callbacks{on_ok, on_error});
  EXPECT_THROW((void)bad.get(10s), kin::RemoteError);
  {
    std::lock_guard g{mu};
    EXPECT_EQ(results.size(), 1u);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_NE(errors[0].find("three is bad"), std::string::npos) << errors[0];
  }
  auto star = pool.starmap_async(add, std::vector{std::tuple{1, 2}, std::tuple{3, 4}}, kin::callbacks{on_ok});
  EXPECT_EQ(star.get(10s), (std::vector<int>{3, 7}));
  auto empty = pool.map_async(square, std::vector<int>{}, kin::callbacks{on_ok});
  EXPECT_TRUE(empty.get(10s).empty());
  std::lock_guard g{mu};
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[1], (std::vector<int>{3, 7}));
  EXPECT_TRUE(results[2].empty());
}

TEST(Pool, RemoteErrorCarriesTypeAndMessage) {
  kin::Pool pool{2};
  std::atomic<bool> err_cb{false};
  auto r = pool.apply_async(thrower, 3, kin::callbacks{.on_error = [&](const std::exception&) { err_cb = true; }});
  try {
    r.get(5s);
    FAIL();
  } catch (const kin::RemoteError& e) {
    EXPECT_NE(e.type_name().find("MyError"), std::string::npos) << e.type_name();
    EXPECT_EQ(e.message(), "three is bad");
  }
  EXPECT_TRUE(err_cb.load());
  EXPECT_FALSE(r.successful());
  EXPECT_THROW(pool.map(thrower, std::vector{1, 2, 3, 4}), kin::RemoteError);
  EXPECT_EQ(pool.apply(square, 2), 4);  // still serving
}

TEST(Pool, ThrowingCallbackDoesNotBreakThePool) {
  kin::Pool pool{1};
  auto r = pool.apply_async(square, 2, kin::callbacks{[](int&) { throw MyError("cb"); }});
  r.wait(5s);
  EXPECT_TRUE(r.ready());
  EXPECT_EQ(pool.apply(square, 3), 9);
}

TEST(Pool, GetTimeout) {
  kin::Pool pool{1};
  auto r = pool.apply_async(sleeper, 300);
  EXPECT_THROW(r.get(20ms), kin::TimeoutError);
  EXPECT_FALSE(r.wait(1ms));
  EXPECT_THROW((void)r.successful(), kin::ValueError);
  EXPECT_EQ(r.get(5s), 300);
}

TEST(Pool, MapStarmapChunks) {
  kin::Pool pool{2};
  std::vector<int> in(1000);
  for (int i = 0; i < 1000; ++i) in[static_cast<std::size_t>(i)] = i;
  auto out = pool.map(square, in);
  ASSERT_EQ(out.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(out[static_cast<std::size_t>(i)], i * i);
  EXPECT_EQ(pool.map(square, in, 1).size(), 1000u);
  EXPECT_EQ(pool.map(square, in, 7)[999], 999 * 999);
  EXPECT_TRUE(pool.map(square, std::vector<int>{}).empty());
  auto s = pool.starmap(add, std::vector<std::tuple<int, int>>{{1, 2}, {3, 4}});
  EXPECT_EQ(s, (std::vector<int>{3, 7}));
  auto a = pool.map_async(square, std::views::iota(0, 10));
  EXPECT_EQ(a.get(5s)[9], 81);
  auto sa = pool.starmap_async(add, std::vector<std::tuple<int, int>>{{5, 5}});
  EXPECT_EQ(sa.get(5s)[0], 10);
}

TEST(Pool, ImapOrderedUnorderedAndEndless) {
  kin::Pool pool{2};
  std::vector<int> got;
  for (int v : pool.imap(square, std::vector{1, 2, 3, 4, 5})) got.push_back(v);
  EXPECT_EQ(got, (std::vector<int>{1, 4, 9, 16, 25}));
  std::multiset<int> un;
  for (int v : pool.imap_unordered(square, std::views::iota(0, 50), 4)) un.insert(v);
  EXPECT_EQ(un.size(), 50u);
  EXPECT_EQ(*un.rbegin(), 49 * 49);
  // An endless input: only a bounded window is ever pulled.
  long pulled = 0;
  auto counting = std::views::iota(0) | std::views::transform([&pulled](int x) {
                    ++pulled;
                    return x;
                  });
  int n = 0;
  for (int v : pool.imap(square, counting, 8)) {
    EXPECT_EQ(v, n * n);
    if (++n == 2000) break;
  }
  EXPECT_LE(pulled, 2000 + 8 * 2 * 2 + 8);
  auto it = pool.imap(sleeper, std::vector{300});
  EXPECT_THROW(it.next(10ms), kin::TimeoutError);
  EXPECT_EQ(it.next(5s), 300);
  auto bad = pool.imap(thrower, std::vector{1, 2, 3});
  EXPECT_EQ(bad.next(), 1);
  EXPECT_EQ(bad.next(), 2);
  EXPECT_THROW(bad.next(), kin::RemoteError);
}

// chunksize 0: the chunk grows while chunks come back quickly and stays 1 for slow tasks;
// order and completeness are those of any imap.
TEST(Pool, ImapAutomaticChunkingAdaptsToTheTaskCost) {
  kin::Pool pool{2};
  auto fast = pool.imap(square, std::views::iota(0, 20000), 0);
  EXPECT_EQ(fast.chunksize(), 1u);
  int n = 0;
  for (int v : fast) {
    ASSERT_EQ(v, n * n);
    ++n;
  }
  EXPECT_EQ(n, 20000);
  EXPECT_GT(fast.chunksize(), 1u);  // cheap tasks: it grew
  auto slow = pool.imap(sleeper, std::vector<int>(6, 60), 0);
  for (int v : slow) EXPECT_EQ(v, 60);
  EXPECT_EQ(slow.chunksize(), 1u);  // 60 ms a task: never grouped
  auto given = pool.imap(square, std::views::iota(0, 100), 7);
  for ([[maybe_unused]] int v : given) {
  }
  EXPECT_EQ(given.chunksize(), 7u);  // a given chunksize is honoured
}

TEST(Pool, CloseJoinTerminateAndUseAfterClose) {
  {
    kin::Pool pool{2};
    auto r = pool.map_async(sleeper, std::vector{20, 20, 20});
    EXPECT_THROW(pool.join(), kin::ValueError);
    pool.close();
    EXPECT_THROW(pool.apply(square, 1), kin::ValueError);
    pool.join();
    EXPECT_EQ(r.get(1s).size(), 3u);
  }
  {
    kin::Pool pool{2};
    // Tasks of 10 s, a bound of 5 s: a terminate that waited for them would be caught, and a
    // loaded (or sanitized) machine has room.
    auto r = pool.map_async(sleeper, std::vector{10000, 10000, 10000, 10000}, 1);
    std::this_thread::sleep_for(20ms);
    auto t0 = std::chrono::steady_clock::now();
    pool.terminate();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
    EXPECT_THROW(r.get(1s), kin::CancelledError);
    pool.join();
  }
  {
    kin::Pool pool{2};
    auto r = pool.apply_async(sleeper, 5000);
  }  // destructor terminates; the test listener checks no worker is left
}

TEST(Pool, WorkerKilledFailsOnlyItsTask) {
  kin::Pool pool{2};
  auto r = pool.apply_async(sleeper, 3000);
  std::this_thread::sleep_for(50ms);
  auto pids = pool.worker_pids();
  ASSERT_EQ(pids.size(), 2u);
  auto busy_pid = pool.apply_async(my_pid, 0);  // runs on the idle worker
  int idle = busy_pid.get(5s);
  pid_t victim = pids[0] == idle ? pids[1] : pids[0];
  ::kill(victim, SIGKILL);
  try {
    r.get(5s);
    FAIL();
  } catch (const kin::WorkerLost& e) {
    EXPECT_EQ(e.pid(), victim);
    EXPECT_EQ(e.status().signal(), SIGKILL);
  }
  EXPECT_EQ(pool.apply(square, 4), 16);
  EXPECT_EQ(pool.worker_pids().size(), 2u);
}

TEST(Pool, SelfKillSegfaultAndExitMidMap) {
  kin::Pool pool{2};
  std::vector<int> in(20);
  for (int i = 0; i < 20; ++i) in[static_cast<std::size_t>(i)] = i;
  EXPECT_THROW(pool.map(self_kill, in, 1), kin::WorkerLost);
  EXPECT_THROW(pool.apply(segv, 1), kin::WorkerLost);
  try {
    pool.apply(die_exit, 7);
    FAIL();
  } catch (const kin::WorkerLost& e) {
    EXPECT_EQ(e.status().exitcode(), 7);
  }
  // Every other task of a stream completes exactly once.
  std::vector<kin::AsyncResult<int>> rs;
  for (int i = 0; i < 40; ++i) rs.push_back(pool.apply_async(self_kill, i % 10));
  int ok = 0, lost = 0;
  for (auto& r : rs) {
    try {
      r.get(5s);
      ++ok;
    } catch (const kin::WorkerLost&) {
      ++lost;
    }
  }
  EXPECT_EQ(lost, 4);
  EXPECT_EQ(ok, 36);
}

// PoolOptions::prefetch: tasks sent behind the running one never started, so the death of
// their worker sends them back to the queue: only the task that killed it fails.
TEST(Pool, TasksSentAheadToADyingWorkerRunElsewhere) {
  kin::Pool pool{kin::PoolOptions{.processes = 1, .prefetch = 4}};
  auto killer = pool.apply_async(self_kill, 5);
  std::vector<kin::AsyncResult<int>> behind;
  for (int i = 0; i < 4; ++i) behind.push_back(pool.apply_async(square, i));
  EXPECT_THROW(killer.get(5s), kin::WorkerLost);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(behind[static_cast<std::size_t>(i)].get(5s), i * i);
}

TEST(Pool, RetriesAndPoisonTask) {
  kin::Pool pool{kin::PoolOptions{.processes = 2, .max_retries = 10, .max_worker_kills = 3}};
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(pool.apply(self_kill, 5), kin::WorkerLost);  // killed 3 workers, then failed
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_EQ(pool.apply(self_kill, 4), 4);
}

TEST(Pool, PerTaskTimeoutKillsOnlyThatWorker) {
  kin::Pool pool{kin::PoolOptions{.processes = 2, .task_timeout = 100ms}};
  auto slow = pool.apply_async(sleeper, 3000);
  auto fast = pool.apply_async(sleeper, 10);
  EXPECT_THROW(slow.get(3s), kin::TimeoutError);
  EXPECT_EQ(fast.get(3s), 10);
  EXPECT_EQ(pool.apply(square, 3), 9);
}

TEST(Pool, MaxTasksPerChild) {
  kin::Pool pool{kin::PoolOptions{.processes = 1, .maxtasksperchild = 2}};
  std::set<int> pids;
  for (int i = 0; i < 6; ++i) pids.insert(pool.apply(my_pid, 0));
  EXPECT_EQ(pids.size(), 3u);
}

TEST(Pool, InitializerFailureBreaksThePool) {
  kin::Pool pool{kin::PoolOptions{.processes = 2, .initializer = bad_init}};
  auto t0 = std::chrono::steady_clock::now();
  try {
    pool.apply(square, 2);
    FAIL();
  } catch (const kin::RemoteError& e) {
    EXPECT_NE(std::string(e.what()).find("no config"), std::string::npos);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  std::this_thread::sleep_for(20ms);
  EXPECT_THROW(pool.apply(square, 2), kin::RemoteError);
}

void count_init() { g_inits_in_this_worker = 1; }
int inits_seen(int) { return g_inits_in_this_worker; }

// _test_multiprocessing.py's TestPool runs under every start method: spawn and forkserver
// workers are other images of the program, reached through (object, offset) code references.
class PoolStartMethods : public ::testing::TestWithParam<kin::StartMethod> {};

TEST_P(PoolStartMethods, MapApplyImapInitializerAndErrors) {
  kin::Pool pool{kin::PoolOptions{.processes = 2, .initializer = &count_init, .start_method = GetParam()}};
  EXPECT_EQ(pool.apply(square, 5), 25);
  EXPECT_EQ(pool.apply(greet, std::string("spawn")), "hello spawn");
  auto sq = pool.map(square, std::views::iota(0, 100));
  ASSERT_EQ(sq.size(), 100u);
  EXPECT_EQ(sq[99], 99 * 99);
  int sum = 0;
  for (int r : pool.imap_unordered(add_one, std::vector{1, 2, 3})) sum += r;
  EXPECT_EQ(sum, 9);
  EXPECT_EQ(pool.apply(inits_seen, 0), 1);
  EXPECT_EQ(pool.apply([](int x) { return x * 3; }, 4), 12);  // a capture-less lambda is a function
  try {
    pool.apply(thrower, 3);
    FAIL() << "no RemoteError";
  } catch (const kin::RemoteError& e) {
    EXPECT_NE(std::string(e.type_name()).find("MyError"), std::string::npos) << e.type_name();
  }
  EXPECT_THROW(pool.apply(self_kill, 5), kin::WorkerLost);
  EXPECT_EQ(pool.apply(square, 6), 36);  // replaced
  const std::string who = pool.apply(who_am_i, 0);
  const char* want = GetParam() == kin::StartMethod::spawn ? "SpawnPoolWorker-" : "ForkServerPoolWorker-";
  EXPECT_EQ(who.rfind(want, 0), 0u) << who;
  pool.close();
  pool.join();
}

TEST_P(PoolStartMethods, ClosureInitializerIsAStartMethodError) {
  int captured = 1;
  EXPECT_THROW(kin::Pool(kin::PoolOptions{.processes = 1, .initializer = [captured] { (void)captured; }, .start_method = GetParam()}),
               kin::StartMethodError);
}

INSTANTIATE_TEST_SUITE_P(NotFork, PoolStartMethods,
                         ::testing::Values(kin::StartMethod::spawn, kin::StartMethod::forkserver),
                         [](const auto& param_info) { return std::string(kin::to_string(param_info.param)); });

}  // namespace

// multiprocessing.pool names its workers ForkPoolWorker-N, daemon processes whose
// parent_process() is the pool's owner.
TEST(Pool, WorkersAreDaemonsNamedForkPoolWorker) {
  kin::Pool pool{1};
  const std::string who = pool.apply(who_am_i, 0);
  EXPECT_EQ(who.rfind("ForkPoolWorker-", 0), 0u) << who;
  EXPECT_NE(who.find(" daemon "), std::string::npos) << who;
  EXPECT_EQ(who.substr(who.rfind(' ') + 1), std::to_string(::getpid())) << who;
}

// Python flushes stdio before it forks a worker and when a worker exits
// (util._flush_std_streams): what the parent buffered is written once, what a task printed is
// not lost.
TEST(Pool, BufferedOutputIsWrittenOnceAndTaskOutputIsKept) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  std::fflush(stdout);
  const int saved = ::dup(1);
  ASSERT_GE(saved, 0);
  ASSERT_EQ(::dup2(p[1], 1), 1);
  ::close(p[1]);
  std::printf("before;");  // stays in this process's buffer: no newline, no flush
  {
    kin::Pool pool{1};
    EXPECT_EQ(pool.apply(print_in_worker, 7), 7);
    pool.close();
    pool.join();
  }
  std::printf("after;");
  std::fflush(stdout);
  ::dup2(saved, 1);
  ::close(saved);
  std::string out;
  char buf[256];
  for (ssize_t n; (n = ::read(p[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  ::close(p[0]);
  EXPECT_EQ(out, "before;in worker 7;after;");
}

// The header's own example: tqdm over pool.imap (kin::progress needs a viewable range).
static_assert(std::ranges::viewable_range<kin::PoolIMapIterator<int>>);
TEST(Pool, ImapUnderProgress) {
  kin::Pool pool{2};
  std::vector<int> in{1, 2, 3, 4, 5};
  const int devnull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  ASSERT_GE(devnull, 0);
  int sum = 0;
  for (int r : kin::progress(pool.imap(square, in), kin::ProgressOptions{.total = in.size(), .fd = devnull})) sum += r;
  ::close(devnull);
  EXPECT_EQ(sum, 1 + 4 + 9 + 16 + 25);
}
