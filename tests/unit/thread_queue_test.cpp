#include <kin/thread_queue.hpp>  // first: the header is self-contained

#include <kin/thread.hpp>

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

TEST(ThreadQueue, FifoOrderAndSizes) {
  kin::thread::Queue<int> q{3};
  EXPECT_TRUE(q.empty());
  for (int i = 0; i < 3; ++i) q.put(i);
  EXPECT_TRUE(q.full());
  EXPECT_EQ(q.qsize(), 3u);
  EXPECT_EQ(q.maxsize(), 3u);
  EXPECT_EQ(q.get(), 0);
  EXPECT_EQ(q.get(), 1);
  EXPECT_EQ(q.get_nowait(), 2);
  EXPECT_TRUE(q.empty());
}

TEST(ThreadQueue, NowaitAndTimeoutsOnFullAndEmpty) {
  kin::thread::Queue<std::string> q{1};
  EXPECT_THROW(q.get_nowait(), kin::Empty);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(q.get(50ms), std::nullopt);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 45ms);
  q.put("a");
  EXPECT_THROW(q.put_nowait("b"), kin::Full);
  EXPECT_FALSE(q.put("b", 50ms));
  EXPECT_EQ(q.get(1s), "a");
}

TEST(ThreadQueue, LifoAndPriority) {
  kin::thread::LifoQueue<int> l;
  for (int i : {1, 2, 3}) l.put(i);
  EXPECT_EQ(l.get(), 3);
  EXPECT_EQ(l.get(), 2);
  kin::thread::PriorityQueue<std::pair<int, std::string>> p;
  p.put({2, "b"});
  p.put({1, "z"});
  p.put({3, "c"});
  p.put({1, "a"});
  EXPECT_EQ(p.get().second, "a");
  EXPECT_EQ(p.get().second, "z");
  EXPECT_EQ(p.get().first, 2);
}

struct ByKey {
  bool operator()(const std::pair<int, int>& a, const std::pair<int, int>& b) const { return a.first < b.first; }
};

TEST(ThreadQueue, PriorityIsFifoAmongEquals) {
  kin::thread::PriorityQueue<std::pair<int, int>, ByKey> p;
  for (int i = 0; i < 100; ++i) p.put({i % 2, i});
  int last = -1;
  for (int i = 0; i < 50; ++i) {  // all key-0 items, in insertion order
    auto [k, seq] = p.get();
    EXPECT_EQ(k, 0);
    EXPECT_GT(seq, last);
    last = seq;
  }
}

TEST(ThreadQueue, TaskDoneAndJoin) {
  kin::thread::Queue<int> q;
  EXPECT_THROW(q.task_done(), kin::ValueError);
  q.put(1);
  q.put(2);
  EXPECT_FALSE(q.join(20ms));
  std::thread worker([&] {
    for (int i = 0; i < 2; ++i) {
      q.get();
      q.task_done();
    }
  });
  EXPECT_TRUE(q.join(10s));
  worker.join();
  EXPECT_THROW(q.task_done(), kin::ValueError);
}

TEST(ThreadQueue, BlockedPutAndGetWakeUp) {
  kin::thread::Queue<int> q{1};
  q.put(0);
  std::thread putter([&] { q.put(1); });  // blocks until the get below
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(q.get(), 0);
  EXPECT_EQ(q.get(10s), 1);
  putter.join();
  std::thread getter([&] { EXPECT_EQ(q.get(10s), 7); });
  std::this_thread::sleep_for(20ms);
  q.put(7);
  getter.join();
}

TEST(ThreadQueue, ManyProducersAndConsumersExactlyOnce) {
  kin::thread::Queue<int> q{64};
  constexpr int kPerProducer = 20000, kProducers = 4, kConsumers = 4;
  std::atomic<long> sum{0};
  std::vector<std::thread> ts;
  for (int p = 0; p < kProducers; ++p)
    ts.emplace_back([&, p] {
      for (int i = 0; i < kPerProducer; ++i) q.put(p * kPerProducer + i);
    });
  for (int c = 0; c < kConsumers; ++c)
    ts.emplace_back([&] {
      for (int i = 0; i < kPerProducer * kProducers / kConsumers; ++i) sum += q.get();
    });
  for (auto& t : ts) t.join();
  long n = kPerProducer * kProducers;
  EXPECT_EQ(sum.load(), n * (n - 1) / 2);
}

TEST(ThreadQueue, SimpleQueue) {
  kin::thread::SimpleQueue<std::string> q;
  EXPECT_TRUE(q.empty());
  q.put("x");
  q.put_nowait("y");
  EXPECT_EQ(q.qsize(), 2u);
  EXPECT_EQ(q.get(), "x");
  EXPECT_EQ(q.get_nowait(), "y");
  EXPECT_EQ(q.get(10ms), std::nullopt);
  EXPECT_THROW(q.get_nowait(), kin::Empty);
}

// Queue.shutdown (Python 3.13), after test_queue.py BaseQueueTestMixin.test_shutdown_empty,
// test_shutdown_nonempty, test_shutdown_immediate and _shutdown_all_methods_in_many_threads.
TEST(ThreadQueueShutdown, EmptyQueue) {
  kin::thread::Queue<std::string> q;
  q.shutdown();
  EXPECT_TRUE(q.is_shutdown());
  EXPECT_THROW(q.put("data"), kin::ShutDown);
  EXPECT_THROW(q.put_nowait("data"), kin::ShutDown);
  EXPECT_THROW((void)q.get(), kin::ShutDown);
  EXPECT_THROW((void)q.get_nowait(), kin::ShutDown);
  EXPECT_THROW((void)q.get(10ms), kin::ShutDown);
}

TEST(ThreadQueueShutdown, NonEmptyQueueDrainsThenShutDown) {
  kin::thread::LifoQueue<std::string> q;
  q.put("data");
  q.shutdown();
  EXPECT_EQ(q.get(), "data");
  EXPECT_THROW((void)q.get(), kin::ShutDown);
  q.task_done();
  EXPECT_TRUE(q.join(1s));
}

TEST(ThreadQueueShutdown, ImmediateDiscardsAndReleasesJoin) {
  kin::thread::PriorityQueue<int> q;
  q.put(1);
  q.put(2);
  std::atomic<bool> joined{false};
  std::thread j([&] {
    q.join();
    joined = true;
  });
  std::this_thread::sleep_for(20ms);
  q.shutdown(true);
  j.join();
  EXPECT_TRUE(joined.load());
  EXPECT_EQ(q.qsize(), 0u);
  EXPECT_THROW((void)q.get(), kin::ShutDown);
  EXPECT_THROW(q.task_done(), kin::ValueError);  // the discarded items counted as done
}

TEST(ThreadQueueShutdown, WakesBlockedGettersAndPutters) {
  kin::thread::Queue<int> empty;
  kin::thread::Queue<int> full{1};
  full.put(0);
  std::atomic<int> shut{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 3; ++i) {
    ts.emplace_back([&] {
      try {
        (void)empty.get();  // untimed: only shutdown() releases it
      } catch (const kin::ShutDown&) {
        ++shut;
      }
    });
    ts.emplace_back([&] {
      try {
        full.put(1);  // blocks on the full queue
      } catch (const kin::ShutDown&) {
        ++shut;
      }
    });
  }
  std::this_thread::sleep_for(50ms);
  empty.shutdown();
  full.shutdown();
  for (auto& t : ts) t.join();
  EXPECT_EQ(shut.load(), 6);
  EXPECT_EQ(full.get(), 0);  // what was there before shutdown() is still got
}

// Python abandons daemon threads at exit. A static queue destroyed at exit while a daemon
// thread waits in get() must not hang the exit (glibc's condition-variable destructor waits for
// its waiters). The program is a forked child that ends with std::exit, which runs the static
// destructors; the parent gives it 10 s.
TEST(ThreadQueueExit, AStaticQueueWithADaemonThreadBlockedInGetDoesNotHangExit) {
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    static kin::thread::Queue<int> q;
    static std::atomic<bool> waiting{false};
    kin::Thread t{kin::ThreadOptions{.daemon = true}, [] {
                    waiting = true;
                    (void)q.get();
                  }};
    t.start();
    while (!waiting) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // into the wait
    std::exit(7);
  }
  ASSERT_GT(pid, 0);
  int status = 0;
  pid_t got = 0;
  for (int i = 0; i < 1000 && got == 0; ++i) {
    got = ::waitpid(pid, &status, WNOHANG);
    if (got == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (got == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    FAIL() << "the program's exit hung on the static queue";
  }
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 7);
}
