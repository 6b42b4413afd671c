#include <kin/queue.hpp>  // first: the header is self-contained

#include <kin/context.hpp>
#include <kin/joinable_queue.hpp>
#include <kin/process.hpp>
#include <kin/simple_queue.hpp>

#include <gtest/gtest.h>

#include <signal.h>

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

TEST(Queue, FifoAcrossThreads) {
  kin::Queue<int> q;
  std::thread t([&q] {
    for (int i = 0; i < 50000; ++i) q.put(i);
  });
  for (int i = 0; i < 50000; ++i) ASSERT_EQ(q.get(), i);
  t.join();
  EXPECT_TRUE(q.empty());
}

TEST(Queue, MaxsizeFullEmptyAndTimeouts) {
  kin::Queue<std::string> q{2};
  EXPECT_EQ(q.maxsize(), 2u);
  EXPECT_THROW((void)q.get_nowait(), kin::Empty);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(q.get(50ms), std::nullopt);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 45ms);
  q.put("a");
  q.put_nowait("b");
  EXPECT_TRUE(q.full());
  EXPECT_EQ(q.qsize(), 2u);
  EXPECT_THROW(q.put_nowait("c"), kin::Full);
  EXPECT_FALSE(q.put("c", 50ms));
  EXPECT_EQ(q.get(), "a");
  EXPECT_TRUE(q.put("c", 1s));
  EXPECT_EQ(q.get_nowait(), "b");
  EXPECT_EQ(q.get(1s), "c");
}

TEST(Queue, CloseDrainsThenEof) {
  kin::Queue<int> q;
  q.put(1);
  q.put(2);
  q.close();
  EXPECT_TRUE(q.closed());
  EXPECT_THROW(q.put(3), kin::ValueError);
  EXPECT_EQ(q.get(), 1);  // nothing already accepted is lost
  EXPECT_EQ(q.get(), 2);
  EXPECT_THROW((void)q.get(), kin::EOFError);
}

TEST(Queue, BlockedReaderWakesForClose) {
  kin::Queue<int> q;
  std::atomic<bool> got_eof{false};
  std::thread reader([&] {
    try {
      (void)q.get();
    } catch (const kin::EOFError&) {
      got_eof = true;
    }
  });
  std::this_thread::sleep_for(50ms);
  q.close();
  reader.join();
  EXPECT_TRUE(got_eof);
}

TEST(Queue, MessagesFromZeroBytesTo64MiBAndLargerThanTheRing) {
  kin::Queue<std::string> q{0, 64 * 1024};  // a small ring: big messages make it grow
  std::vector<std::size_t> sizes{0, 1, 1000, 64 * 1024, 1 << 20, std::size_t{64} << 20};
  for (auto n : sizes) q.put(std::string(n, 'k'));
  for (auto n : sizes) {
    auto s = q.get();
    ASSERT_EQ(s.size(), n);
    EXPECT_EQ(s, std::string(n, 'k'));
  }
}

TEST(Queue, StructuredValues) {
  kin::Queue<std::map<std::string, std::vector<int>>> q;
  std::map<std::string, std::vector<int>> m{{"a", {1, 2, 3}}};
  q.put(m);
  EXPECT_EQ(q.get(), m);
}

// Seed 004: "joining processes that use queues" — the child puts 1,000,000 chars and the
// parent joins it *before* getting. With kin, put completes into shared memory: no deadlock.
TEST(Queue, JoiningAProducerBeforeGettingDoesNotDeadlock) {
  kin::Queue<std::string> q;
  kin::Process p{[q]() mutable { q.put(std::string(1000000, 'X')); }};
  p.start();
  ASSERT_TRUE(p.join(20s));
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_EQ(q.get(10s)->size(), 1000000u);
}

namespace {
void produce(kin::Queue<int> q, int from, int n) {
  for (int i = from; i < from + n; ++i) q.put(i);
}
long consume(kin::Queue<int> q, kin::Queue<long> results, int n) {
  long sum = 0;
  for (int i = 0; i < n; ++i) sum += q.get();
  results.put(sum);
  return 0;
}
}  // namespace

class QueueAcrossProcesses : public ::testing::TestWithParam<kin::StartMethod> {};

TEST_P(QueueAcrossProcesses, ExactlyOnceWithTwoProducersAndTwoConsumers) {
  kin::Context ctx{GetParam()};
  kin::Queue<int> q{100};
  kin::Queue<long> results;
  constexpr int kN = 20000;
  std::vector<kin::Process> ps;
  ps.push_back(ctx.process(produce, q, 0, kN));
  ps.push_back(ctx.process(produce, q, kN, kN));
  ps.push_back(ctx.process(consume, q, results, kN));
  ps.push_back(ctx.process(consume, q, results, kN));
  for (auto& p : ps) p.start();
  for (auto& p : ps) {
    ASSERT_TRUE(p.join(60s));
    EXPECT_EQ(p.exitcode(), 0);
  }
  long total = *results.get(1s) + *results.get(1s);
  long n = 2L * kN;
  EXPECT_EQ(total, n * (n - 1) / 2);
}

INSTANTIATE_TEST_SUITE_P(AllStartMethods, QueueAcrossProcesses,
                         ::testing::Values(kin::StartMethod::fork, kin::StartMethod::spawn, kin::StartMethod::forkserver),
                         [](const auto& param_info) { return std::string(kin::to_string(param_info.param)); });

namespace {
void work_and_mark(kin::JoinableQueue<int> q, int n) {
  for (int i = 0; i < n; ++i) {
    (void)q.get();
    q.task_done();
  }
}
}  // namespace

TEST(JoinableQueue, CountsAcrossProcesses) {
  kin::JoinableQueue<int> q;
  EXPECT_THROW(q.task_done(), kin::ValueError);
  for (int i = 0; i < 100; ++i) q.put(i);
  EXPECT_FALSE(q.join(20ms));
  kin::Process p{kin::ProcessOptions{.start_method = kin::StartMethod::spawn}, work_and_mark, q, 100};
  p.start();
  EXPECT_TRUE(q.join(20s));
  ASSERT_TRUE(p.join(20s));
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_THROW(q.task_done(), kin::ValueError);
}

TEST(SimpleQueue, PutGetEmptyClose) {
  kin::SimpleQueue<std::string> q;
  EXPECT_TRUE(q.empty());
  q.put("a");
  EXPECT_FALSE(q.empty());
  EXPECT_EQ(q.get(), "a");
  q.close();
  EXPECT_THROW(q.put("b"), kin::ValueError);
}

// A consumer SIGKILLed at random points: the queue stays usable and nothing is lost or
// duplicated except what the killed consumer held.
TEST(Queue, SigkilledConsumersAndProducersNeverCorruptIt) {
  kin::Queue<int> q{0, 4096};
  int next = 0;
  std::vector<int> received;
  for (int round = 0; round < 20; ++round) {
    kin::Process producer{[q, from = next]() mutable {
      for (int i = from; i < from + 2000; ++i) q.put(i);
    }};
    kin::Process victim{[q]() mutable {
      for (;;) (void)q.get();
    }};
    producer.start();
    victim.start();
    std::this_thread::sleep_for(std::chrono::microseconds(500 + 300 * round));
    victim.kill();
    if (round % 2 == 0) producer.kill();
    ASSERT_TRUE(victim.join(10s));
    auto deadline = std::chrono::steady_clock::now() + 20s;  // the ring is small: drain it
    while (!producer.join(0ms) && std::chrono::steady_clock::now() < deadline)
      if (auto v = q.get(5ms)) received.push_back(*v);
    ASSERT_TRUE(producer.join(1s));
    next += 2000;
    while (auto v = q.get(0ms)) received.push_back(*v);
  }
  // Still usable, and what remained came out in order without duplicates.
  q.put(-1);
  EXPECT_EQ(q.get(1s), -1);
  for (std::size_t i = 1; i < received.size(); ++i) ASSERT_LT(received[i - 1], received[i]);
}
