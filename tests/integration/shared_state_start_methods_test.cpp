// Every shared-state type handed to children under each start method arrives usable: the
// children synchronize through it with the parent and with each other.
#include <kin/kin.hpp>

#include <gtest/gtest.h>

#include <signal.h>

#include <string>

using namespace std::chrono_literals;

namespace {

constexpr int kChildren = 3, kRounds = 500;

int worker(int id, kin::Value<long> total, kin::Lock lock, kin::RLock rlock, kin::Semaphore sem,
           kin::Event go, kin::Barrier barrier, kin::Array<int> slots, kin::RawValue<int> raw) {
  if (!go.wait(20s)) return 10;
  for (int i = 0; i < kRounds; ++i) {
    std::lock_guard g{lock};
    std::lock_guard r1{rlock};
    std::lock_guard r2{rlock};  // re-entrant
    total.store(total.load() + 1);
  }
  slots[static_cast<std::size_t>(id)] = id + 100;
  if (id == 0) raw.store(42);
  barrier.wait(20s);  // all children have written their slot after this
  for (int i = 0; i < kChildren; ++i)
    if (slots[static_cast<std::size_t>(i)] != i + 100) return 11;
  sem.release();
  return 0;
}

int wait_for_condition(kin::Condition cond, kin::Value<int> flag) {
  std::unique_lock g{cond};
  return cond.wait_for([&] { return flag.load() == 1; }, 20s) ? 0 : 12;
}

void hold_forever(kin::Lock lock, kin::Event held) {
  lock.acquire();
  held.set();
  for (;;) ::pause();
}

}  // namespace

class SharedStateAcrossStartMethods : public ::testing::TestWithParam<kin::StartMethod> {};

TEST_P(SharedStateAcrossStartMethods, EveryPrimitiveArrivesUsable) {
  kin::Context ctx{GetParam()};
  kin::Value<long> total{0};
  kin::Lock lock;
  kin::RLock rlock;
  kin::Semaphore sem{0};
  kin::Event go;
  kin::Barrier barrier{kChildren};
  kin::Array<int> slots(kChildren);
  kin::RawValue<int> raw{0};
  std::vector<kin::Process> ps;
  for (int id = 0; id < kChildren; ++id) ps.push_back(ctx.process(worker, id, total, lock, rlock, sem, go, barrier, slots, raw));
  for (auto& p : ps) p.start();
  go.set();
  for (int i = 0; i < kChildren; ++i) ASSERT_TRUE(sem.acquire(20s)) << "child " << i << " never released";
  for (auto& p : ps) {
    ASSERT_TRUE(p.join(20s));
    EXPECT_EQ(p.exitcode(), 0);
  }
  EXPECT_EQ(total.load(), kChildren * kRounds);
  EXPECT_EQ(raw.load(), 42);
}

TEST_P(SharedStateAcrossStartMethods, ConditionNotifiesAChild) {
  kin::Context ctx{GetParam()};
  kin::Condition cond;
  kin::Value<int> flag{0};
  auto p = ctx.process(wait_for_condition, cond, flag);
  p.start();
  std::this_thread::sleep_for(50ms);
  {
    std::unique_lock g{cond};
    flag.store(1);
    cond.notify_all();
  }
  ASSERT_TRUE(p.join(20s));
  EXPECT_EQ(p.exitcode(), 0);
}

TEST_P(SharedStateAcrossStartMethods, ALockHeldByAKilledChildIsRecovered) {
  kin::Context ctx{GetParam()};
  kin::Lock lock;
  kin::Event held;
  auto p = ctx.process(hold_forever, lock, held);
  p.start();
  ASSERT_TRUE(held.wait(20s));
  p.kill();
  ASSERT_TRUE(p.join(20s));
  ASSERT_TRUE(lock.acquire(10s));
  EXPECT_TRUE(lock.previous_owner_died());
  lock.release();
}

INSTANTIATE_TEST_SUITE_P(AllStartMethods, SharedStateAcrossStartMethods,
                         ::testing::Values(kin::StartMethod::fork, kin::StartMethod::spawn, kin::StartMethod::forkserver),
                         [](const auto& param_info) { return std::string(kin::to_string(param_info.param)); });
