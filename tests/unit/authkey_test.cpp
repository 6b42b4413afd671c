// Process.authkey and current_process().authkey (issue 15 item 11), after _test_multiprocessing.py
// _TestProcess.test_current (the main process has a non-empty authkey) and test_process (a new
// Process carries the authkey of the process that made it, and the child's current_process()
// reports that same key). Under every start method.
#include <kin/kin.hpp>

#include <gtest/gtest.h>

#include <string>

using namespace std::chrono_literals;

namespace {

// _TestProcess._test: the child puts its current_process().authkey.
void report_authkey(kin::Connection<std::string> w) { w.send(kin::current_process().authkey); }

// One level further: a Process made in the child inherits the child's key (its own default),
// and the grandchild reports what it got.
void report_grandchild_authkey(kin::Connection<std::string> w) {
  kin::Process g{report_authkey, w};
  w.send(g.authkey());  // what the child's Process object says
  g.start();
  g.join();
}

}  // namespace

// test_current: authkey is bytes of non-zero length (here: 32 random bytes as hex), and stays.
TEST(Authkey, MainProcessHasARandomKey) {
  const std::string key = kin::current_process().authkey;
  EXPECT_EQ(key.size(), 64u);
  EXPECT_EQ(key.find_first_not_of("0123456789abcdef"), std::string::npos) << key;
  EXPECT_EQ(kin::current_process().authkey, key);
  EXPECT_FALSE(kin::parent_process().has_value());
}

// test_process: `self.assertEqual(p.authkey, current.authkey)` before start.
TEST(Authkey, ANewProcessCarriesTheCurrentKey) {
  kin::Process p{[] { return 0; }};
  EXPECT_EQ(p.authkey(), kin::current_process().authkey);
  p.set_authkey("other");
  EXPECT_EQ(p.authkey(), "other");
  EXPECT_NE(kin::current_process().authkey, "other");  // the process's own key is unchanged
}

class AuthkeyAcrossStartMethods : public ::testing::TestWithParam<kin::StartMethod> {};

// test_process: `self.assertEqual(q.get(), current.authkey)` — the child's current_process()
// has the key of the Process that started it.
TEST_P(AuthkeyAcrossStartMethods, ChildReportsTheKeyOfItsProcess) {
  kin::Context ctx{GetParam()};
  auto [r, w] = kin::Pipe<std::string>();
  auto p = ctx.process(report_authkey, w);
  p.start();
  auto got = r.recv(20s);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, kin::current_process().authkey);
  ASSERT_TRUE(p.join(20s));
  EXPECT_EQ(p.exitcode(), 0);
}

// Python: `p.authkey = b'...'` before start() gives the child that key, and the child's own
// Process objects inherit it in turn.
TEST_P(AuthkeyAcrossStartMethods, AKeySetBeforeStartReachesTheChildAndItsChildren) {
  kin::Context ctx{GetParam()};
  auto [r, w] = kin::Pipe<std::string>();
  auto p = ctx.process(report_grandchild_authkey, w);
  p.set_authkey("k-" + std::string(kin::to_string(GetParam())));
  p.start();
  for (const char* who : {"the child's Process object", "the grandchild"}) {
    auto got = r.recv(20s);
    ASSERT_TRUE(got.has_value()) << who;
    EXPECT_EQ(*got, p.authkey()) << who;
  }
  ASSERT_TRUE(p.join(20s));
  EXPECT_EQ(p.exitcode(), 0);
}

INSTANTIATE_TEST_SUITE_P(AllStartMethods, AuthkeyAcrossStartMethods,
                         ::testing::Values(kin::StartMethod::fork, kin::StartMethod::spawn, kin::StartMethod::forkserver),
                         [](const auto& param_info) { return std::string(kin::to_string(param_info.param)); });
