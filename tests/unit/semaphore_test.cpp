#include <kin/semaphore.hpp>
#include <kin/bounded_semaphore.hpp>

#include <kin/errors.hpp>

#include "sync_test_util.hpp"

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using kin::test::fork_child;
using kin::test::wait_child;

TEST(Semaphore, CountsPermits) {
  kin::Semaphore s{2};
  EXPECT_EQ(s.get_value(), 2u);
  EXPECT_TRUE(s.acquire());
  EXPECT_TRUE(s.acquire(false));
  EXPECT_FALSE(s.acquire(false));
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(s.acquire(50ms));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 45ms);
  s.release(2);
  EXPECT_EQ(s.get_value(), 2u);
  s.release();  // an unbounded semaphore may grow past its start value
  EXPECT_EQ(s.get_value(), 3u);
  EXPECT_FALSE(s.previous_owner_died());
}

TEST(Semaphore, DefaultIsOneAndLockable) {
  kin::Semaphore s;
  {
    std::lock_guard g{s};
    EXPECT_EQ(s.get_value(), 0u);
    EXPECT_FALSE(s.try_lock());
    EXPECT_FALSE(s.try_lock_for(10ms));
    EXPECT_FALSE(s.try_lock_until(std::chrono::steady_clock::now() + 10ms));
  }
  EXPECT_EQ(s.get_value(), 1u);
}

TEST(Semaphore, ReleaseWakesWaiterInOtherProcess) {
  kin::Semaphore s{0};
  pid_t pid = fork_child([s]() mutable { return s.acquire(10s) ? 0 : 1; });
  std::this_thread::sleep_for(20ms);
  s.release();
  EXPECT_EQ(wait_child(pid), 0);
  EXPECT_EQ(s.get_value(), 0u);
}

TEST(Semaphore, AtMostNHoldersAtOnce) {
  kin::Semaphore s{3};
  auto block = kin::detail::SharedBlock::create(16, "test");
  auto* inside = reinterpret_cast<std::atomic<int>*>(block.data());
  auto* peak = inside + 1;
  std::vector<pid_t> pids;
  for (int p = 0; p < 6; ++p) {
    pids.push_back(fork_child([&] {
      for (int i = 0; i < 200; ++i) {
        std::lock_guard g{s};
        int now = inside->fetch_add(1) + 1;
        int old = peak->load();
        while (now > old && !peak->compare_exchange_weak(old, now)) {
        }
        if (now > 3) return 1;
        inside->fetch_sub(1);
      }
      return 0;
    }));
  }
  for (pid_t pid : pids) EXPECT_EQ(wait_child(pid), 0);
  EXPECT_LE(peak->load(), 3);
  EXPECT_EQ(s.get_value(), 3u);
}

TEST(Semaphore, PermitsOfKilledHolderAreReclaimed) {
  kin::Semaphore s{1};
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t pid = fork_child([&] {
    s.acquire();
    char x = 1;
    (void)!::write(ready[1], &x, 1);
    ::pause();
    return 0;
  });
  char x = 0;
  ASSERT_EQ(::read(ready[0], &x, 1), 1);
  ::close(ready[0]);
  ::close(ready[1]);
  EXPECT_FALSE(s.acquire(false));
  kin::test::kill_child(pid);
  ASSERT_TRUE(s.acquire(5s));
  EXPECT_TRUE(s.previous_owner_died());
  s.release();
  ASSERT_TRUE(s.acquire(1s));
  EXPECT_FALSE(s.previous_owner_died());
  s.release();
  EXPECT_EQ(s.get_value(), 1u);
}

TEST(Semaphore, KilledZombieHolderIsReclaimedBeforeReaping) {
  kin::Semaphore s{1};
  pid_t pid = fork_child([&] {
    s.acquire();
    ::raise(SIGKILL);
    return 0;
  });
  // Not reaped yet: the holder is a zombie, which counts as dead.
  ASSERT_TRUE(kin::test::eventually([&] { return s.get_value() == 0; }));
  ASSERT_TRUE(kin::test::eventually([&] { return kin::detail::process_is_dead(pid); }));
  ASSERT_TRUE(s.acquire(5s));
  EXPECT_TRUE(s.previous_owner_died());
  s.release();
  EXPECT_EQ(wait_child(pid), -SIGKILL);
}

TEST(Semaphore, ReleaseByAnotherProcessDoesNotDoubleCount) {
  // The signalling pattern: a child acquires, the parent releases for it; the child's death
  // must not then hand back a permit that was already returned.
  kin::Semaphore s{1};
  pid_t pid = fork_child([&] { return s.acquire(1s) ? 0 : 1; });
  EXPECT_EQ(wait_child(pid), 0);
  s.release();
  EXPECT_EQ(s.get_value(), 1u);
  ASSERT_TRUE(s.acquire(1s));
  EXPECT_FALSE(s.acquire(300ms));  // sleeps past a reclaim slice: nothing to reclaim
  s.release();
  EXPECT_EQ(s.get_value(), 1u);
}

TEST(BoundedSemaphore, OverReleaseThrowsValueError) {
  kin::BoundedSemaphore b{2};
  EXPECT_THROW(b.release(), kin::ValueError);
  b.acquire();
  b.acquire();
  b.release();
  EXPECT_THROW(b.release(2), kin::ValueError);
  b.release();
  EXPECT_THROW(b.release(), kin::ValueError);
  EXPECT_EQ(b.get_value(), 2u);
}

TEST(BoundedSemaphore, HolderKilledIsReclaimed) {
  kin::BoundedSemaphore b{1};
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t pid = fork_child([&] {
    b.acquire();
    char x = 1;
    (void)!::write(ready[1], &x, 1);
    ::pause();
    return 0;
  });
  char x = 0;
  ASSERT_EQ(::read(ready[0], &x, 1), 1);
  ::close(ready[0]);
  ::close(ready[1]);
  kin::test::kill_child(pid);
  ASSERT_TRUE(b.acquire(5s));
  EXPECT_TRUE(b.previous_owner_died());
  b.release();
  EXPECT_THROW(b.release(), kin::ValueError);
}

TEST(BoundedSemaphore, ThreadsShareIt) {
  kin::BoundedSemaphore b{2};
  std::atomic<int> inside{0}, peak{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        std::lock_guard g{b};
        int now = ++inside;
        int old = peak.load();
        while (now > old && !peak.compare_exchange_weak(old, now)) {
        }
        --inside;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_LE(peak.load(), 2);
  EXPECT_EQ(b.get_value(), 2u);
}

TEST(Semaphore, ReleaseNWakesNWaiters) {
  kin::Semaphore s{0};
  std::vector<pid_t> pids;
  for (int i = 0; i < 3; ++i) pids.push_back(fork_child([s]() mutable { return s.acquire(10s) ? 0 : 1; }));
  std::this_thread::sleep_for(20ms);
  s.release(3);
  for (pid_t pid : pids) EXPECT_EQ(wait_child(pid), 0);
  EXPECT_EQ(s.get_value(), 0u);
}
