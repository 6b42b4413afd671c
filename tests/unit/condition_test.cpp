#include <kin/condition.hpp>

#include <kin/errors.hpp>

#include "fork_child.hpp"

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using kin::test::fork_child;
using kin::test::wait_child;

namespace {
struct Shared {
  int items;
  int produced;
};
}  // namespace

TEST(Condition, WaitWithoutLockThrows) {
  kin::Condition c;
  EXPECT_THROW(c.wait(), kin::ValueError);
  EXPECT_THROW(c.notify(), kin::ValueError);
  EXPECT_THROW(c.notify_all(), kin::ValueError);
  EXPECT_THROW(c.release(), kin::ValueError);
}

TEST(Condition, TimedWaitTimesOutAndKeepsLock) {
  kin::Condition c;
  std::unique_lock g{c};
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(c.wait(50ms));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 45ms);
  EXPECT_FALSE(c.wait_for([] { return false; }, 30ms));
  EXPECT_TRUE(c.wait_for([] { return true; }, 30ms));
  c.notify();  // still held: no throw
}

TEST(Condition, OverAGivenLockAndRLock) {
  kin::Lock l;
  kin::Condition c{l};
  {
    std::lock_guard g{c};
    EXPECT_TRUE(l.locked());
    EXPECT_FALSE(c.wait(10ms));
    EXPECT_TRUE(l.locked());
  }
  EXPECT_FALSE(l.locked());

  kin::RLock r;
  kin::Condition c2{r};
  r.acquire();
  r.acquire();  // depth 2: wait must drop both levels and restore them
  std::atomic<bool> other_got_it{false};
  std::thread t([&] {
    std::lock_guard g{r};
    other_got_it = true;
    c2.notify();
  });
  EXPECT_TRUE(c2.wait_for([&] { return other_got_it.load(); }, 5s));
  t.join();
  EXPECT_TRUE(r.is_owned());
  r.release();
  r.release();
  EXPECT_FALSE(r.is_owned());
}

TEST(Condition, ProducerConsumerAcrossProcesses) {
  kin::Condition c;
  auto block = kin::detail::SharedBlock::create(sizeof(Shared), "test");
  auto* sh = block.as<Shared>();
  constexpr int kN = 2000;
  pid_t consumer = fork_child([&] {
    int got = 0;
    while (got < kN) {
      std::unique_lock g{c};
      if (!c.wait_for([&] { return sh->items > 0; }, 5s)) return 1;
      --sh->items;
      ++got;
      c.notify_all();
    }
    return 0;
  });
  for (int i = 0; i < kN; ++i) {
    std::unique_lock g{c};
    ASSERT_TRUE(c.wait_for([&] { return sh->items < 5; }, 5s));
    ++sh->items;
    ++sh->produced;
    c.notify();
  }
  EXPECT_EQ(wait_child(consumer), 0);
  EXPECT_EQ(sh->items, 0);
}

TEST(Condition, NotifyAllWakesEveryWaiter) {
  kin::Condition c;
  auto block = kin::detail::SharedBlock::create(sizeof(Shared), "test");
  auto* sh = block.as<Shared>();
  std::vector<pid_t> pids;
  for (int i = 0; i < 3; ++i) {
    pids.push_back(fork_child([&] {
      std::unique_lock g{c};
      ++sh->items;  // registered as waiting
      c.notify_all();
      return c.wait_for([&] { return sh->produced == 1; }, 10s) ? 0 : 1;
    }));
  }
  {
    std::unique_lock g{c};
    ASSERT_TRUE(c.wait_for([&] { return sh->items == 3; }, 10s));
    sh->produced = 1;
    c.notify_all();
  }
  for (pid_t pid : pids) EXPECT_EQ(wait_child(pid), 0);
}

TEST(Condition, SpuriousWakeupsAreHandledByWaitFor) {
  // notify() without the predicate becoming true: wait_for keeps waiting.
  kin::Condition c;
  std::atomic<bool> ready{false};
  std::thread t([&] {
    for (int i = 0; i < 5; ++i) {
      std::this_thread::sleep_for(5ms);
      std::lock_guard g{c};
      c.notify_all();
    }
    std::lock_guard g{c};
    ready = true;
    c.notify_all();
  });
  {
    std::unique_lock g{c};
    EXPECT_TRUE(c.wait_for([&] { return ready.load(); }, 5s));
  }
  t.join();
}

TEST(Condition, LockHolderKilledIsReportedToNextAcquirer) {
  kin::Condition c;
  pid_t pid = kin::test::fork_holder([&] { c.acquire(); });
  ASSERT_GT(pid, 0);
  kin::test::kill_child(pid);
  ASSERT_TRUE(c.acquire(5s));
  EXPECT_TRUE(c.previous_owner_died());
  EXPECT_FALSE(c.wait(10ms));
  c.release();
}

TEST(Condition, KilledWhileHoldingDuringWaitersWakesWaiter) {
  // A waiter asleep; the notifier dies holding the lock after notifying: the waiter still
  // returns, owning the lock, and learns the previous owner died.
  kin::Condition c;
  auto block = kin::detail::SharedBlock::create(sizeof(Shared), "test");
  auto* sh = block.as<Shared>();
  std::atomic<bool> done{false}, died{false};
  std::thread waiter([&] {
    std::unique_lock g{c};
    sh->items = 1;
    if (c.wait_for([&] { return sh->produced == 1; }, 10s)) {
      died = c.previous_owner_died();
      done = true;
    }
  });
  ASSERT_TRUE(kin::test::eventually([&] {
    std::lock_guard g{c};
    return sh->items == 1;
  }));
  pid_t pid = fork_child([&] {
    c.acquire();
    sh->produced = 1;
    c.notify_all();
    ::raise(SIGKILL);
    return 0;
  });
  waiter.join();
  EXPECT_EQ(wait_child(pid), -SIGKILL);
  EXPECT_TRUE(done.load());
  EXPECT_TRUE(died.load());
}

TEST(Condition, NotifyNWakesAtLeastNOfTheWaiters) {
  kin::Condition c;
  auto block = kin::detail::SharedBlock::create(sizeof(Shared), "test");
  auto* sh = block.as<Shared>();
  std::atomic<int> woke{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 4; ++i) {
    ts.emplace_back([&] {
      std::unique_lock g{c};
      ++sh->items;
      if (c.wait(10s)) ++woke;
    });
  }
  ASSERT_TRUE(kin::test::eventually([&] {
    std::lock_guard g{c};
    return sh->items == 4;
  }));
  {
    std::lock_guard g{c};
    c.notify(2);
  }
  ASSERT_TRUE(kin::test::eventually([&] { return woke.load() >= 2; }));
  {
    std::lock_guard g{c};
    c.notify_all();
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(woke.load(), 4);
}
