#include <kin/event.hpp>

#include <kin/errors.hpp>

#include "sync_test_util.hpp"

#include <thread>

using namespace std::chrono_literals;
using kin::test::fork_child;
using kin::test::wait_child;

TEST(Event, SetClearIsSet) {
  kin::Event e;
  EXPECT_FALSE(e.is_set());
  e.set();
  EXPECT_TRUE(e.is_set());
  e.wait();
  EXPECT_TRUE(e.wait(0ms));
  e.clear();
  EXPECT_FALSE(e.is_set());
}

TEST(Event, TimedWaitTimesOut) {
  kin::Event e;
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(e.wait(50ms));
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, 45ms);
  EXPECT_LT(took, 5s);
}

TEST(Event, SetInOneProcessWakesWaitersInOthers) {
  kin::Event e;
  std::vector<pid_t> pids;
  for (int i = 0; i < 3; ++i) pids.push_back(fork_child([e]() mutable { return e.wait(10s) ? 0 : 1; }));
  std::this_thread::sleep_for(30ms);
  e.set();
  for (pid_t pid : pids) EXPECT_EQ(wait_child(pid), 0);
}

TEST(Event, PingPongBetweenProcesses) {
  kin::Event ping, pong;
  pid_t pid = fork_child([&] {
    for (int i = 0; i < 200; ++i) {
      if (!ping.wait(5s)) return 1;
      ping.clear();
      pong.set();
    }
    return 0;
  });
  for (int i = 0; i < 200; ++i) {
    ping.set();
    ASSERT_TRUE(pong.wait(5s));
    pong.clear();
  }
  EXPECT_EQ(wait_child(pid), 0);
}

TEST(Event, WaiterKilledDoesNotDisturbOthers) {
  kin::Event e;
  pid_t dead = fork_child([e]() mutable { return e.wait(10s) ? 0 : 1; });
  std::this_thread::sleep_for(20ms);
  kin::test::kill_child(dead);
  std::thread t([&] { EXPECT_TRUE(e.wait(5s)); });
  std::this_thread::sleep_for(10ms);
  e.set();
  t.join();
}

TEST(Event, EmptyHandleThrows) {
  kin::Event e;
  kin::Event moved = std::move(e);
  EXPECT_THROW(e.set(), kin::ValueError);  // NOLINT(bugprone-use-after-move)
  EXPECT_FALSE(moved.is_set());
}
