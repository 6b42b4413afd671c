// kin::ThreadPoolExecutor (concurrent.futures.ThreadPoolExecutor): submit, map with timeout,
// shutdown(wait, cancel_futures), cancel, running(), callbacks, initializer failure.
#include <kin/thread.hpp>
#include <kin/thread_pool_executor.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

struct MyError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

int square(int x) { return x * x; }

/// A task that blocks until released: for "queued behind a running one" situations.
struct Gate {
  std::atomic<bool> open{false};
  std::atomic<bool> entered{false};
  void pass() {
    entered = true;
    while (!open) std::this_thread::sleep_for(1ms);
  }
  void wait_entered() {
    while (!entered) std::this_thread::sleep_for(1ms);
  }
};

TEST(ThreadPoolExecutor, SubmitAndResult) {
  kin::ThreadPoolExecutor ex{2};
  EXPECT_EQ(ex.max_workers(), 2u);
  auto f = ex.submit(square, 6);
  EXPECT_EQ(f.result(5s), 36);
  EXPECT_TRUE(f.done());
  auto s = ex.submit([](const std::string& a, int n) { return a + std::to_string(n); }, std::string("x"), 1);
  EXPECT_EQ(s.result(), "x1");
  auto v = ex.submit([] {});
  v.result(5s);
}

TEST(ThreadPoolExecutor, DefaultMaxWorkersIsPythons) {
  kin::ThreadPoolExecutor ex;
  EXPECT_GE(ex.max_workers(), 5u);  // min(32, cpu_count() + 4)
  EXPECT_LE(ex.max_workers(), 32u);
}

TEST(ThreadPoolExecutor, ExceptionOriginalTypeAndExceptionCall) {
  kin::ThreadPoolExecutor ex{1};
  auto f = ex.submit([]() -> int { throw MyError("task failed"); });
  auto e = f.exception(5s);
  ASSERT_TRUE(e);
  EXPECT_THROW(std::rethrow_exception(e), MyError);
  EXPECT_THROW((void)f.result(), MyError);
}

TEST(ThreadPoolExecutor, RunningTimeoutAndCancel) {
  kin::ThreadPoolExecutor ex{1};
  Gate g;
  auto busy = ex.submit([&] { g.pass(); });
  g.wait_entered();
  EXPECT_TRUE(busy.running());
  EXPECT_FALSE(busy.cancel());  // running: cannot
  EXPECT_FALSE(busy.cancel(true));  // a thread cannot be stopped
  auto queued = ex.submit(square, 3);
  EXPECT_FALSE(queued.running());
  EXPECT_THROW((void)queued.result(10ms), kin::TimeoutError);
  EXPECT_TRUE(queued.cancel());
  EXPECT_TRUE(queued.cancelled());
  EXPECT_THROW((void)queued.result(), kin::CancelledError);
  g.open = true;
  busy.result(5s);
  EXPECT_FALSE(busy.running());
  EXPECT_FALSE(busy.cancelled());
}

TEST(ThreadPoolExecutor, DoneCallbackRunsOnTheWorker) {
  kin::ThreadPoolExecutor ex{1};
  std::atomic<int> got{0};
  std::atomic<bool> on_worker{false};
  const auto me = std::this_thread::get_id();
  Gate g;
  auto f = ex.submit([&] {
    g.pass();
    return 5;
  });
  f.add_done_callback([&](kin::Future<int>& d) {
    on_worker = std::this_thread::get_id() != me;
    got = d.result();
  });
  g.open = true;
  EXPECT_EQ(f.result(5s), 5);
  ex.shutdown();
  EXPECT_EQ(got.load(), 5);
  EXPECT_TRUE(on_worker.load());
}

TEST(ThreadPoolExecutor, ThrowingDoneCallbackDoesNotBreakTheExecutor) {
  kin::ThreadPoolExecutor ex{1};
  testing::internal::CaptureStderr();
  auto f = ex.submit(square, 2);
  f.add_done_callback([](kin::Future<int>&) { throw MyError("cb"); });
  EXPECT_EQ(f.result(5s), 4);
  EXPECT_EQ(ex.submit(square, 3).result(5s), 9);
  ex.shutdown();
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("cb"), std::string::npos) << err;
}

TEST(ThreadPoolExecutor, SubmitAfterShutdownIsValueError) {
  kin::ThreadPoolExecutor ex{1};
  ex.shutdown();
  EXPECT_THROW((void)ex.submit(square, 1), kin::ValueError);
  EXPECT_THROW((void)ex.map(square, std::vector<int>{1}), kin::ValueError);
  ex.shutdown();  // twice is fine
}

TEST(ThreadPoolExecutor, ShutdownWaitsForQueuedWork) {
  std::atomic<int> done{0};
  std::vector<kin::Future<void>> fs;
  kin::ThreadPoolExecutor ex{2};
  for (int i = 0; i < 20; ++i) fs.push_back(ex.submit([&] {
    std::this_thread::sleep_for(1ms);
    done.fetch_add(1);
  }));
  ex.shutdown(true);
  EXPECT_EQ(done.load(), 20);
  for (auto& f : fs) EXPECT_TRUE(f.done());
}

TEST(ThreadPoolExecutor, ShutdownCancelFuturesCancelsWhatHasNotStarted) {
  kin::ThreadPoolExecutor ex{1};
  Gate g;
  auto running = ex.submit([&] {
    g.pass();
    return 1;
  });
  g.wait_entered();
  std::vector<kin::Future<int>> queued;
  for (int i = 0; i < 10; ++i) queued.push_back(ex.submit(square, i));
  ex.shutdown(false, true);
  for (auto& f : queued) EXPECT_TRUE(f.cancelled());
  g.open = true;
  EXPECT_EQ(running.result(5s), 1);
  ex.shutdown(true);
}

TEST(ThreadPoolExecutor, ShutdownWithoutWaitThenDestructorJoins) {
  std::atomic<int> done{0};
  {
    kin::ThreadPoolExecutor ex{2};
    for (int i = 0; i < 10; ++i) (void)ex.submit([&] {
      std::this_thread::sleep_for(1ms);
      done.fetch_add(1);
    });
    ex.shutdown(false);
  }
  EXPECT_EQ(done.load(), 10);
}

TEST(ThreadPoolExecutor, MapInOrderWithTimeout) {
  kin::ThreadPoolExecutor ex{3};
  std::vector<int> out;
  for (int v : ex.map(square, std::vector<int>{1, 2, 3, 4}, 5s)) out.push_back(v);
  EXPECT_EQ(out, (std::vector<int>{1, 4, 9, 16}));
  std::vector<int> lazy;
  for (int v : ex.map(square, std::views::iota(0, 5))) lazy.push_back(v);
  EXPECT_EQ(lazy, (std::vector<int>{0, 1, 4, 9, 16}));
}

TEST(ThreadPoolExecutor, MapTimeoutCancelsTheRest) {
  kin::ThreadPoolExecutor ex{1};
  Gate g;
  auto results = ex.map(
      [&](int x) {
        if (x == 0) g.pass();
        return x;
      },
      std::vector<int>{0, 1, 2}, 20ms);
  auto fs = results.futures();
  EXPECT_THROW((void)results.begin(), kin::TimeoutError);
  EXPECT_TRUE(fs[1].cancelled());
  EXPECT_TRUE(fs[2].cancelled());
  g.open = true;
  EXPECT_EQ(fs[0].result(5s), 0);
}

TEST(ThreadPoolExecutor, MapExceptionPropagatesAndStops) {
  kin::ThreadPoolExecutor ex{2};
  auto results = ex.map(
      [](int x) {
        if (x == 1) throw MyError("one");
        return x;
      },
      std::vector<int>{0, 1, 2});
  auto it = results.begin();
  EXPECT_EQ(*it, 0);
  EXPECT_THROW(++it, MyError);
}

TEST(ThreadPoolExecutor, InitializerFailureBreaksTheExecutor) {
  testing::internal::CaptureStderr();
  {
    kin::ThreadPoolExecutor ex{kin::ThreadPoolExecutorOptions{.max_workers = 2, .initializer = [] { throw MyError("init"); }}};
    auto f = ex.submit(square, 2);
    EXPECT_THROW((void)f.result(5s), MyError);
    auto g = ex.submit(square, 3);
    EXPECT_THROW((void)g.result(5s), MyError);
  }
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("init"), std::string::npos) << err;
}

TEST(ThreadPoolExecutor, AsCompletedAndWaitWithRealTasks) {
  kin::ThreadPoolExecutor ex{4};
  std::vector<kin::Future<int>> fs;
  for (int i = 0; i < 8; ++i) fs.push_back(ex.submit([i] {
    std::this_thread::sleep_for(std::chrono::milliseconds(8 - i));
    return i;
  }));
  int sum = 0;
  for (auto& f : kin::as_completed(fs, 10s)) sum += f.result();
  EXPECT_EQ(sum, 28);
  auto [done, not_done] = kin::wait(fs, 1s, kin::ALL_COMPLETED);
  EXPECT_EQ(done.size(), 8u);
  EXPECT_TRUE(not_done.empty());
}

TEST(ThreadPoolExecutor, AStreamOfTrivialTasksAllComplete) {
  kin::ThreadPoolExecutor ex{4};
  std::vector<kin::Future<int>> fs;
  fs.reserve(20000);
  for (int i = 0; i < 20000; ++i) fs.push_back(ex.submit(square, i % 100));
  long sum = 0;
  for (auto& f : fs) sum += f.result(10s);
  long want = 0;
  for (int i = 0; i < 20000; ++i) want += (i % 100) * (i % 100);
  EXPECT_EQ(sum, want);
}

TEST(ThreadPoolExecutor, SubmitFromManyThreadsAndFromTasks) {
  kin::ThreadPoolExecutor ex{3};
  std::vector<std::thread> ts;
  std::atomic<long> sum{0};
  for (int k = 0; k < 3; ++k) {
    ts.emplace_back([&] {
      for (int i = 0; i < 300; ++i) sum.fetch_add(ex.submit(square, 2).result(10s));
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(sum.load(), 3L * 300 * 4);
  // A task that submits another (and does not wait for it on a full pool) is fine.
  auto outer = ex.submit([&] { return ex.submit(square, 5); });
  EXPECT_EQ(outer.result(5s).result(5s), 25);
}

}  // namespace

// Eight submits to ThreadPoolExecutor(8) run at once (seed 000's "启动8个并发的线程"): each
// waits, bounded, until all eight are running.
TEST(ThreadPoolExecutor, EightSubmitsRunOnEightThreadsAtOnce) {
  kin::ThreadPoolExecutor ex{8};
  auto arrived = std::make_shared<std::atomic<int>>(0);
  std::vector<kin::Future<bool>> fs;
  for (int i = 0; i < 8; ++i) {
    fs.push_back(ex.submit([arrived] {
      arrived->fetch_add(1);
      const auto until = std::chrono::steady_clock::now() + 10s;
      while (arrived->load() < 8) {
        if (std::chrono::steady_clock::now() > until) return false;
        std::this_thread::sleep_for(1ms);
      }
      return true;
    }));
  }
  for (auto& f : fs) EXPECT_TRUE(f.result(20s));
}

// Lib/test/test_concurrent_futures: test_thread_names_assigned / test_thread_names_default.
TEST(ThreadPoolExecutor, ThreadNamesDefaultAndPrefix) {
  kin::ThreadPoolExecutor plain{1};
  const std::string name = plain.submit([] { return kin::current_thread().name(); }).result(10s);
  EXPECT_EQ(name.rfind("ThreadPoolExecutor-", 0), 0u) << name;
  EXPECT_EQ(name.substr(name.size() - 2), "_0") << name;
  kin::ThreadPoolExecutor named{kin::ThreadPoolExecutorOptions{.max_workers = 1, .thread_name_prefix = "SpecialPool"}};
  EXPECT_EQ(named.submit([] { return kin::current_thread().name(); }).result(10s), "SpecialPool_0");
}
