// kin::detail::SpscRing: records in order across wrap-around, a full ring refusing records
// (back-pressure, nothing lost), publish/park hand-offs between two real processes, a producer
// killed mid-record (the consumer sees only published records), and garbage lengths.
#include <gtest/gtest.h>

#include <kin/runtime/memfd_segment.hpp>
#include <kin/runtime/spsc_ring.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

using kin::detail::MemfdSegment;
using kin::detail::SpscRing;

constexpr std::size_t kCap = 4096;

std::vector<std::byte> record(std::uint32_t seq, std::size_t n) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>((seq * 31 + i) & 0xFF);
  if (n >= 4) std::memcpy(v.data(), &seq, 4);
  return v;
}

bool push(SpscRing& r, const std::vector<std::byte>& v) {
  std::byte* p = r.try_push(v.size());
  if (p == nullptr) return false;
  std::memcpy(p, v.data(), v.size());
  return true;
}

int wait_exit(pid_t pid) {
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0) {
  }
  return st;
}

TEST(SpscRing, RecordsKeepOrderAndBytesAcrossWrapAround) {
  auto seg = MemfdSegment::create(SpscRing::footprint(kCap));
  SpscRing tx{seg.data(), kCap, true}, rx{seg.data(), kCap, false};
  std::uint32_t sent = 0, got = 0;
  for (int round = 0; round < 2000; ++round) {
    const std::size_t n = 4 + static_cast<std::size_t>(round * 37 % 700);
    while (push(tx, record(sent, n))) ++sent;  // fill it
    EXPECT_FALSE(tx.publish());                 // nobody parked: no wake-up asked
    for (auto s = rx.front(); !s.empty(); rx.pop(), s = rx.front()) {
      auto want = record(got, s.size());
      ASSERT_EQ(0, std::memcmp(s.data(), want.data(), s.size())) << "record " << got;
      ++got;
    }
    rx.release();
    ASSERT_EQ(sent, got);
    ASSERT_EQ(0u, tx.unreleased());
  }
  EXPECT_FALSE(rx.corrupt());
}

TEST(SpscRing, FullRingRefusesUntilReleased) {
  auto seg = MemfdSegment::create(SpscRing::footprint(kCap));
  SpscRing tx{seg.data(), kCap, true}, rx{seg.data(), kCap, false};
  EXPECT_EQ(nullptr, tx.try_push(tx.max_record() + 1));  // never fits: the caller sends it another way
  int n = 0;
  while (push(tx, record(static_cast<std::uint32_t>(n), 100))) ++n;
  EXPECT_GT(n, 30);
  tx.publish();
  EXPECT_EQ(nullptr, tx.try_push(100));
  ASSERT_FALSE(rx.front().empty());
  rx.pop();
  EXPECT_EQ(nullptr, tx.try_push(100));  // popped but not released: still the consumer's
  rx.release();
  EXPECT_NE(nullptr, tx.try_push(100));
}

TEST(SpscRing, ShrinkLastGivesBackTheUnusedTail) {
  auto seg = MemfdSegment::create(SpscRing::footprint(kCap));
  SpscRing tx{seg.data(), kCap, true}, rx{seg.data(), kCap, false};
  std::byte* p = tx.try_push(500);
  ASSERT_NE(nullptr, p);
  std::memset(p, 7, 3);
  tx.shrink_last(3);
  ASSERT_NE(nullptr, tx.try_push(8));
  tx.publish();
  auto s = rx.front();
  ASSERT_EQ(3u, s.size());
  EXPECT_EQ(std::byte{7}, s[2]);
  rx.pop();
  EXPECT_EQ(8u, rx.front().size());
}

TEST(SpscRing, TwoProcessesStreamWithParkAndWake) {
  constexpr std::size_t kCap2 = 1 << 14;
  auto seg = MemfdSegment::create(2 * SpscRing::footprint(kCap2));
  auto* base = static_cast<std::byte*>(seg.data());
  SpscRing to_child{base, kCap2, true}, from_child{base + SpscRing::footprint(kCap2), kCap2, true};
  constexpr std::uint32_t kN = 200000;
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {  // echo every record back, sleeping on the futex when there is none
    SpscRing in{base, kCap2, false}, out{base + SpscRing::footprint(kCap2), kCap2, false};
    std::uint32_t seen = 0;
    while (seen < kN) {
      in.wait(std::chrono::microseconds(20));
      for (auto s = in.front(); !s.empty(); in.pop(), s = in.front()) {
        std::byte* p;
        while ((p = out.try_push(s.size())) == nullptr) {
          if (out.publish()) out.wake();
        }
        std::memcpy(p, s.data(), s.size());
        ++seen;
      }
      in.release();
      if (out.publish()) out.wake();
    }
    ::_exit(in.corrupt() ? 2 : 0);
  }
  std::uint32_t sent = 0, got = 0;
  while (got < kN) {
    bool any = false;
    while (sent < kN && sent - got < 500 && push(to_child, record(sent, 4 + sent % 64))) {
      ++sent;
      any = true;
    }
    if (any && to_child.publish()) to_child.wake();
    if (!any) from_child.wait(std::chrono::microseconds(20));  // nothing more to send now: a reply is due
    for (auto s = from_child.front(); !s.empty(); from_child.pop(), s = from_child.front()) {
      auto want = record(got, s.size());
      ASSERT_EQ(0, std::memcmp(s.data(), want.data(), s.size()));
      ++got;
    }
    from_child.release();
  }
  EXPECT_EQ(0, wait_exit(pid));
}

TEST(SpscRing, ProducerKilledMidRecordLeavesOnlyPublishedRecords) {
  auto seg = MemfdSegment::create(SpscRing::footprint(kCap));
  SpscRing rx{seg.data(), kCap, true};
  int go[2];
  ASSERT_EQ(0, ::pipe(go));
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    SpscRing tx{seg.data(), kCap, false};
    push(tx, record(0, 40));
    push(tx, record(1, 40));
    tx.publish();
    std::byte* p = tx.try_push(200);  // half-written, never published
    std::memset(p, 0xAB, 100);
    char c = 1;
    (void)::write(go[1], &c, 1);
    ::pause();
    ::_exit(0);
  }
  char c = 0;
  ASSERT_EQ(1, ::read(go[0], &c, 1));
  ::kill(pid, SIGKILL);
  EXPECT_TRUE(WIFSIGNALED(wait_exit(pid)));
  ::close(go[0]);
  ::close(go[1]);
  int n = 0;
  for (auto s = rx.front(); !s.empty(); rx.pop(), s = rx.front()) {
    EXPECT_EQ(40u, s.size());
    ++n;
  }
  EXPECT_EQ(2, n);
  EXPECT_FALSE(rx.corrupt());
}

TEST(SpscRing, GarbageLengthIsCorruptNotARead) {
  auto seg = MemfdSegment::create(SpscRing::footprint(kCap));
  SpscRing tx{seg.data(), kCap, true}, rx{seg.data(), kCap, false};
  std::byte* p = tx.try_push(16);
  ASSERT_NE(nullptr, p);
  const std::uint32_t bad = 1u << 30;
  std::memcpy(p - 8, &bad, 4);  // a broken producer's length word
  tx.publish();
  EXPECT_TRUE(rx.front().empty());
  EXPECT_TRUE(rx.corrupt());
}

}  // namespace
