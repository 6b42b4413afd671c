// The checked fixture every kin test runs under (installed by tests/support/main.cpp):
// after each test, any child process (zombie or alive), any fd that was not open before the
// test, and any /dev/shm entry named with this run's prefix fails the test. Leftovers are then
// cleaned (children killed and reaped, fds closed, segments unlinked) so one leak does not
// cascade into the next test. The runtime's own long-lived fds and processes
// (kin/runtime/runtime_resources.hpp) are exempt.
#pragma once

#include <gtest/gtest.h>

#include <string>

namespace kin::testing {

/// The /dev/shm name prefix of this test run ("kin_t<pid>_"); also exported to children as
/// KIN_SHM_PREFIX, which kin uses for the segment names it generates.
const std::string& shm_prefix();
/// A segment name under this run's prefix, e.g. shm_name("counter") -> "kin_t123_counter".
std::string shm_name(const std::string& suffix);

class LeakCheck : public ::testing::EmptyTestEventListener {
 public:
  void OnTestStart(const ::testing::TestInfo& info) override;
  void OnTestEnd(const ::testing::TestInfo& info) override;
};

}  // namespace kin::testing
