#include <kin/barrier.hpp>

#include <kin/errors.hpp>

#include "fork_child.hpp"

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using kin::test::fork_child;
using kin::test::wait_child;

TEST(Barrier, BadPartiesThrow) { EXPECT_THROW(kin::Barrier{0}, kin::ValueError); }

TEST(Barrier, EmptyHandleThrows) {
  kin::Barrier b;
  EXPECT_THROW(b.wait(), kin::ValueError);
}

TEST(Barrier, ThreadsGetDistinctIndicesAndActionRunsOnce) {
  std::atomic<int> actions{0};
  kin::Barrier b{3, [&] { ++actions; }};
  EXPECT_EQ(b.parties(), 3u);
  std::vector<std::uint32_t> idx(3);
  std::vector<std::thread> ts;
  for (int round = 0; round < 3; ++round) {
    ts.clear();
    for (int i = 0; i < 3; ++i) ts.emplace_back([&, i] { idx[i] = b.wait(5s); });
    for (auto& t : ts) t.join();
    EXPECT_EQ((std::set<std::uint32_t>(idx.begin(), idx.end())), (std::set<std::uint32_t>{0, 1, 2}));
  }
  EXPECT_EQ(actions.load(), 3);
  EXPECT_EQ(b.n_waiting(), 0u);
  EXPECT_FALSE(b.broken());
}

TEST(Barrier, ProcessesPassTogether) {
  kin::Barrier b{4};
  std::vector<pid_t> pids;
  for (int i = 0; i < 3; ++i) pids.push_back(fork_child([b]() mutable {
    for (int r = 0; r < 50; ++r) b.wait(10s);
    return 0;
  }));
  for (int r = 0; r < 50; ++r) b.wait(10s);
  for (pid_t pid : pids) EXPECT_EQ(wait_child(pid), 0);
}

TEST(Barrier, TimeoutBreaksItForEveryone) {
  kin::Barrier b{3};
  std::atomic<int> broken{0};
  std::thread t([&] {
    try {
      b.wait(10s);
    } catch (const kin::BrokenBarrierError&) {
      ++broken;
    }
  });
  ASSERT_TRUE(kin::test::eventually([&] { return b.n_waiting() == 1; }));
  EXPECT_THROW(b.wait(30ms), kin::BrokenBarrierError);
  t.join();
  EXPECT_EQ(broken.load(), 1);
  EXPECT_TRUE(b.broken());
  EXPECT_THROW(b.wait(), kin::BrokenBarrierError);
  b.reset();
  EXPECT_FALSE(b.broken());
}

TEST(Barrier, DefaultTimeoutApplies) {
  kin::Barrier b{2, {}, 40ms};
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(b.wait(), kin::BrokenBarrierError);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 35ms);
}

TEST(Barrier, AbortWakesWaiters) {
  kin::Barrier b{2};
  pid_t pid = fork_child([b]() mutable {
    try {
      b.wait(10s);
    } catch (const kin::BrokenBarrierError&) {
      return 7;
    }
    return 0;
  });
  ASSERT_TRUE(kin::test::eventually([&] { return b.n_waiting() == 1; }));
  b.abort();
  EXPECT_EQ(wait_child(pid), 7);
  EXPECT_TRUE(b.broken());
}

TEST(Barrier, ResetBreaksCurrentWaitersThenWorksAgain) {
  kin::Barrier b{2};
  std::atomic<bool> got_broken{false};
  std::thread t([&] {
    try {
      b.wait(10s);
    } catch (const kin::BrokenBarrierError&) {
      got_broken = true;
    }
  });
  ASSERT_TRUE(kin::test::eventually([&] { return b.n_waiting() == 1; }));
  b.reset();
  t.join();
  EXPECT_TRUE(got_broken.load());
  EXPECT_FALSE(b.broken());
  std::thread t2([&] { b.wait(5s); });
  EXPECT_NO_THROW(b.wait(5s));
  t2.join();
}

TEST(Barrier, ActionThatThrowsBreaksTheBarrier) {
  kin::Barrier b{2, [] { throw std::runtime_error("boom"); }};
  std::atomic<bool> other_broken{false};
  std::thread t([&] {
    try {
      b.wait(5s);
    } catch (const kin::BrokenBarrierError&) {
      other_broken = true;
    } catch (const std::runtime_error&) {
      other_broken = true;  // this thread was the last to arrive and ran the action
    }
  });
  try {
    b.wait(5s);
  } catch (const std::exception&) {
  }
  t.join();
  EXPECT_TRUE(other_broken.load());
  EXPECT_TRUE(b.broken());
}

TEST(Barrier, KilledPartyBreaksItForOthers) {
  kin::Barrier b{3};
  pid_t victim = fork_child([b]() mutable {
    b.wait();
    return 0;
  });
  ASSERT_TRUE(kin::test::eventually([&] { return b.n_waiting() == 1; }));
  kin::test::kill_child(victim);
  pid_t other = fork_child([b]() mutable {
    try {
      b.wait(20s);  // the dead party is noticed long before this
    } catch (const kin::BrokenBarrierError& e) {
      return std::string(e.what()).find("died") != std::string::npos ? 5 : 6;
    }
    return 0;
  });
  EXPECT_EQ(wait_child(other, 30s), 5);
  EXPECT_TRUE(b.broken());
  EXPECT_THROW(b.wait(1s), kin::BrokenBarrierError);
}

// lock_tests.py BarrierTests.test_action with a plain-function action (the form that travels to
// spawn children) and the (parties, action, timeout) constructor.
namespace {
std::atomic<int> g_plain_actions{0};
void plain_action() { g_plain_actions.fetch_add(1); }
}  // namespace

TEST(Barrier, PlainFunctionActionRunsOncePerRound) {
  g_plain_actions = 0;
  kin::Barrier b{3, plain_action, 20s};
  std::vector<std::thread> ts;
  for (int i = 0; i < 3; ++i)
    ts.emplace_back([&] {
      for (int r = 0; r < 4; ++r) b.wait();
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(g_plain_actions.load(), 4);
  kin::Barrier c{1, [] { g_plain_actions.fetch_add(10); }};  // captureless: a plain function too
  c.wait();
  EXPECT_EQ(g_plain_actions.load(), 14);
}
