// Bounded soak of kin::Queue: exactly-once delivery with 4 producer and 4 consumer processes,
// and 200 rounds of SIGKILLs of producers and consumers at random points.
#include <kin/queue.hpp>  // first: the header is self-contained

#include <kin/process.hpp>

#include <gtest/gtest.h>

#include <array>
#include <random>
#include <set>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {
void produce(kin::Queue<std::int64_t> q, std::int64_t from, std::int64_t n) {
  for (std::int64_t i = from; i < from + n; ++i) q.put(i);
}
using Tally = std::array<std::int64_t, 2>;  // sum, count: one message, so consumers cannot interleave them
void consume(kin::Queue<std::int64_t> q, kin::Queue<Tally> sums) {
  std::int64_t sum = 0, count = 0;
  for (;;) {
    auto v = q.get();
    if (v < 0) break;
    sum += v;
    ++count;
  }
  sums.put(Tally{sum, count});
}
}  // namespace

TEST(QueueStress, FourProducersFourConsumersAMillionMessagesExactlyOnce) {
  constexpr std::int64_t kN = 1000000, kP = 4, kC = 4;
  kin::Queue<std::int64_t> q{0, 1 << 20};
  kin::Queue<Tally> sums;
  std::vector<kin::Process> producers, consumers;
  for (std::int64_t p = 0; p < kP; ++p) producers.emplace_back(produce, q, p * (kN / kP), kN / kP).start();
  for (std::int64_t c = 0; c < kC; ++c) consumers.emplace_back(consume, q, sums).start();
  for (auto& p : producers) ASSERT_TRUE(p.join(120s));
  for (std::int64_t c = 0; c < kC; ++c) q.put(-1);
  std::int64_t sum = 0, count = 0;
  for (std::int64_t c = 0; c < kC; ++c) {
    auto t = sums.get(60s);
    ASSERT_TRUE(t.has_value());
    sum += (*t)[0];
    count += (*t)[1];
  }
  for (auto& c : consumers) ASSERT_TRUE(c.join(60s));
  EXPECT_EQ(count, kN);
  EXPECT_EQ(sum, kN * (kN - 1) / 2);
}

// Each round: a producer puts a known range, a consumer takes some and reports each value it
// took on a side queue before moving on; one or both are SIGKILLed at a random moment. What
// the parent drains plus what consumers reported covers every value put, at most once each —
// except the value a killed consumer had taken but not yet reported.
TEST(QueueStress, TwoHundredRoundsOfSigkillNeverLoseOrDuplicate) {
  kin::Queue<std::int32_t> q{0, 8192};
  kin::Queue<std::int32_t> reported{0, 1 << 20};
  std::mt19937 rng{12345};
  std::int32_t next = 0;
  std::multiset<std::int32_t> seen;
  int lost_in_hands = 0;
  for (int round = 0; round < 200; ++round) {
    const std::int32_t from = next, n = 300;
    next += n;
    kin::Process producer{[q, from, n]() mutable {
      for (std::int32_t i = from; i < from + n; ++i) q.put(i);
    }};
    kin::Process consumer{[q, reported]() mutable {
      for (;;) reported.put(q.get());
    }};
    producer.start();
    consumer.start();
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 2000));
    consumer.kill();
    if (rng() % 2) producer.kill();
    ASSERT_TRUE(consumer.join(10s));
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!producer.join(0ms) && std::chrono::steady_clock::now() < deadline)
      if (auto v = q.get(2ms)) seen.insert(*v);
    ASSERT_TRUE(producer.join(1s));
    ++lost_in_hands;  // at most one per killed consumer
    while (auto v = q.get(0ms)) seen.insert(*v);
    while (auto v = reported.get(0ms)) seen.insert(*v);
    if (producer.exitcode() == 0) {  // a producer that finished put its whole range
      int missing = 0;
      for (std::int32_t i = from; i < from + n; ++i) {
        ASSERT_LE(seen.count(i), 1u) << "duplicate " << i;
        missing += seen.count(i) == 0 ? 1 : 0;
      }
      EXPECT_LE(missing, 1) << "round " << round << ": more lost than the killed consumer could hold";
    }
  }
  std::set<std::int32_t> unique(seen.begin(), seen.end());
  EXPECT_EQ(unique.size(), seen.size()) << "a value came out twice";
  q.put(7);  // still usable
  EXPECT_EQ(q.get(1s), 7);
  EXPECT_LE(lost_in_hands, 200);
}
