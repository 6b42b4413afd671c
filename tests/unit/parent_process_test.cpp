// parent_process() with is_alive() and join() (issue 15 item 11), after _test_multiprocessing.py
// _TestParentProcess.test_parent_process: a child starts a grandchild; the grandchild reports
// its parent alive, the test kills the child, and the grandchild, joined on its parent, reports
// it gone. Under every start method.
#include <kin/kin.hpp>

#include <gtest/gtest.h>

#include <unistd.h>

#include <string>

using namespace std::chrono_literals;

namespace {

void report_parent_status(kin::Connection<std::string> w) {
  auto parent = kin::parent_process();
  if (!parent) {
    w.send("no parent");
    return;
  }
  w.send(parent->is_alive() ? "alive" : "not alive");
  bool ended = parent->join(60s);
  w.send(std::string(parent->is_alive() ? "alive" : "not alive") + (ended ? "" : " (join timed out)"));
}

void create_grandchild(kin::Connection<std::string> w) {
  kin::Process p{report_parent_status, std::move(w)};
  p.start();
  ::sleep(300);  // killed by the test long before
}

}  // namespace

class ParentProcess : public ::testing::TestWithParam<kin::StartMethod> {};

TEST_P(ParentProcess, GrandchildSeesItsParentDie) {
  kin::Context ctx{GetParam()};
  auto [r, w] = kin::Pipe<std::string>(kin::simplex);
  auto p = ctx.process(create_grandchild, std::move(w));
  p.start();
  auto first = r.recv(30s);
  ASSERT_TRUE(first.has_value()) << "no word from the grandchild";
  EXPECT_EQ(*first, "alive");
  p.terminate();
  ASSERT_TRUE(p.join(20s));
  auto second = r.recv(30s);
  ASSERT_TRUE(second.has_value()) << "the grandchild's join on its parent did not return";
  EXPECT_EQ(*second, "not alive");
  // The grandchild exits after its report (re-parented: not ours to reap); EOF says it is done.
  EXPECT_TRUE(r.poll(30s));
}

TEST(ParentProcessInfo, MainProcessHasNoneAndCannotJoinItself) {
  EXPECT_FALSE(kin::parent_process().has_value());
  auto me = kin::current_process();
  EXPECT_TRUE(me.is_alive());
  EXPECT_THROW(me.join(1s), kin::ValueError);
}

INSTANTIATE_TEST_SUITE_P(AllStartMethods, ParentProcess,
                         ::testing::Values(kin::StartMethod::fork, kin::StartMethod::spawn, kin::StartMethod::forkserver),
                         [](const auto& param_info) { return std::string(kin::to_string(param_info.param)); });
