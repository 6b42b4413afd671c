#include <kin/runtime/deadline.hpp>  // first: the header is self-contained

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <thread>

using namespace std::chrono_literals;
using kin::detail::Deadline;

TEST(Deadline, NeverNeverExpires) {
  auto d = Deadline::never();
  EXPECT_TRUE(d.infinite());
  EXPECT_FALSE(d.expired());
  EXPECT_EQ(d.poll_ms(), -1);
  EXPECT_EQ(d.remaining(), Deadline::clock::duration::max());
  EXPECT_TRUE(Deadline::from(std::optional<std::chrono::milliseconds>{}).infinite());
}

TEST(Deadline, ZeroAndNegativeTimeoutsAreAlreadyExpired) {
  EXPECT_TRUE(Deadline::after(0ms).expired());
  EXPECT_TRUE(Deadline::after(-5s).expired());
  EXPECT_EQ(Deadline::after(-5s).poll_ms(), 0);
  EXPECT_EQ(Deadline::after(-5s).remaining(), Deadline::clock::duration::zero());
}

TEST(Deadline, CountsDownAndRoundsPollMillisecondsUp) {
  auto d = Deadline::after(200ms);
  EXPECT_FALSE(d.expired());
  EXPECT_GT(d.poll_ms(), 0);
  EXPECT_LE(d.poll_ms(), 200);
  // Rounded up: a poll with time left never asks for 0 ms (a busy loop).
  auto tiny = Deadline::after(std::chrono::microseconds(900));
  const int tiny_ms = tiny.poll_ms();
  if (!tiny.expired()) {
    EXPECT_EQ(tiny_ms, 1);
  }
  std::this_thread::sleep_for(250ms);
  EXPECT_TRUE(d.expired());
  EXPECT_EQ(d.poll_ms(), 0);
}

TEST(Deadline, HugeTimeoutsSaturateInsteadOfOverflowing) {
  auto d = Deadline::after(std::chrono::hours::max());
  EXPECT_FALSE(d.infinite());
  EXPECT_FALSE(d.expired());
  EXPECT_GT(d.poll_ms(), 0);
  auto ts = d.relative_timespec();
  EXPECT_GT(ts.tv_sec, 0);
}

TEST(Deadline, RelativeTimespecIsTheTimeLeft) {
  auto ts = Deadline::after(1500ms).relative_timespec();
  EXPECT_TRUE(ts.tv_sec == 1 || (ts.tv_sec == 0 && ts.tv_nsec > 0));
  EXPECT_LT(ts.tv_nsec, 1'000'000'000);
  auto zero = Deadline::after(-1s).relative_timespec();
  EXPECT_EQ(zero.tv_sec, 0);
  EXPECT_EQ(zero.tv_nsec, 0);
}

TEST(Deadline, EarliestPicksTheSoonerAndIgnoresNever) {
  auto a = Deadline::after(1s), b = Deadline::after(5s);
  EXPECT_EQ(earliest(a, b).when(), a.when());
  EXPECT_EQ(earliest(b, a).when(), a.when());
  EXPECT_EQ(earliest(Deadline::never(), b).when(), b.when());
  EXPECT_TRUE(earliest(Deadline::never(), Deadline::never()).infinite());
}
