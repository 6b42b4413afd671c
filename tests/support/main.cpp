// main() of every kin test executable: installs the leak-check listener, then runs gtest.
#include "leak_check.hpp"

#include <kin/init.hpp>

#include <gtest/gtest.h>

#include <unistd.h>

int main(int argc, char** argv) {
  kin::init(argc, argv);       // first: a re-executed (spawn) child runs its entry here
  kin::testing::shm_prefix();  // exports KIN_SHM_PREFIX before any child starts
  // Its own process group: a test that signals pid 0 by mistake (kill(0, ...) is "my whole
  // group") then fails itself alone, instead of killing ctest and every test beside it.
  ::setpgid(0, 0);
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::UnitTest::GetInstance()->listeners().Append(new kin::testing::LeakCheck);
  return RUN_ALL_TESTS();
}
