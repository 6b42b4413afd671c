#include <kin/wait.hpp>  // first: the header is self-contained

#include <kin/pipe.hpp>
#include <kin/runtime/syscall.hpp>

#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

TEST(Wait, TimesOutWithNothingReady) {
  auto [a, b] = kin::Pipe<int>();
  kin::Queue<int> q;
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(kin::wait({b, q}, 50ms).empty());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 45ms);
}

TEST(Wait, ConnectionsQueuesAndSentinels) {
  auto [a, b] = kin::Pipe<int>();
  kin::Queue<int> q;
  kin::Process p{[] { return 3; }};
  std::thread t([&q] {
    std::this_thread::sleep_for(20ms);
    q.put(1);
  });
  EXPECT_EQ(kin::wait({b, q}, 10s), std::vector<std::size_t>{1});
  t.join();
  (void)q.get();
  a.send(5);
  a.send(6);
  EXPECT_EQ(kin::wait({q, b}, 10s), std::vector<std::size_t>{1});
  EXPECT_EQ(b.recv(), 5);  // the second message is now buffered: still ready
  EXPECT_EQ(kin::wait({q, b}, 0ms), std::vector<std::size_t>{1});
  EXPECT_EQ(b.recv(), 6);
  p.start();
  EXPECT_EQ(kin::wait({b, p}, 10s), std::vector<std::size_t>{1});
  EXPECT_TRUE(p.join(10s));
  q.close();
  EXPECT_EQ(kin::wait({b, q}, 10s), std::vector<std::size_t>{1});  // closed counts as ready
}

namespace {

// The calling thread's voluntary context switches: each sleep-and-wake counts one.
long voluntary_switches() {
  std::ifstream f("/proc/thread-self/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("voluntary_ctxt_switches:", 0) == 0) return std::stol(line.substr(24));
  return -1;
}

}  // namespace

// Issue 8: a waiter on a queue sleeps on its doorbell; the old kin::wait woke every 1 ms.
TEST(Wait, AQueueWaiterSleepsInsteadOfPolling) {
  kin::Queue<int> q;
  auto [a, b] = kin::Pipe<int>();
  for (auto with_fd : {false, true}) {
    const long before = voluntary_switches();
    auto ready = with_fd ? kin::wait({q, b}, 400ms) : kin::wait({q}, 400ms);
    const long woke = voluntary_switches() - before;
    EXPECT_TRUE(ready.empty());
    EXPECT_LT(woke, 40) << (with_fd ? "queue and fd" : "queue") << ": woke " << woke << " times in 400 ms";
  }
}

TEST(Wait, WakesForAPutFromAnotherProcess) {
  kin::Queue<int> q;
  kin::Process p{[](kin::Queue<int> qq) {
                   std::this_thread::sleep_for(100ms);
                   qq.put(7);
                 },
                 q};
  p.start();
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(kin::wait({q}, 10s), std::vector<std::size_t>{0});
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_EQ(q.get(), 7);
  EXPECT_TRUE(p.join(10s));
}

TEST(Wait, WakesForAnFdWhileAlsoWaitingOnAQueue) {
  kin::Queue<int> q;
  auto [a, b] = kin::Pipe<int>();
  std::thread t([&a] {
    std::this_thread::sleep_for(50ms);
    a.send(1);
  });
  EXPECT_EQ(kin::wait({q, b}, 10s), std::vector<std::size_t>{1});
  t.join();
}

// Issue 15 item 6 (_test_multiprocessing.TestWait.test_wait_integer): every ready object is
// returned, sentinels and raw fds included, even when a Connection or Queue is ready too.
TEST(Wait, ReturnsEveryReadyObject) {
  auto [a, b] = kin::Pipe<int>();
  kin::Queue<int> q;
  kin::Process p{[] { return 0; }};
  p.start();
  ASSERT_TRUE(p.join(10s));
  auto [rd, wr] = kin::detail::make_pipe();
  ASSERT_EQ(::write(wr.get(), "x", 1), 1);
  a.send(1);
  q.put(2);
  EXPECT_EQ(kin::wait({b, q, p, rd.get()}, 10s), (std::vector<std::size_t>{0, 1, 2, 3}));
  EXPECT_EQ(kin::wait({p, q}, 10s), (std::vector<std::size_t>{0, 1}));
  EXPECT_EQ(kin::wait({rd.get(), b}, 10s), (std::vector<std::size_t>{0, 1}));
}

// A put rings one sleeper. If that was a kin::wait that then takes nothing, a getter blocked on
// the same queue must still get the item.
TEST(Wait, AWaiterDoesNotSwallowAGettersWakeUp) {
  kin::Queue<int> q;
  std::thread waiter([&q] { EXPECT_EQ(kin::wait({q}, 10s), std::vector<std::size_t>{0}); });
  std::this_thread::sleep_for(50ms);  // the waiter sleeps first, so the put wakes it first
  std::optional<int> got;
  std::thread getter([&q, &got] { got = q.get(10s); });
  std::this_thread::sleep_for(50ms);
  auto t0 = std::chrono::steady_clock::now();
  q.put(5);
  getter.join();
  waiter.join();
  EXPECT_EQ(got, 5);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
}
