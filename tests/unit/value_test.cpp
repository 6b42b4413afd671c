#include <kin/value.hpp>
#include <kin/raw_value.hpp>

#include <kin/codec.hpp>
#include <kin/errors.hpp>
#include <kin/runtime/handover.hpp>
#include <kin/runtime/syscall.hpp>

#include "fork_child.hpp"

#include <array>
#include <mutex>
#include <vector>

using namespace std::chrono_literals;
using kin::test::fork_child;
using kin::test::wait_child;

namespace {
struct Point {
  double x, y;
};

// Encodes `v` as a spawn/forkserver start would, and decodes it on "the other side".
template <class T>
T hand_over(T& v) {
  std::vector<kin::unique_fd> fds;
  kin::Bytes bytes;
  {
    kin::detail::HandoverExport ex{fds};
    bytes = kin::encode(v);
  }
  kin::detail::HandoverImport im{fds};
  return kin::decode<T>(bytes);
}
}  // namespace

TEST(Value, LoadStoreAndDefault) {
  kin::Value<int> v{42};
  EXPECT_EQ(v.load(), 42);
  v.store(7);
  EXPECT_EQ(v.load(), 7);
  kin::Value<double> d;
  EXPECT_EQ(d.load(), 0.0);
  kin::Value<Point> p{{1.5, 2.5}};
  EXPECT_EQ(p.load().y, 2.5);
  {
    auto g = p.locked();
    g->x = 9;
  }
  EXPECT_EQ(p.load().x, 9);
}

TEST(Value, ChildSeesAndModifies) {
  kin::Value<long> v{1};
  pid_t pid = fork_child([v]() mutable {
    if (v.load() != 1) return 1;
    v.store(3);
    return 0;
  });
  EXPECT_EQ(wait_child(pid), 0);
  EXPECT_EQ(v.load(), 3);
}

TEST(Value, LockedIncrementsAreExactAcrossProcesses) {
  kin::Value<long> v{0};
  std::vector<pid_t> pids;
  for (int p = 0; p < 4; ++p) {
    pids.push_back(fork_child([v]() mutable {
      for (int i = 0; i < 100000; ++i) {
        auto g = v.locked();
        *g += 1;
      }
      return 0;
    }));
  }
  for (pid_t pid : pids) EXPECT_EQ(wait_child(pid), 0);
  EXPECT_EQ(v.load(), 400000);
}

TEST(Value, GetLockIsReentrantByDefaultAndSharedByCopies) {
  kin::Value<int> v{0};
  std::lock_guard g{v.get_lock()};
  v.store(5);  // RLock: store re-enters the lock this thread holds
  EXPECT_EQ(v.load(), 5);
  kin::Value<int> copy = v;
  EXPECT_TRUE(copy.get_lock().is_owned());
}

TEST(Value, PlainLockVariant) {
  kin::Value<int, kin::Lock> v{1};
  {
    std::lock_guard g{v.get_lock()};
    v.get_obj() += 1;
    EXPECT_THROW(v.store(3), kin::ValueError);  // a Lock does not re-enter
  }
  EXPECT_EQ(v.load(), 2);
}

TEST(Value, HolderKilledIsReported) {
  kin::Value<int> v{0};
  pid_t pid = fork_child([v]() mutable {
    v.get_lock().acquire();
    ::raise(SIGKILL);
    return 0;
  });
  EXPECT_EQ(wait_child(pid), -SIGKILL);
  auto g = v.locked();
  EXPECT_TRUE(v.get_lock().previous_owner_died());
}

TEST(Value, TravelsThroughHandover) {
  kin::Value<int> v{11};
  auto w = hand_over(v);
  EXPECT_EQ(w.load(), 11);
  w.store(12);
  EXPECT_EQ(v.load(), 12);
  std::lock_guard g{w.get_lock()};
  EXPECT_TRUE(v.get_lock().is_owned());  // same lock through a second mapping
}

TEST(Value, EncodingOutsideAStartIsAnError) {
  kin::Value<int> v{1};
  EXPECT_THROW((void)kin::encode(v), kin::ValueError);
}

TEST(RawValue, LoadStoreShared) {
  kin::RawValue<int> r{5};
  EXPECT_EQ(r.load(), 5);
  kin::RawValue<int> copy = r;
  copy.store(6);
  EXPECT_EQ(r.load(), 6);
  r.get() += 1;
  EXPECT_EQ(copy.load(), 7);
  kin::RawValue<std::array<int, 3>> a{{1, 2, 3}};
  EXPECT_EQ((*a.operator->())[2], 3);
  pid_t pid = fork_child([r]() mutable {
    r.store(100);
    return 0;
  });
  EXPECT_EQ(wait_child(pid), 0);
  EXPECT_EQ(r.load(), 100);
  auto h = hand_over(r);
  EXPECT_EQ(h.load(), 100);
}

TEST(Value, OnlyTriviallyCopyableTypes) {
  // kin::Value<std::string> fails to compile with a static_assert naming the rule.
  static_assert(kin::shared_memory_type<int>);
  static_assert(kin::shared_memory_type<Point>);
  static_assert(!kin::shared_memory_type<std::string>);
  static_assert(!kin::shared_memory_type<std::vector<int>>);
  SUCCEED();
}

TEST(Value, TravelsToAnotherProcessWithScmRights) {
  // What spawn/forkserver do: encode the arguments with their fds in a side list, send both
  // over a socket; the child maps the segments afresh and shares value and lock.
  kin::Value<long> v{0};
  kin::Lock l;
  auto [a, b] = kin::detail::make_socketpair();
  std::vector<kin::unique_fd> fds;
  kin::Bytes bytes;
  {
    kin::detail::HandoverExport ex{fds};
    bytes = kin::encode(std::make_tuple(v, l));
  }
  std::vector<int> raw;
  for (auto& fd : fds) raw.push_back(fd.get());
  std::uint32_t len = static_cast<std::uint32_t>(bytes.size());
  pid_t pid = fork_child([&, sock = b.get()] {
    std::vector<kin::unique_fd> got;
    std::uint32_t n = 0;
    kin::detail::recv_with_fds(sock, {reinterpret_cast<std::byte*>(&n), sizeof n}, got);
    kin::Bytes in(n);
    kin::detail::recv_with_fds(sock, in, got);
    kin::detail::HandoverImport im{got};
    auto [v2, l2] = kin::decode<std::tuple<kin::Value<long>, kin::Lock>>(in);
    for (int i = 0; i < 50000; ++i) {
      std::lock_guard g{l2};
      auto x = v2.locked();
      *x += 1;
    }
    return 0;
  });
  kin::detail::send_with_fds(a.get(), {reinterpret_cast<const std::byte*>(&len), sizeof len}, raw);
  kin::detail::send_with_fds(a.get(), bytes, {});
  for (int i = 0; i < 50000; ++i) {
    std::lock_guard g{l};
    auto x = v.locked();
    *x += 1;
  }
  EXPECT_EQ(wait_child(pid), 0);
  EXPECT_EQ(v.load(), 100000);
}
