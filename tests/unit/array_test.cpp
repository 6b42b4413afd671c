#include <kin/array.hpp>
#include <kin/raw_array.hpp>

#include <kin/codec.hpp>
#include <kin/errors.hpp>
#include <kin/runtime/handover.hpp>

#include "fork_child.hpp"

#include <list>
#include <mutex>
#include <numeric>
#include <vector>

using kin::test::fork_child;
using kin::test::wait_child;

namespace {
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

TEST(Array, SizedIsZeroFilled) {
  kin::Array<int> a{5};
  EXPECT_EQ(a.size(), 5u);
  EXPECT_EQ(a.to_vector(), std::vector<int>(5, 0));
  kin::Array<double> empty;
  EXPECT_EQ(empty.size(), 0u);
  EXPECT_TRUE(empty.to_vector().empty());
}

TEST(Array, FromRangeAndList) {
  kin::Array<int> a{std::vector<int>{1, 2, 3}};
  EXPECT_EQ(a.to_vector(), (std::vector<int>{1, 2, 3}));
  kin::Array<double> b{std::list<int>{4, 5}};
  EXPECT_EQ(b[1], 5.0);
  auto c = kin::Array<int>::of({7, 8, 9, 10});
  EXPECT_EQ(std::accumulate(c.begin(), c.end(), 0), 34);
  int sum = 0;
  for (int x : c) sum += x;
  EXPECT_EQ(sum, 34);
}

TEST(Array, IndexErrors) {
  kin::Array<int> a{3};
  EXPECT_THROW(a.at(3), kin::IndexError);
  EXPECT_THROW((void)a.load(100), kin::IndexError);
  EXPECT_THROW(a.store(3, 1), kin::IndexError);
  a.store(2, 4);
  EXPECT_EQ(a.at(2), 4);
  EXPECT_EQ(a.load(2), 4);
}

TEST(Array, ChildModifiesParentSees) {
  kin::Array<int> a{std::vector<int>{1, 2, 3, 4}};
  pid_t pid = fork_child([a]() mutable {
    std::lock_guard g{a.get_lock()};
    for (auto& x : a) x = -x;
    return 0;
  });
  EXPECT_EQ(wait_child(pid), 0);
  EXPECT_EQ(a.to_vector(), (std::vector<int>{-1, -2, -3, -4}));
}

TEST(Array, LockedUpdatesExact) {
  kin::Array<long> a{3};
  std::vector<pid_t> pids;
  for (int p = 0; p < 3; ++p) {
    pids.push_back(fork_child([a]() mutable {
      for (int i = 0; i < 20000; ++i) {
        std::lock_guard g{a.get_lock()};
        for (auto& x : a) x += 1;
      }
      return 0;
    }));
  }
  for (pid_t pid : pids) EXPECT_EQ(wait_child(pid), 0);
  EXPECT_EQ(a.to_vector(), std::vector<long>(3, 60000));
}

TEST(Array, TravelsThroughHandover) {
  kin::Array<int, kin::Lock> a{std::vector<int>{5, 6}};
  auto b = hand_over(a);
  EXPECT_EQ(b.size(), 2u);
  b[0] = 50;
  EXPECT_EQ(a[0], 50);
  std::lock_guard g{b.get_lock()};
  EXPECT_TRUE(a.get_lock().locked());
}

TEST(RawArray, Basics) {
  kin::RawArray<char> r{4};
  EXPECT_EQ(r.size(), 4u);
  EXPECT_THROW(r.at(4), kin::IndexError);
  r[0] = 'k';
  auto s = kin::RawArray<int>::of({1, 2});
  EXPECT_EQ(s.to_vector(), (std::vector<int>{1, 2}));
  pid_t pid = fork_child([r]() mutable {
    r[1] = 'i';
    return 0;
  });
  EXPECT_EQ(wait_child(pid), 0);
  EXPECT_EQ(r[1], 'i');
  auto h = hand_over(r);
  EXPECT_EQ(h.size(), 4u);
  EXPECT_EQ(h[0], 'k');
}
