// kin::Process's target and arguments: move-only ones are accepted and moved into the child
// (issue 15 item 4), and the parent lets go of them once the child runs (bpo-30775).
#include <kin/process.hpp>
#include <kin/listener.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <memory>

using namespace std::chrono_literals;

// Move-only arguments and targets (issue 15 item 4): a Listener moved into a fork child serves
// there (_test_multiprocessing.py _TestListener / test_listener_client: the child gets the
// listener, the parent connects); a target owning a unique_ptr runs.
namespace {
void serve_one(kin::Listener<int> l) {
  auto c = l.accept();
  c.send(c.recv() + 1);
}
}  // namespace

TEST(ProcessMoveOnly, ListenerMovedIntoAForkChild) {
  kin::Listener<int> l{kin::Address{"127.0.0.1", 0}};
  auto port = l.address().port;
  kin::Process p{kin::ProcessOptions{.start_method = kin::StartMethod::fork}, serve_one, std::move(l)};
  p.start();
  auto c = kin::Client<int>(kin::Address{"127.0.0.1", port});
  c.send(41);
  auto answer = c.recv(20s);
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(*answer, 42);
  ASSERT_TRUE(p.join(20s));
  EXPECT_EQ(p.exitcode(), 0);
}

TEST(ProcessMoveOnly, MoveOnlyClosureUnderFork) {
  auto value = std::make_unique<int>(7);
  kin::Process p{kin::ProcessOptions{.start_method = kin::StartMethod::fork},
                 [v = std::move(value)] { return *v; }};
  p.start();
  ASSERT_TRUE(p.join(20s));
  EXPECT_EQ(p.exitcode(), 7);
}

TEST(ProcessMoveOnly, MoveOnlyArgumentThatCannotTravelIsAStartMethodErrorUnderSpawn) {
  kin::Listener<int> l{kin::Address{"127.0.0.1", 0}};
  kin::Process p{kin::ProcessOptions{.start_method = kin::StartMethod::spawn}, serve_one, std::move(l)};
  EXPECT_THROW(p.start(), kin::StartMethodError);
}
