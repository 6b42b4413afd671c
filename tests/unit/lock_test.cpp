#include <kin/lock.hpp>
#include <kin/rlock.hpp>

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

struct Counter {
  long n;
};

}  // namespace

TEST(Lock, AcquireReleaseAndTry) {
  kin::Lock l;
  EXPECT_FALSE(l.locked());
  EXPECT_TRUE(l.acquire());
  EXPECT_TRUE(l.locked());
  EXPECT_FALSE(l.previous_owner_died());
  std::thread([&] { EXPECT_FALSE(l.acquire(false)); }).join();
  std::thread([&] {
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_FALSE(l.acquire(50ms));
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 45ms);
  }).join();
  l.release();
  EXPECT_FALSE(l.locked());
  EXPECT_TRUE(l.acquire(10ms));
  l.release();
}

TEST(Lock, StdGuardsWork) {
  kin::Lock l;
  {
    std::lock_guard g{l};
    EXPECT_TRUE(l.locked());
  }
  EXPECT_FALSE(l.locked());
  {
    std::unique_lock g{l, 10ms};
    EXPECT_TRUE(g.owns_lock());
  }
  {
    std::unique_lock g{l, std::chrono::system_clock::now() + 10ms};
    EXPECT_TRUE(g.owns_lock());
  }
  kin::Lock other;
  {
    std::scoped_lock g{l, other};
    EXPECT_TRUE(l.locked() && other.locked());
  }
  EXPECT_FALSE(l.locked() || other.locked());
}

TEST(Lock, MisuseThrowsValueError) {
  kin::Lock l;
  EXPECT_THROW(l.release(), kin::ValueError);
  l.acquire();
  EXPECT_THROW(l.acquire(), kin::ValueError);  // would deadlock: Lock is not re-entrant
  EXPECT_FALSE(l.acquire(false));
  EXPECT_FALSE(l.acquire(20ms));
  std::thread([&] { EXPECT_THROW(l.release(), kin::ValueError); }).join();
  l.release();
  EXPECT_THROW(l.release(), kin::ValueError);
}

TEST(Lock, CopiesShareTheLock) {
  kin::Lock a;
  kin::Lock b = a;
  a.acquire();
  EXPECT_TRUE(b.locked());
  std::thread([b]() mutable { EXPECT_FALSE(b.acquire(false)); }).join();
  a.release();
}

TEST(Lock, ExactTotalsUnderContentionAcrossProcesses) {
  kin::Lock l;
  kin::detail::SharedBlock block = kin::detail::SharedBlock::create(sizeof(Counter), "test");
  auto* c = block.as<Counter>();
  constexpr int kProcs = 4, kIters = 100000;
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcs; ++p) {
    pids.push_back(fork_child([&] {
      for (int i = 0; i < kIters; ++i) {
        std::lock_guard g{l};
        long v = c->n;
        std::atomic_signal_fence(std::memory_order_seq_cst);
        c->n = v + 1;
      }
      return 0;
    }));
  }
  for (pid_t pid : pids) EXPECT_EQ(wait_child(pid), 0);
  EXPECT_EQ(c->n, long{kProcs} * kIters);
}

TEST(Lock, HolderKilledNextAcquirerGetsItAndIsTold) {
  kin::Lock l;
  pid_t pid = kin::test::fork_holder([&] { l.acquire(); });
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(l.locked());
  EXPECT_FALSE(l.acquire(false));
  kin::test::kill_child(pid);
  ASSERT_TRUE(l.acquire(5s));
  EXPECT_TRUE(l.previous_owner_died());
  l.release();
  ASSERT_TRUE(l.acquire(1s));
  EXPECT_FALSE(l.previous_owner_died());
  l.release();
}

TEST(Lock, WaiterBlockedOnKilledHolderWakesUp) {
  kin::Lock l;
  pid_t pid = kin::test::fork_holder([&] { l.acquire(); });
  ASSERT_GT(pid, 0);
  std::atomic<bool> got{false}, died{false};
  std::thread t([&] {
    if (l.acquire(10s)) {
      died = l.previous_owner_died();
      got = true;
      l.release();
    }
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(got.load());
  kin::test::kill_child(pid);
  t.join();
  EXPECT_TRUE(got.load());
  EXPECT_TRUE(died.load());
}

TEST(Lock, ThreadExitingWhileHoldingIsRecovered) {
  kin::Lock l;
  std::thread([&] { l.acquire(); }).join();
  ASSERT_TRUE(l.acquire(2s));
  EXPECT_TRUE(l.previous_owner_died());
  l.release();
}

TEST(RLock, ReentersAndCountsReleases) {
  kin::RLock r;
  EXPECT_FALSE(r.is_owned());
  r.acquire();
  EXPECT_TRUE(r.acquire(false));
  EXPECT_TRUE(r.acquire(10ms));
  EXPECT_TRUE(r.is_owned());
  std::thread([&] { EXPECT_FALSE(r.acquire(20ms)); }).join();
  r.release();
  r.release();
  std::thread([&] { EXPECT_FALSE(r.acquire(false)); }).join();
  r.release();
  EXPECT_FALSE(r.is_owned());
  std::thread([&] {
    EXPECT_TRUE(r.acquire(false));
    r.release();
  }).join();
  EXPECT_THROW(r.release(), kin::ValueError);
}

TEST(RLock, ReleaseByNonOwnerThrows) {
  kin::RLock r;
  std::lock_guard g{r};
  std::thread([&] { EXPECT_THROW(r.release(), kin::ValueError); }).join();
}

TEST(RLock, HolderKilledAtDepthThreeIsRecovered) {
  kin::RLock r;
  pid_t pid = kin::test::fork_holder([&] {
    r.acquire();
    r.acquire();
    r.acquire();
  });
  ASSERT_GT(pid, 0);
  EXPECT_FALSE(r.acquire(false));
  kin::test::kill_child(pid);
  ASSERT_TRUE(r.acquire(5s));
  EXPECT_TRUE(r.previous_owner_died());
  r.release();  // depth 1 after recovery
  EXPECT_FALSE(r.is_owned());
  std::thread([&] {
    EXPECT_TRUE(r.acquire(false));
    r.release();
  }).join();
}

TEST(RLock, ExactTotalsAcrossProcesses) {
  kin::RLock r;
  auto block = kin::detail::SharedBlock::create(sizeof(Counter), "test");
  auto* c = block.as<Counter>();
  std::vector<pid_t> pids;
  for (int p = 0; p < 4; ++p) {
    pids.push_back(fork_child([&] {
      for (int i = 0; i < 20000; ++i) {
        std::lock_guard g1{r};
        std::lock_guard g2{r};
        long v = c->n;
        std::atomic_signal_fence(std::memory_order_seq_cst);
        c->n = v + 1;
      }
      return 0;
    }));
  }
  for (pid_t pid : pids) EXPECT_EQ(wait_child(pid), 0);
  EXPECT_EQ(c->n, 80000);
}

TEST(RLock, ForkChildOfTheHolderIsNotTheOwner) {
  // The child of a holding thread has another thread id: it must not re-enter the lock.
  kin::RLock r;
  kin::Lock l;
  r.acquire();
  l.acquire();
  pid_t pid = fork_child([&] {
    if (r.is_owned() || r.acquire(false)) return 1;
    if (l.acquire(false)) return 2;
    return 0;
  });
  EXPECT_EQ(wait_child(pid), 0);
  r.release();
  l.release();
}
