// kin::Pool under random worker kills: a killer thread SIGKILLs a random worker every ~1 ms
// while map, imap and apply_async/submit streams run; every task ends exactly once, either done
// with the right value or failed with WorkerLost, nothing hangs. Bounded: 1,000 kills or 45 s.
#include <kin/pool.hpp>
#include <kin/process_pool_executor.hpp>

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <random>
#include <ranges>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

int slow_square(int x) {
  std::this_thread::sleep_for(std::chrono::microseconds(200));
  return x * x;
}

TEST(PoolKillStress, ThousandKills) {
  kin::Pool pool{3};
  kin::ProcessPoolExecutor ex{2};
  std::atomic<bool> stop{false};
  std::atomic<int> kills{0};
  std::thread killer([&] {
    std::mt19937 rng(42);
    while (!stop && kills < 1000) {
      auto pids = (rng() & 1) ? pool.worker_pids() : ex.worker_pids();
      if (!pids.empty() && ::kill(pids[rng() % pids.size()], SIGKILL) == 0) ++kills;
      std::this_thread::sleep_for(std::chrono::microseconds(500 + rng() % 1000));
    }
  });
  const auto end = std::chrono::steady_clock::now() + 45s;
  long done = 0, lost = 0;
  while (kills < 1000 && std::chrono::steady_clock::now() < end) {
    std::vector<int> in(64);
    for (int i = 0; i < 64; ++i) in[static_cast<std::size_t>(i)] = i;
    try {
      auto out = pool.map(slow_square, in, 4);
      for (int i = 0; i < 64; ++i) ASSERT_EQ(out[static_cast<std::size_t>(i)], i * i);
      ++done;
    } catch (const kin::WorkerLost&) {
      ++lost;
    }
    std::vector<kin::AsyncResult<int>> rs;
    std::vector<kin::Future<int>> fs;
    for (int i = 0; i < 32; ++i) {
      rs.push_back(pool.apply_async(slow_square, i));
      fs.push_back(ex.submit(slow_square, i));
    }
    for (int i = 0; i < 32; ++i) {
      try {
        ASSERT_EQ(rs[static_cast<std::size_t>(i)].get(10s), i * i);
        ++done;
      } catch (const kin::WorkerLost&) {
        ++lost;
      }
      try {
        ASSERT_EQ(fs[static_cast<std::size_t>(i)].result(10s), i * i);
        ++done;
      } catch (const kin::WorkerLost&) {
        ++lost;
      }
    }
    int expect = 0;
    try {
      for (int v : pool.imap(slow_square, std::views::iota(0, 32), 2)) {
        ASSERT_EQ(v, expect * expect);
        ++expect;
      }
      ++done;
    } catch (const kin::WorkerLost&) {
      ++lost;
    }
  }
  stop = true;
  killer.join();
  std::printf("kills=%d done=%ld lost=%ld\n", kills.load(), done, lost);
  EXPECT_GT(done, 0);
  EXPECT_EQ(pool.apply(slow_square, 3), 9);
  EXPECT_EQ(ex.submit(slow_square, 4).result(10s), 16);
}

}  // namespace
