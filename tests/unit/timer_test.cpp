#include <kin/timer.hpp>

#include <kin/errors.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>

using namespace std::chrono_literals;

namespace {
// Polls `flag` for at most 10 s.
bool eventually(const std::atomic<bool>& flag) {
  auto end = std::chrono::steady_clock::now() + 10s;
  while (!flag && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(1ms);
  return flag;
}
}  // namespace

TEST(Timer, FiresAfterTheInterval) {
  std::atomic<bool> fired{false};
  auto t0 = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point at;
  kin::Timer t{50ms, [&] {
                 at = std::chrono::steady_clock::now();
                 fired = true;
               }};
  t.start();
  EXPECT_TRUE(t.is_alive());
  ASSERT_TRUE(t.join(5s));
  EXPECT_TRUE(fired);
  EXPECT_GE(at - t0, 45ms);
  EXPECT_FALSE(t.is_alive());
}

TEST(Timer, PassesArguments) {
  int got = 0;
  kin::Timer t{1ms, [](int a, int& out) { out = a * 2; }, 21, std::ref(got)};
  t.start();
  ASSERT_TRUE(t.join(5s));
  EXPECT_EQ(got, 42);
}

TEST(Timer, CancelBeforeItFiresWakesTheTimerAtOnce) {
  std::atomic<bool> fired{false};
  kin::Timer t{30s, [&] { fired = true; }};
  t.start();
  EXPECT_FALSE(t.join(20ms));
  t.cancel();
  // A 30 s interval: only the wake-up from cancel() lets join succeed within 5 s.
  ASSERT_TRUE(t.join(5s));
  EXPECT_FALSE(fired);
}

TEST(Timer, CancelBeforeStartNeverFires) {
  std::atomic<bool> fired{false};
  kin::Timer t{10ms, [&] { fired = true; }};
  t.cancel();
  t.start();
  ASSERT_TRUE(t.join(5s));
  std::this_thread::sleep_for(30ms);
  EXPECT_FALSE(fired);
}

TEST(Timer, CancelAfterFiringIsHarmless) {
  std::atomic<bool> fired{false};
  kin::Timer t{1ms, [&] { fired = true; }};
  t.start();
  ASSERT_TRUE(t.join(5s));
  t.cancel();
  EXPECT_TRUE(fired);
}

TEST(Timer, IsAThreadWithNameAndDaemonOptions) {
  std::string name;
  kin::Timer t{kin::ThreadOptions{.name = "tick", .daemon = true}, 1ms,
               [&] { name = kin::current_thread().name(); }};
  kin::Thread& as_thread = t;
  EXPECT_TRUE(as_thread.daemon());
  as_thread.start();
  EXPECT_THROW(t.start(), kin::ValueError);
  ASSERT_TRUE(as_thread.join(5s));
  EXPECT_EQ(name, "tick");
}

TEST(Timer, FiresEvenWhenTheTimerObjectIsGone) {
  auto fired = std::make_shared<std::atomic<bool>>(false);
  std::optional<kin::ThreadHandle> h;
  {
    kin::Timer t{20ms, [fired] { *fired = true; }};
    t.start();
    h = t.handle();
  }
  EXPECT_TRUE(eventually(*fired));
  EXPECT_TRUE(h->join(5s));
}

TEST(Timer, MovedTimerKeepsWorkingAndTheMovedFromOneIsValueError) {
  std::atomic<bool> fired{false};
  kin::Timer a{30s, [&] { fired = true; }};
  a.start();
  kin::Timer b{std::move(a)};
  EXPECT_THROW(a.cancel(), kin::ValueError);  // NOLINT(bugprone-use-after-move): on purpose
  b.cancel();
  ASSERT_TRUE(b.join(5s));
  EXPECT_FALSE(fired);
}
