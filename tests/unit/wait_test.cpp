#include <kin/wait.hpp>  // first: the header is self-contained

#include <kin/context.hpp>
#include <kin/pipe.hpp>
#include <kin/runtime/syscall.hpp>
#include <kin/semaphore.hpp>

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <utility>
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

// ---- across processes, under every start method (issue 15 item 6) ----

namespace {

// _test_multiprocessing.py TestWait._child_test_wait: ten (i, pid) messages, then close.
void send_ten(kin::Connection<std::pair<int, int>> w) {
  for (int i = 0; i < 10; ++i) w.send({i, static_cast<int>(::getpid())});
}

// TestWait.signal_and_sleep.
void signal_and_sleep(kin::Semaphore sem, int ms) {
  sem.release();
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

void put_one(kin::Queue<int> q) { q.put(7); }

}  // namespace

class WaitAcrossProcesses : public ::testing::TestWithParam<kin::StartMethod> {};

// TestWait.test_wait: four children write to four pipes; wait() on the read ends until every
// one has reached EOF loses no message.
TEST_P(WaitAcrossProcesses, ReadsEveryChildsMessagesUntilEof) {
  kin::Context ctx{GetParam()};
  std::vector<kin::Connection<std::pair<int, int>>> readers;
  std::vector<kin::Process> procs;
  for (int i = 0; i < 4; ++i) {
    auto [r, w] = kin::Pipe<std::pair<int, int>>(kin::simplex);
    procs.push_back(ctx.process(send_ten, std::move(w)));  // the parent lets go of w at start
    procs.back().start();
    readers.push_back(std::move(r));
  }
  std::vector<std::pair<int, int>> messages;
  const auto give_up = std::chrono::steady_clock::now() + 60s;
  while (!readers.empty()) {
    ASSERT_LT(std::chrono::steady_clock::now(), give_up) << messages.size() << " messages so far";
    std::vector<kin::Waitable> ws(readers.begin(), readers.end());
    auto ready = kin::wait(ws, 10s);
    ASSERT_FALSE(ready.empty()) << "nothing ready for 10 s";
    std::vector<std::size_t> done;
    for (auto i : ready) {
      try {
        messages.push_back(readers[i].recv());
      } catch (const kin::EOFError&) {
        done.push_back(i);
      }
    }
    for (auto it = done.rbegin(); it != done.rend(); ++it) readers.erase(readers.begin() + static_cast<long>(*it));
  }
  std::vector<std::pair<int, int>> expected;
  for (auto& p : procs) {
    ASSERT_TRUE(p.join(20s));
    EXPECT_EQ(p.exitcode(), 0);
    for (int i = 0; i < 10; ++i) expected.emplace_back(i, static_cast<int>(p.pid()));
  }
  std::sort(messages.begin(), messages.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(messages, expected);
}

// TestWait.test_wait_integer, with a Queue and a raw fd added: a child's sentinel (as a raw
// int and as the Process) is returned with every other ready object — a Connection with a
// message, a Queue a child put on, a readable pipe — never left out because another is ready.
TEST_P(WaitAcrossProcesses, SentinelsComeBackWithEveryOtherReadyObject) {
  kin::Context ctx{GetParam()};
  kin::Semaphore sem{0};
  auto [a, b] = kin::Pipe<int>();
  auto p = ctx.process(signal_and_sleep, sem, 500);
  p.start();
  ASSERT_TRUE(sem.acquire(20s));
  // Only the child ends: wait([a, p.sentinel, b]) == [p.sentinel]
  EXPECT_EQ(kin::wait({a, p.sentinel(), b}, 20s), std::vector<std::size_t>{1});
  a.send(0);  // b is ready now: [p.sentinel, b]
  EXPECT_EQ(kin::wait({a, p.sentinel(), b}, 20s), (std::vector<std::size_t>{1, 2}));
  b.send(0);  // and a: all three
  EXPECT_EQ(kin::wait({a, p.sentinel(), b}, 20s), (std::vector<std::size_t>{0, 1, 2}));

  kin::Queue<int> q;
  auto putter = ctx.process(put_one, q);
  putter.start();
  ASSERT_TRUE(putter.join(20s));
  auto [rd, wr] = kin::detail::make_pipe();
  ASSERT_EQ(::write(wr.get(), "x", 1), 1);
  EXPECT_EQ(kin::wait({q, putter, p, rd.get(), b, a}, 20s), (std::vector<std::size_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(kin::wait({rd.get(), putter}, 20s), (std::vector<std::size_t>{0, 1}));
  EXPECT_EQ(q.get(5s), std::optional<int>(7));
  EXPECT_EQ(kin::wait({q, putter}, 20s), std::vector<std::size_t>{1});  // the queue is empty again
  ASSERT_TRUE(p.join(20s));
  EXPECT_EQ(p.exitcode(), 0);
}

INSTANTIATE_TEST_SUITE_P(AllStartMethods, WaitAcrossProcesses,
                         ::testing::Values(kin::StartMethod::fork, kin::StartMethod::spawn, kin::StartMethod::forkserver),
                         [](const auto& param_info) { return std::string(kin::to_string(param_info.param)); });
