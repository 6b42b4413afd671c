// Value and Array given an existing lock (issue 15 item 11), after _test_multiprocessing.py
// _TestValue.test_getobj_getlock and _TestArray.test_getobj_getlock_obj (`lock=lock`): the
// object is guarded by that lock — held elsewhere, it holds the object's users off — and the
// lock travels with the object to children under every start method.
#include <kin/kin.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>

using namespace std::chrono_literals;

namespace {
// 0: the child could not take the object's lock while the parent held `lock`, then could.
int try_object_lock(kin::Value<int, kin::Lock> v, kin::Array<int, kin::Lock> a, kin::Event held, kin::Event released) {
  if (!held.wait(20s)) return 10;
  if (v.get_lock().acquire(50ms)) return 11;  // the parent holds it: shared lock
  if (a.get_lock().acquire(50ms)) return 12;
  if (!released.wait(20s)) return 13;
  v.store(v.load() + 1);  // takes the shared lock
  std::lock_guard g{a.get_lock()};
  a[0] += 1;
  return 0;
}
}  // namespace

TEST(SharedLock, ValueAndArrayUseTheGivenLock) {
  kin::Lock lock;
  kin::Value<int, kin::Lock> v{5, lock};
  kin::Array<int, kin::Lock> a{3, lock};
  lock.acquire();
  std::atomic<bool> stored{false};
  std::thread t([&] {
    v.store(6);  // waits for `lock`
    stored = true;
  });
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(stored.load()) << "the Value did not use the given lock";
  EXPECT_FALSE(a.get_lock().acquire(10ms)) << "the Array did not use the given lock";
  lock.release();
  t.join();
  EXPECT_EQ(v.load(), 6);
  EXPECT_EQ(a.size(), 3u);
}

class SharedLockAcrossStartMethods : public ::testing::TestWithParam<kin::StartMethod> {};

TEST_P(SharedLockAcrossStartMethods, TheGivenLockTravelsWithTheObject) {
  kin::Context ctx{GetParam()};
  kin::Lock lock;
  kin::Value<int, kin::Lock> v{0, lock};
  kin::Array<int, kin::Lock> a{1, lock};
  kin::Event held, released;
  auto p = ctx.process(try_object_lock, v, a, held, released);
  p.start();
  lock.acquire();
  held.set();
  std::this_thread::sleep_for(300ms);  // the child's two 50 ms attempts fail meanwhile
  lock.release();
  released.set();
  ASSERT_TRUE(p.join(20s));
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_EQ(v.load(), 1);
  EXPECT_EQ(a[0], 1);
}

INSTANTIATE_TEST_SUITE_P(AllStartMethods, SharedLockAcrossStartMethods,
                         ::testing::Values(kin::StartMethod::fork, kin::StartMethod::spawn, kin::StartMethod::forkserver),
                         [](const auto& param_info) { return std::string(kin::to_string(param_info.param)); });
