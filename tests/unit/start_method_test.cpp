// Start methods by name (issue 15 item 11), after _test_multiprocessing.py
// TestStartMethod.test_set_get and test_get_all.
#include <kin/context.hpp>
#include <kin/process.hpp>
#include <kin/start_method.hpp>

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {
int seven() { return 7; }
}  // namespace

TEST(StartMethodByName, SetGetEveryMethod) {
  const kin::StartMethod old = kin::get_start_method();
  for (const char* name : {"fork", "spawn", "forkserver"}) {
    kin::set_start_method(name);
    EXPECT_STREQ(kin::to_string(kin::get_start_method()), name);
    kin::Process p{seven};  // started the way the name says
    EXPECT_STREQ(kin::to_string(p.start_method()), name);
    p.start();
    ASSERT_TRUE(p.join(20s));
    EXPECT_EQ(p.exitcode(), 7);
  }
  kin::set_start_method(old);
}

TEST(StartMethodByName, UnknownNameIsValueError) {
  const kin::StartMethod old = kin::get_start_method();
  EXPECT_THROW(kin::set_start_method("bogus"), kin::ValueError);
  EXPECT_THROW((void)kin::start_method_named("Fork"), kin::ValueError);
  EXPECT_EQ(kin::get_start_method(), old);  // unchanged
}

TEST(StartMethodByName, GetAllListsLinuxsThree) {
  EXPECT_EQ(kin::get_all_start_methods(), (std::vector<std::string>{"fork", "spawn", "forkserver"}));
  for (const auto& m : kin::get_all_start_methods()) EXPECT_EQ(kin::to_string(kin::start_method_named(m)), m);
}
