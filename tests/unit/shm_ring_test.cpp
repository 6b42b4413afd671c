// The ring's fast paths (runtime/shm_ring.hpp): the sole producer's and sole consumer's
// lock-free operations, the handover to the robust mutexes when a second user of a side
// appears and back, spin-then-park, growth under concurrent use, and SIGKILL inside a put or
// a get (fault points in the copy of a large record).
#include <kin/runtime/shm_ring.hpp>  // first: the header is self-contained

#include <kin/process.hpp>
#include <kin/queue.hpp>

#include <kin/runtime/shared_block.hpp>

#include "fork_child.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using kin::detail::Deadline;
using kin::detail::ShmRing;

namespace {

struct Item {
  std::int64_t producer, seq;
};

std::span<const std::byte> bytes_of(const Item& it) { return std::as_bytes(std::span<const Item, 1>(&it, 1)); }

// What consumers saw, in a shared block: for each producer, how many of its items and the sum
// of their sequence numbers, and whether any came out of order per producer per consumer.
struct Tally {
  std::atomic<std::int64_t> count[4];
  std::atomic<std::int64_t> sum[4];
  std::atomic<int> out_of_order;
};

// Takes `n` items (each get bounded: a lost item is a failure, not a hang), checking that each
// producer's items come out in order; returns false on a timeout.
bool take(ShmRing& ring, Tally& t, long n) {
  std::int64_t last[4] = {-1, -1, -1, -1};
  for (long i = 0; i < n; ++i) {
    Item it{};
    if (!ring.get_into(std::as_writable_bytes(std::span<Item, 1>(&it, 1)), Deadline::after(20s))) return false;
    if (it.producer < 0 || it.producer >= 4) return false;
    if (it.seq <= last[it.producer]) t.out_of_order.fetch_add(1);
    last[it.producer] = it.seq;
    t.count[it.producer].fetch_add(1);
    t.sum[it.producer].fetch_add(it.seq);
  }
  return true;
}

void give(ShmRing& ring, int producer, long n) {
  for (long i = 0; i < n; ++i) ASSERT_TRUE(ring.put(bytes_of(Item{producer, i}), Deadline::after(20s)));
}

void expect_exactly_once(const Tally& t, int producers, long per_producer) {
  for (int p = 0; p < producers; ++p) {
    EXPECT_EQ(t.count[p].load(), per_producer) << "producer " << p;
    EXPECT_EQ(t.sum[p].load(), per_producer * (per_producer - 1) / 2) << "producer " << p;
  }
  EXPECT_EQ(t.out_of_order.load(), 0);
}

struct SharedTally {
  kin::detail::SharedBlock block = kin::detail::SharedBlock::create(sizeof(Tally), "tally");
  Tally& t = *new (block.data()) Tally{};
};

}  // namespace

// One producer and one consumer thread: both sides run their sole-owner paths throughout.
TEST(ShmRingFastPath, OneProducerOneConsumerThreadExactlyOnceInOrder) {
  auto ring = ShmRing::create(0, 64 * 1024);
  Tally t{};
  constexpr long kN = 200000;
  std::thread c([&] { EXPECT_TRUE(take(*ring, t, kN)); });
  give(*ring, 0, kN);
  c.join();
  expect_exactly_once(t, 1, kN);
}

// Users come and go on each side: one producer, then two at once, then one again (the side
// goes from its sole owner to the mutex and back), while consumers do the same.
TEST(ShmRingFastPath, SwitchingBetweenSoleAndSharedUseOfEachSideLosesAndDuplicatesNothing) {
  auto ring = ShmRing::create(0, 16 * 1024);
  Tally t{};
  constexpr long kPhase = 30000;
  std::vector<std::thread> ths;
  // Phase 1: one of each. Phase 2: two of each. Phase 3: one of each again (other threads).
  for (int phase = 0; phase < 3; ++phase) {
    const int users = phase == 1 ? 2 : 1;
    std::vector<std::thread> round;
    for (int p = 0; p < users; ++p) {
      const int producer = phase == 1 ? 1 + p : (phase == 0 ? 0 : 3);
      round.emplace_back([&, producer] { give(*ring, producer, kPhase); });
    }
    for (int c = 0; c < users; ++c) round.emplace_back([&] { EXPECT_TRUE(take(*ring, t, kPhase)); });
    for (auto& th : round) th.join();
  }
  expect_exactly_once(t, 4, kPhase);
  EXPECT_EQ(ring->qsize(), 0u);
}

// Two producer and two consumer processes: the sides are shared, and any of the four may
// become a side's sole owner after a streak and lose it again.
TEST(ShmRingFastPath, TwoProducersTwoConsumersAcrossProcessesExactlyOnce) {
  auto ring = ShmRing::create(0, 64 * 1024);
  SharedTally st;
  constexpr long kN = 100000;
  std::vector<pid_t> pids;
  for (int p = 0; p < 2; ++p)
    pids.push_back(kin::test::fork_child([&, p] {
      for (long i = 0; i < kN; ++i)
        if (!ring->put(bytes_of(Item{p, i}), Deadline::after(20s))) return 1;
      return 0;
    }));
  for (int c = 0; c < 2; ++c) pids.push_back(kin::test::fork_child([&] { return take(*ring, st.t, kN) ? 0 : 2; }));
  for (pid_t pid : pids) EXPECT_EQ(kin::test::wait_child(pid, 60s), 0);
  expect_exactly_once(st.t, 2, kN);
}

// The same through kin::Queue with untimed calls, started as kin::Process children, with
// enough items that each side changes hands many times.
namespace {
void put_items(kin::Queue<Item> q, int producer, long n) {
  for (long i = 0; i < n; ++i) q.put(Item{producer, i});
}
void get_items(kin::Queue<Item> q, kin::Queue<std::int64_t> sums, long n) {
  std::int64_t sum = 0;
  for (long i = 0; i < n; ++i) sum += q.get().seq;
  sums.put(sum);
}
}  // namespace

TEST(ShmRingFastPath, TwoProducersTwoConsumersThroughQueueProcesses) {
  kin::Queue<Item> q{0, 1 << 20};
  kin::Queue<std::int64_t> sums;
  constexpr long kN = 400000;
  std::vector<kin::Process> ps;
  for (int p = 0; p < 2; ++p) ps.emplace_back(put_items, q, p, kN);
  for (int c = 0; c < 2; ++c) ps.emplace_back(get_items, q, sums, kN);
  for (auto& p : ps) p.start();
  for (auto& p : ps) {
    if (!p.join(60s)) {
      for (auto& k : ps) k.kill();
      for (auto& k : ps) (void)k.join(10s);
      FAIL() << "a process was still running after 60 s; qsize " << q.qsize();
    }
  }
  const std::int64_t total = *sums.get(1s) + *sums.get(1s);
  EXPECT_EQ(total, kN * (kN - 1));
}
