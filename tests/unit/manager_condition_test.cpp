// kin::ConditionProxy (m.Condition()): the lock it is, wait releasing and retaking it (an
// RLock's depth too), timeouts, notify(n) and notify_all, the errors of wait/notify without
// the lock, a producer and consumers in child processes under every start method, and the
// failures: a client SIGKILLed while waiting or while holding the lock, the server killed
// under a waiter.
#include <kin/manager.hpp>

#include <kin/context.hpp>
#include <kin/errors.hpp>
#include <kin/process.hpp>

#include <gtest/gtest.h>

#include "sanitizer_limits.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

// The manager's server (and the tests' children) fork beside the test's threads.
const bool default_method_chosen = (kin::set_start_method(kin::testing::threaded_fork_method()), true);

// Takes items until the producer says it is done and none are left; adds them to `total`.
int consume(kin::ConditionProxy cv, kin::ListProxy<int> items, kin::ValueProxy<int> done,
            kin::ValueProxy<long> total, kin::ValueProxy<long> taken) {
  for (;;) {
    std::unique_lock g{cv};
    if (!cv.wait_for([&] { return items.size() > 0 || done.load() != 0; }, 30s)) return 2;
    if (items.size() == 0) return 0;
    total.add(items.pop(0));
    taken.add(1);
  }
}

// Waits on the condition, announcing it while it holds the lock; killed while waiting.
int wait_forever(kin::ConditionProxy cv, kin::EventProxy waiting) {
  cv.acquire();
  waiting.set();
  cv.wait();
  return 0;
}

int hold_forever(kin::ConditionProxy cv, kin::EventProxy held) {
  cv.acquire();
  held.set();
  ::pause();  // killed here, still holding the condition's lock
  return 0;
}

// Starts a thread that waits on `cv` (for `timeout`), and returns once it is parked on the
// server: it announces itself while holding the lock, so taking the lock here proves it has
// released it inside wait().
std::thread start_waiter(kin::ConditionProxy cv, std::atomic<int>& entered, std::atomic<int>& woken,
                         std::chrono::milliseconds timeout) {
  const int before = entered.load();
  std::thread t([cv, &entered, &woken, timeout]() mutable {
    std::lock_guard g{cv};
    ++entered;
    if (cv.wait(timeout)) ++woken;
  });
  for (int i = 0; i < 2000 && entered.load() == before; ++i) std::this_thread::sleep_for(1ms);
  cv.acquire();  // granted only once the waiter's wait() let go of it
  cv.release();
  return t;
}

}  // namespace

TEST(ManagerCondition, IsALockAndWaitTimesOutHoldingItAgain) {
  kin::Manager m;
  auto cv = m.Condition();
  {
    std::lock_guard g{cv};
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_FALSE(cv.wait(100ms));
    const auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_GE(took, 90ms);
    EXPECT_LT(took, 5s);
    // Held again after the timeout: another thread cannot take it.
    bool other = true;
    std::thread([&, cv]() mutable { other = cv.try_acquire(); }).join();
    EXPECT_FALSE(other);
  }
  bool free_now = false;
  std::thread([&, cv]() mutable {
    free_now = cv.try_acquire();
    if (free_now) cv.release();
  }).join();
  EXPECT_TRUE(free_now);
  // wait(0): releases, times out at once, takes it back.
  cv.acquire();
  EXPECT_FALSE(cv.wait(0ms));
  cv.release();
}

TEST(ManagerCondition, WaitAndNotifyWithoutTheLockAreValueError) {
  kin::Manager m;
  auto cv = m.Condition();
  EXPECT_THROW(cv.notify(), kin::ValueError);
  EXPECT_THROW(cv.notify_all(), kin::ValueError);
  EXPECT_THROW(cv.wait(), kin::ValueError);
  EXPECT_THROW((void)cv.wait(10ms), kin::ValueError);
  EXPECT_THROW(cv.release(), kin::ValueError);
  // Held by another thread is not held by this one (the default lock is an RLock).
  std::atomic<bool> held{false}, stop{false};
  std::thread holder([&, cv]() mutable {
    cv.acquire();
    held = true;
    while (!stop) std::this_thread::sleep_for(1ms);
    cv.release();
  });
  for (int i = 0; i < 5000 && !held; ++i) std::this_thread::sleep_for(1ms);
  ASSERT_TRUE(held);
  EXPECT_THROW(cv.notify(), kin::ValueError);
  stop = true;
  holder.join();
  // The server goes on: with the lock, both work.
  std::lock_guard g{cv};
  cv.notify();
  cv.notify_all();
}

TEST(ManagerCondition, WaitRestoresTheRLockDepth) {
  kin::Manager m;
  auto cv = m.Condition();
  cv.acquire();
  cv.acquire();
  EXPECT_FALSE(cv.wait(20ms));  // releases both levels, takes both back
  cv.release();
  cv.release();
  EXPECT_THROW(cv.release(), kin::ValueError);
}

TEST(ManagerCondition, OverAGivenLockSharesIt) {
  kin::Manager m;
  auto lock = m.Lock();
  auto cv = m.Condition(lock);
  cv.acquire();
  EXPECT_TRUE(lock.locked());
  EXPECT_FALSE(cv.wait(10ms));
  EXPECT_TRUE(lock.locked());
  cv.release();
  EXPECT_FALSE(lock.locked());
  lock.acquire();
  cv.notify();  // a Lock held at all counts as held (Python's _is_owned)
  lock.release();
  EXPECT_THROW(cv.notify(), kin::ValueError);

  auto rlock = m.RLock();
  auto rcv = m.Condition(rlock);
  std::lock_guard g{rlock};
  rcv.notify_all();
  kin::Manager other;  // a lock of another manager is refused
  EXPECT_THROW((void)m.Condition(other.Lock()), kin::ValueError);
}

TEST(ManagerCondition, NotifyWakesNAndNotifyAllTheRest) {
  kin::Manager m;
  auto cv = m.Condition();
  std::atomic<int> entered{0}, woken{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 3; ++i) ts.push_back(start_waiter(cv, entered, woken, 20s));
  {
    std::lock_guard g{cv};
    cv.notify();
  }
  for (int i = 0; i < 5000 && woken.load() < 1; ++i) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(woken.load(), 1);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(woken.load(), 1);  // one notification, one waiter
  {
    std::lock_guard g{cv};
    cv.notify_all();
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(woken.load(), 3);
}

TEST(ManagerCondition, WaitForReturnsThePredicate) {
  kin::Manager m;
  auto cv = m.Condition();
  auto v = m.Value<int>(0);
  std::thread setter([cv, v]() mutable {
    std::this_thread::sleep_for(20ms);
    std::lock_guard g{cv};
    v.store(7);
    cv.notify_all();
  });
  {
    std::unique_lock g{cv};
    EXPECT_TRUE(cv.wait_for([&] { return v.load() == 7; }, 20s));
    EXPECT_FALSE(cv.wait_for([&] { return v.load() == 8; }, 50ms));
  }
  setter.join();
}

class ManagerConditionAcrossProcesses : public ::testing::TestWithParam<kin::StartMethod> {};

TEST_P(ManagerConditionAcrossProcesses, ProducerAndTwoConsumers) {
  kin::Manager m{kin::ManagerOptions{.start_method = GetParam()}};
  auto cv = m.Condition();
  auto items = m.list<int>();
  auto done = m.Value<int>(0);
  auto total = m.Value<long>(0);
  auto taken = m.Value<long>(0);
  kin::Context ctx{GetParam()};
  std::vector<kin::Process> ps;
  for (int i = 0; i < 2; ++i) ps.push_back(ctx.process(consume, cv, items, done, total, taken));
  for (auto& p : ps) p.start();
  for (int i = 1; i <= 200; ++i) {
    std::lock_guard g{cv};
    items.append(i);
    cv.notify();
  }
  {
    std::lock_guard g{cv};
    done.store(1);
    cv.notify_all();
  }
  for (auto& p : ps) {
    ASSERT_TRUE(p.join(60s));
    EXPECT_EQ(p.exitcode(), 0);
  }
  EXPECT_EQ(total.load(), 200L * 201 / 2);
  EXPECT_EQ(taken.load(), 200);
  EXPECT_EQ(items.size(), 0u);
}

INSTANTIATE_TEST_SUITE_P(AllStartMethods, ManagerConditionAcrossProcesses,
                         ::testing::Values(kin::StartMethod::fork, kin::StartMethod::spawn, kin::StartMethod::forkserver),
                         [](const auto& param_info) { return std::string(kin::to_string(param_info.param)); });

TEST(ManagerCondition, ClientKilledWhileWaitingLosesNoNotification) {
  kin::Manager m;
  auto cv = m.Condition();
  auto waiting = m.Event();
  kin::Context ctx{kin::StartMethod::fork};
  auto p = ctx.process(wait_forever, cv, waiting);
  p.start();
  ASSERT_GT(p.pid(), 0);
  ASSERT_TRUE(waiting.wait(20s));
  ASSERT_TRUE(cv.acquire(20s));  // the child's wait() let go of it: it is parked
  cv.release();
  std::atomic<int> entered{0}, woken{0};
  auto t = start_waiter(cv, entered, woken, 20s);  // behind the child in the waiters' order
  p.kill();
  ASSERT_TRUE(p.join(10s));
  {
    std::lock_guard g{cv};
    cv.notify();  // must reach the living waiter, not the dead one
  }
  t.join();
  EXPECT_EQ(woken.load(), 1);
}

TEST(ManagerCondition, ClientKilledHoldingTheLockReleasesIt) {
  kin::Manager m;
  auto cv = m.Condition();
  auto held = m.Event();
  kin::Context ctx{kin::StartMethod::fork};
  auto p = ctx.process(hold_forever, cv, held);
  p.start();
  ASSERT_GT(p.pid(), 0);
  ASSERT_TRUE(held.wait(20s));
  EXPECT_FALSE(cv.acquire(10ms));
  p.kill();
  ASSERT_TRUE(p.join(10s));
  ASSERT_TRUE(cv.acquire(5s));
  EXPECT_FALSE(cv.wait(10ms));  // an ordinary condition again
  cv.notify();
  cv.release();
}

TEST(ManagerCondition, ServerKilledUnderAWaiterIsManagerLost) {
  kin::Manager m;
  auto cv = m.Condition();
  std::atomic<bool> lost{false};
  std::atomic<int> entered{0};
  std::thread t([&, cv]() mutable {
    try {
      cv.acquire();  // no lock_guard: its release would throw ManagerLost from a destructor
      ++entered;
      cv.wait();
    } catch (const kin::ManagerLost&) {
      lost = true;
    }
  });
  for (int i = 0; i < 5000 && entered.load() == 0; ++i) std::this_thread::sleep_for(1ms);
  ASSERT_TRUE(cv.acquire(20s));
  cv.release();
  const auto pid = m.pid();
  ASSERT_TRUE(pid);
  ASSERT_GT(*pid, 0);
  ASSERT_EQ(::kill(*pid, SIGKILL), 0);
  t.join();
  EXPECT_TRUE(lost);
  EXPECT_THROW(cv.notify(), kin::ManagerLost);
}
