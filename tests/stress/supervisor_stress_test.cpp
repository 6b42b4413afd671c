// A bounded soak: 10^4 restarts of a program child that exits at once, with the fd count and
// the RSS of the supervising process checked flat (no per-restart leak of pidfds, pipes,
// watches, timers or child state).
#include <kin/supervisor.hpp>

#include "sanitizer_limits.hpp"

#include <caf/all.hpp>

#include <gtest/gtest.h>

#include <dirent.h>

#include <chrono>
#include <fstream>
#include <string>

using namespace std::chrono_literals;

namespace {

int fd_count() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  while (dirent* e = ::readdir(d)) n += e->d_name[0] != '.';
  ::closedir(d);
  return n - 1;
}

long rss_kb() {
  std::ifstream f("/proc/self/status");
  std::string k;
  long v = 0;
  while (f >> k) {
    if (k == "VmRSS:") {
      f >> v;
      return v;
    }
    f.ignore(4096, '\n');
  }
  return 0;
}

TEST(SupervisorStress, TenThousandRestartsKeepFdsAndMemoryFlat) {
  kin::ActorSystem sys;
  // ASan and TSan run the same loop several times slower: fewer rounds keep it in its bound.
  constexpr bool sanitized = kin::testing::asan || kin::testing::tsan;
  constexpr int kRestarts = kin::testing::tsan ? 2000 : kin::testing::asan ? 3000 : 10000;
  kin::Supervisor sup{sys, kin::SupervisorOptions{.intensity = kRestarts * 2, .period = 1h,
                                                  .log = [](const std::string&) {}}};
  caf::scoped_actor self{sys};
  sup.subscribe(self);
  sup.start_child({.id = "blink", .start = kin::program({"/bin/true"})});
  int restarts = 0, fds_at_1k = 0;
  long rss_at_1k = 0;
  const auto end = std::chrono::steady_clock::now() + 110s;
  while (restarts < kRestarts && std::chrono::steady_clock::now() < end) {
    self->receive(
        [&](const kin::SupervisorEvent& e) {
          if (e.kind != kin::EventKind::restarting) return;
          if (++restarts == 1000) {
            fds_at_1k = fd_count();
            rss_at_1k = rss_kb();
          }
        },
        caf::after(5s) >> [] {});
  }
  sup.unsubscribe(self);
  ASSERT_EQ(restarts, kRestarts) << "the soak did not finish in time";
  EXPECT_LE(fd_count(), fds_at_1k + 4);
  if (!sanitized) {  // ASan's quarantine and TSan's shadow and history keep memory resident
    EXPECT_LE(rss_kb(), rss_at_1k + 8 * 1024) << "RSS grew by more than 8 MiB over the restarts after the first 1000";
  }
  auto c = sup.which_children();
  ASSERT_EQ(c.size(), 1u);
  EXPECT_GE(c[0].restarts, kRestarts);
}

}  // namespace
