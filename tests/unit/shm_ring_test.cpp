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

// ---- Spin-then-park: the spin is bounded

namespace {
double thread_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}
}  // namespace

// The sole producer is a process SIGSTOPped while it puts in a loop. The sole consumer drains
// what it put, then its timed get ends at its deadline having parked (far less CPU than the
// wait); a second producer's timed put ends by its deadline too (within it when the stopped
// owner was inside a put). After SIGCONT, nothing was lost or duplicated.
TEST(ShmRingSpin, AStoppedSoleProducerCostsTheOthersTheirDeadlineNotABusyWait) {
  auto ring = ShmRing::create(0, 64 * 1024);
  auto block = kin::detail::SharedBlock::create(sizeof(std::atomic<long>), "test");
  auto* stop = reinterpret_cast<std::atomic<long>*>(block.data());
  pid_t pid = kin::test::fork_child([&] {
    long i = 0;
    while (stop->load() == 0)
      if (ring->put(bytes_of(Item{0, i}), Deadline::after(20ms))) ++i;
    stop->store(i);  // how many it put
    return 0;
  });
  std::int64_t next = 0;  // the producer's items arrive in order, each once
  auto drain = [&](std::chrono::milliseconds wait) {
    Item it{};
    while (ring->get_into(std::as_writable_bytes(std::span<Item, 1>(&it, 1)), Deadline::after(wait))) {
      if (it.producer == 0) {
        ASSERT_EQ(it.seq, next);
        ++next;
      } else {
        ASSERT_EQ(it.producer, 1);
      }
    }
  };
  for (int round = 0; round < 5; ++round) {
    std::this_thread::sleep_for(20ms);
    ASSERT_EQ(::kill(pid, SIGSTOP), 0);
    int st = 0;
    ASSERT_EQ(::waitpid(pid, &st, WUNTRACED), pid);
    drain(0ms);
    const double cpu0 = thread_cpu_seconds();
    auto t0 = std::chrono::steady_clock::now();
    Item it{};
    EXPECT_FALSE(ring->get_into(std::as_writable_bytes(std::span<Item, 1>(&it, 1)), Deadline::after(300ms)));
    const auto waited = std::chrono::steady_clock::now() - t0;
    EXPECT_GE(waited, 290ms);
    EXPECT_LT(waited, 3s);
    EXPECT_LT(thread_cpu_seconds() - cpu0, 0.1) << "the consumer spun instead of parking";
    t0 = std::chrono::steady_clock::now();
    (void)ring->put(bytes_of(Item{1, round}), Deadline::after(200ms));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
    ASSERT_EQ(::kill(pid, SIGCONT), 0);
  }
  stop->store(1);
  ASSERT_EQ(kin::test::wait_child(pid), 0);
  drain(100ms);
  EXPECT_EQ(next, stop->load());
  EXPECT_EQ(ring->qsize(), 0u);
}

// ---- SIGKILL inside a put or a get (fault points in the copy of a record >= 64 KiB)

namespace {
std::vector<std::byte> big_record(char c) { return std::vector<std::byte>(100 * 1024, static_cast<std::byte>(c)); }

void put_small(ShmRing& ring, int from, int n) {
  for (int i = from; i < from + n; ++i) ASSERT_TRUE(ring.put(bytes_of(Item{0, i}), Deadline::after(5s)));
}

void expect_small(ShmRing& ring, int from, int n) {
  for (int i = from; i < from + n; ++i) {
    Item it{};
    ASSERT_TRUE(ring.get_into(std::as_writable_bytes(std::span<Item, 1>(&it, 1)), Deadline::after(5s))) << i;
    ASSERT_EQ(it.seq, i);
  }
}
}  // namespace

// The child is the put side's sole owner (it puts first) and dies halfway through copying a
// large record: the records before it come out, the half-written one never does, and the next
// producer (which finds the owner dead inside its put) carries on.
TEST(ShmRingKill, TheSoleProducerKilledMidPutLosesNothingAcceptedAndPublishesNothingHalfWritten) {
  auto ring = ShmRing::create(0, 256 * 1024);
  pid_t pid = kin::test::fork_child([&] {
    put_small(*ring, 0, 10);
    ::setenv("KIN_FAULT_AT", "ring.put.half_copied", 1);
    const auto big = big_record('p');
    (void)ring->put(big, Deadline::after(5s));
    return 0;
  });
  ASSERT_EQ(kin::test::wait_child(pid), -SIGKILL) << "the fault point was not reached";
  put_small(*ring, 10, 5);  // a new producer takes the side over from the dead owner
  expect_small(*ring, 0, 15);
  Item it{};
  EXPECT_FALSE(ring->get_into(std::as_writable_bytes(std::span<Item, 1>(&it, 1)), Deadline::after(0ms)));
  EXPECT_EQ(ring->qsize(), 0u);
}

// The child is the get side's sole owner and dies after copying a large record out but before
// consuming it: the record was never handed to anyone, so the next consumer gets it (once).
TEST(ShmRingKill, TheSoleConsumerKilledMidGetLeavesTheRecordForTheNextConsumer) {
  auto ring = ShmRing::create(0, 256 * 1024);
  put_small(*ring, 0, 3);
  const auto big = big_record('g');
  ASSERT_TRUE(ring->put(big, Deadline::after(5s)));
  put_small(*ring, 3, 2);
  pid_t pid = kin::test::fork_child([&] {
    expect_small(*ring, 0, 3);  // claims the get side
    ::setenv("KIN_FAULT_AT", "ring.get.copied", 1);
    (void)ring->get(Deadline::after(5s));
    return 0;
  });
  ASSERT_EQ(kin::test::wait_child(pid), -SIGKILL) << "the fault point was not reached";
  auto rec = ring->get(Deadline::after(5s));
  ASSERT_TRUE(rec.has_value());
  EXPECT_TRUE(*rec == big);
  expect_small(*ring, 3, 2);
  EXPECT_EQ(ring->qsize(), 0u);
}

// The same with the sides shared (a second user each), so the kill happens under the mutex.
TEST(ShmRingKill, AProducerKilledMidPutUnderTheMutexLosesNothingAccepted) {
  auto ring = ShmRing::create(0, 256 * 1024);
  put_small(*ring, 0, 4);  // the parent owns the put side: the child takes the mutex
  pid_t pid = kin::test::fork_child([&] {
    put_small(*ring, 4, 4);
    ::setenv("KIN_FAULT_AT", "ring.put.half_copied", 1);
    const auto big = big_record('m');
    (void)ring->put(big, Deadline::after(5s));
    return 0;
  });
  ASSERT_EQ(kin::test::wait_child(pid), -SIGKILL) << "the fault point was not reached";
  put_small(*ring, 8, 2);
  expect_small(*ring, 0, 10);
  EXPECT_EQ(ring->qsize(), 0u);
}

// ---- Growth while other producers and consumers run

TEST(ShmRingGrowth, MessagesLargerThanTheRingWhileOthersPutAndGet) {
  auto ring = ShmRing::create(0, 16 * 1024);
  constexpr int kPerProducer = 300;
  auto payload = [](int producer, int i) {
    // Every 7th is larger than the ring as it stands (the first, 16 KiB, grows it).
    const std::size_t n = i % 7 == 0 ? static_cast<std::size_t>(20000 + 3000 * i) : static_cast<std::size_t>(8 + i % 50);
    std::vector<std::byte> v(n, static_cast<std::byte>(producer * 64 + i % 64));
    std::memcpy(v.data(), &i, sizeof i);
    return v;
  };
  std::atomic<int> got[2] = {0, 0};
  std::atomic<int> bad{0};
  std::vector<std::thread> ths;
  for (int p = 0; p < 2; ++p)
    ths.emplace_back([&, p] {
      for (int i = 0; i < kPerProducer; ++i) EXPECT_TRUE(ring->put(payload(p, i), Deadline::after(20s)));
    });
  for (int c = 0; c < 2; ++c)
    ths.emplace_back([&] {
      for (int k = 0; k < kPerProducer; ++k) {
        auto rec = ring->get(Deadline::after(20s));
        if (!rec) {
          bad.fetch_add(1);
          return;
        }
        int i = 0;
        std::memcpy(&i, rec->data(), sizeof i);
        const int p = (static_cast<int>((*rec)[rec->size() - 1]) - i % 64) / 64;
        if (p < 0 || p > 1 || *rec != payload(p, i)) {
          bad.fetch_add(1);
          continue;
        }
        got[p].fetch_add(1);
      }
    });
  for (auto& th : ths) th.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(got[0].load(), kPerProducer);
  EXPECT_EQ(got[1].load(), kPerProducer);
  EXPECT_GT(ring->capacity(), 16u * 1024);
}
