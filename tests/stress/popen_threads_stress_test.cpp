#include <kin/popen.hpp>

#include <kin/run.hpp>
#include <kin/thread.hpp>
#include <kin/timer.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <vector>

using namespace std::chrono_literals;

// Programs started from several threads at once: every child gets its own pipes (no output
// crosses over), every one is reaped, no fd is left behind (the leak check).
TEST(PopenThreadsStress, ConcurrentRunsFromManyThreads) {
  constexpr int threads = 4;
  constexpr int runs = 25;
  std::atomic<int> ok{0};
  std::atomic<int> bad{0};
  std::vector<kin::Thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < runs; ++i) {
        std::string tag = std::to_string(t) + ":" + std::to_string(i);
        auto r = kin::run({"sh", "-c", "cat; echo \" $1\" >&2", "sh", tag},
                          {.input = tag, .capture_output = true, .timeout = 20s});
        (r.returncode == 0 && r.out == tag && r.err == " " + tag + "\n" ? ok : bad)++;
      }
    });
    ts.back().start();
  }
  for (auto& th : ts) ASSERT_TRUE(th.join(60s));
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(ok, threads * runs);
}

// Start/join churn with timers being cancelled and firing alongside.
TEST(PopenThreadsStress, ThreadAndTimerChurn) {
  std::atomic<int> ran{0};
  std::atomic<int> fired{0};
  const auto base = kin::active_count();
  for (int round = 0; round < 50; ++round) {
    std::vector<kin::Thread> ts;
    for (int i = 0; i < 8; ++i) ts.emplace_back([&] { ++ran; });
    kin::Timer cancelled{10s, [&] { fired += 100; }};
    kin::Timer quick{0ms, [&] { ++fired; }};
    cancelled.start();
    quick.start();
    for (auto& t : ts) t.start();
    cancelled.cancel();
    for (auto& t : ts) ASSERT_TRUE(t.join(10s));
    ASSERT_TRUE(cancelled.join(10s));
    ASSERT_TRUE(quick.join(10s));
  }
  EXPECT_EQ(ran, 400);
  EXPECT_EQ(fired, 50);
  EXPECT_EQ(kin::active_count(), base);
}
