// kin::ProcessPoolExecutor: submit/result(timeout), exceptions as RemoteError, map with a
// timeout, cancel (queued and forced on a running task), shutdown(wait, cancel_futures),
// a worker SIGKILLed mid-submit-stream with every future done or WorkerLost exactly once.
#include <kin/process_pool_executor.hpp>

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

int square(int x) { return x * x; }
int sleeper(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
int boom(int) { throw std::invalid_argument("bad arg"); }
int self_kill(int x) {
  if (x % 10 == 3) ::kill(::getpid(), SIGKILL);
  return x;
}

TEST(ProcessPoolExecutor, SubmitResultException) {
  kin::ProcessPoolExecutor ex{2};
  auto f = ex.submit(square, 6);
  EXPECT_EQ(f.result(5s), 36);
  EXPECT_TRUE(f.done());
  auto e = ex.submit(boom, 1);
  EXPECT_THROW(e.result(5s), kin::RemoteError);
  EXPECT_NE(e.exception(5s), nullptr);
  auto slow = ex.submit(sleeper, 200);
  EXPECT_THROW(slow.result(10ms), kin::TimeoutError);
  EXPECT_EQ(slow.result(5s), 200);
  bool called = false;
  auto g = ex.submit(square, 2);
  g.result(5s);
  g.add_done_callback([&] { called = true; });
  EXPECT_TRUE(called);
}

TEST(ProcessPoolExecutor, MapWithTimeout) {
  kin::ProcessPoolExecutor ex{2};
  EXPECT_EQ(ex.map(square, std::vector{1, 2, 3}), (std::vector<int>{1, 4, 9}));
  EXPECT_EQ(ex.map(square, std::vector{4}, 5s)[0], 16);
  EXPECT_THROW(ex.map(sleeper, std::vector{500, 500}, 20ms), kin::TimeoutError);
}

TEST(ProcessPoolExecutor, CancelQueuedAndForced) {
  kin::ProcessPoolExecutor ex{1};
  auto running = ex.submit(sleeper, 3000);
  auto queued = ex.submit(square, 3);
  EXPECT_TRUE(queued.cancel());
  EXPECT_THROW(queued.result(1s), kin::CancelledError);
  std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(running.running());
  EXPECT_FALSE(running.cancel());
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(running.cancel(true));
  EXPECT_THROW(running.result(2s), kin::CancelledError);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_EQ(ex.submit(square, 5).result(5s), 25);
}

// The executor sends a worker nothing ahead by default (a queued Future stays cancellable,
// ShutdownCancelFutures above); with PoolOptions::prefetch, a cancelled task sent ahead of its turn: its worker is killed for it, it ends with
// CancelledError, and the task that was running there is run again, not failed.
TEST(ProcessPoolExecutor, ForceCancelOfATaskSentAheadRequeuesTheRunningOne) {
  kin::ProcessPoolExecutor ex{kin::PoolOptions{.processes = 1, .prefetch = 1}};
  auto running = ex.submit(sleeper, 300);
  auto ahead = ex.submit(square, 7);
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(ahead.cancel());       // sent: counts as running
  EXPECT_TRUE(ahead.cancel(true));    // force: its worker goes
  EXPECT_THROW(ahead.result(5s), kin::CancelledError);
  EXPECT_EQ(running.result(5s), 300);
}

TEST(ProcessPoolExecutor, ShutdownCancelFutures) {
  kin::ProcessPoolExecutor ex{1};
  auto a = ex.submit(sleeper, 100);
  std::vector<kin::Future<int>> rest;
  for (int i = 0; i < 5; ++i) rest.push_back(ex.submit(square, i));
  std::this_thread::sleep_for(20ms);
  ex.shutdown(true, true);
  EXPECT_EQ(a.result(1s), 100);
  for (auto& f : rest) EXPECT_THROW(f.result(1s), kin::CancelledError);
  EXPECT_THROW(ex.submit(square, 1), kin::ValueError);
}

TEST(ProcessPoolExecutor, WorkerDeathMidStreamLosesOnlyItsFutures) {
  kin::ProcessPoolExecutor ex{2};
  std::vector<kin::Future<int>> fs;
  for (int i = 0; i < 100; ++i) fs.push_back(ex.submit(self_kill, i));
  int ok = 0, lost = 0;
  for (auto& f : fs) {
    try {
      f.result(10s);
      ++ok;
    } catch (const kin::WorkerLost&) {
      ++lost;
    }
  }
  EXPECT_EQ(lost, 10);
  EXPECT_EQ(ok, 90);
  auto [done, not_done] = kin::wait(fs, 1s);
  EXPECT_EQ(done.size(), 100u);
  EXPECT_TRUE(not_done.empty());
}

}  // namespace

// concurrent.futures' ProcessPoolExecutor(mp_context=get_context("spawn")).
TEST(ProcessPoolExecutor, SpawnWorkers) {
  kin::ProcessPoolExecutor ex{kin::PoolOptions{.processes = 2, .start_method = kin::StartMethod::spawn}};
  EXPECT_EQ(ex.submit(square, 9).result(20s), 81);
  std::vector<int> got;
  for (int r : ex.map(square, std::vector{1, 2, 3}, 20s)) got.push_back(r);
  EXPECT_EQ(got, (std::vector{1, 4, 9}));
}
