// ProcessTable: the table of processes inside a shared object (Barrier's waiting parties) and
// the slices its sleepers wake at to look for the dead. A process SIGKILLed while inside is
// told once; one whose pid now names another process (start time differs) counts as dead.
#include <kin/runtime/process_table.hpp>

#include "fork_child.hpp"

using namespace std::chrono_literals;
using kin::detail::ProcessTable;

TEST(ProcessTable, AKilledProcessInsideIsReportedOnce) {
  ProcessTable<4> t{};
  pid_t pid = kin::test::fork_holder([] {});
  ASSERT_GT(pid, 0);
  t.enter(pid);
  EXPECT_FALSE(t.forget_dead());
  kin::test::kill_child(pid);
  EXPECT_TRUE(t.forget_dead());
  EXPECT_FALSE(t.forget_dead());
}

TEST(ProcessTable, AProcessIsWatchedUntilItsLastThreadLeaves) {
  ProcessTable<4> t{};
  pid_t pid = kin::test::fork_holder([] {});
  ASSERT_GT(pid, 0);
  t.enter(pid);
  t.enter(pid);
  t.leave(pid);
  kin::test::kill_child(pid);
  EXPECT_TRUE(t.forget_dead());  // one thread was still inside

  pid = kin::test::fork_holder([] {});
  ASSERT_GT(pid, 0);
  t.enter(pid);
  t.leave(pid);
  kin::test::kill_child(pid);
  EXPECT_FALSE(t.forget_dead());  // it had left: not a death inside
}

TEST(ProcessTable, APidReusedByAnotherProcessCountsAsDead) {
  ProcessTable<4> t{};
  t.enter(static_cast<std::int32_t>(::getpid()));
  EXPECT_FALSE(t.forget_dead());
  t.entries[0].start_time += 1;  // as if this pid now named a process started at another time
  EXPECT_TRUE(t.forget_dead());
}

TEST(ProcessTable, ProcessesBeyondItsSizeAreNotWatched) {
  ProcessTable<1> t{};
  t.enter(static_cast<std::int32_t>(::getpid()));
  pid_t pid = kin::test::fork_holder([] {});
  ASSERT_GT(pid, 0);
  t.enter(pid);  // no room
  kin::test::kill_child(pid);
  EXPECT_FALSE(t.forget_dead());
  t.clear();
  t.enter(static_cast<std::int32_t>(::getpid()));
  EXPECT_FALSE(t.forget_dead());
}

TEST(ProcessTable, ASliceEndsAtTheDeadlineOrOneSliceFromNow) {
  const auto soon = kin::detail::Deadline::after(1ms);
  EXPECT_EQ(kin::detail::death_check_slice(soon).when(), soon.when());
  const auto before = std::chrono::steady_clock::now();
  const auto slice = kin::detail::death_check_slice(kin::detail::Deadline::never());
  ASSERT_FALSE(slice.infinite());
  EXPECT_GE(slice.when(), before + kin::detail::kDeathCheckSlice);
  EXPECT_LE(slice.when(), std::chrono::steady_clock::now() + kin::detail::kDeathCheckSlice);
}
