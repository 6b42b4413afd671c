// RobustMutex and its guard RobustLock, the engine under kin::Lock, the Queue's ring and
// Barrier: a holder SIGKILLed with the mutex held is reported to the next locker, once, and
// the guard releases exactly what it holds (after a timeout, a move, an unlock).
#include <kin/runtime/robust_mutex.hpp>
#include <kin/runtime/shared_block.hpp>

#include "fork_child.hpp"

#include <utility>

using namespace std::chrono_literals;
using kin::detail::LockResult;
using kin::detail::RobustLock;
using kin::detail::RobustMutex;

namespace {
struct SharedMutex {
  kin::detail::SharedBlock block = kin::detail::SharedBlock::create(sizeof(RobustMutex), "test");
  RobustMutex& m = *block.as<RobustMutex>();
  SharedMutex() { m.init(); }
};
}  // namespace

TEST(RobustLock, AKilledHolderIsReportedOnceToTheNextGuard) {
  SharedMutex s;
  pid_t pid = kin::test::fork_holder([&] { s.m.lock(); });
  ASSERT_GT(pid, 0);
  kin::test::kill_child(pid);
  {
    RobustLock g{s.m, kin::detail::Deadline::after(5s)};
    ASSERT_TRUE(g.owns());
    EXPECT_TRUE(g.owner_died());
    g.unlock();
    EXPECT_FALSE(g.owns());
    EXPECT_FALSE(g.owner_died());
    EXPECT_EQ(g.lock(), LockResult::acquired);  // consistent again: nothing more to report
    EXPECT_FALSE(g.owner_died());
  }
  EXPECT_EQ(s.m.try_lock(), LockResult::acquired);  // the guard released it
  EXPECT_TRUE(s.m.unlock());
}

TEST(RobustLock, ATimedOutGuardHoldsNothingAndCanLockLater) {
  SharedMutex s;
  pid_t pid = kin::test::fork_holder([&] { s.m.lock(); });
  ASSERT_GT(pid, 0);
  RobustLock g{s.m, kin::detail::Deadline::after(20ms)};
  EXPECT_FALSE(g.owns());
  EXPECT_FALSE(g.owner_died());
  g.unlock();  // holds nothing: releases nothing
  kin::test::kill_child(pid);
  EXPECT_EQ(g.lock(kin::detail::Deadline::after(5s)), LockResult::owner_died);
  EXPECT_TRUE(g.owns());
}

TEST(RobustLock, AMovedGuardReleasesOnce) {
  SharedMutex s;
  {
    RobustLock a{s.m};
    RobustLock b{std::move(a)};
    EXPECT_FALSE(a.owns());  // the moved-from guard: what this test is about
    EXPECT_TRUE(b.owns());
    EXPECT_EQ(s.m.try_lock(), LockResult::timeout);  // held (by this thread: EDEADLK)
  }
  EXPECT_EQ(s.m.try_lock(), LockResult::acquired);
  EXPECT_TRUE(s.m.unlock());
}

TEST(RobustLock, AnEmptyGuardTakesAMutexLater) {
  SharedMutex s;
  RobustLock g;
  EXPECT_FALSE(g.owns());
  g.unlock();
  EXPECT_EQ(g.lock(s.m), LockResult::acquired);
  EXPECT_TRUE(g.owns());
}
