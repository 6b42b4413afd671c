// kin::ProgramOptions' output files: size-based rotation (kin::LogRotation) read through a pipe
// by the supervising process, stderr_to_stdout in that mode, output appended across restarts,
// a grandchild holding the pipe not delaying the supervisor's shutdown, and output that cannot
// be written (ENOSPC) reported as output_lost events, never dropped silently.
#include <kin/supervisor.hpp>  // first: the header is self-contained

#include <caf/all.hpp>

#include <gtest/gtest.h>

#include "sanitizer_limits.hpp"
#include "supervisor_test_util.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using namespace kin_sup_test;

namespace {

using SupervisorLogsTest = SupervisorFixture;

std::uintmax_t size_of(const std::string& f) { return fs::exists(f) ? fs::file_size(f) : 0; }

TEST_F(SupervisorLogsTest, RotationKeepsBackupsBelowMaxBytes) {
  TempDir d;
  const std::string f = d / "out.log";
  {
    kin::Supervisor sup{sys, opts()};
    // 100 numbered lines of 10 bytes each ("line 0001\n"): 1000 bytes into files of 300.
    sup.start_child({.id = "w",
                     .start = kin::program({"sh", "-c", "i=1; while [ $i -le 100 ]; do printf 'line %04d\\n' $i; i=$((i+1)); done; exec sleep 100"},
                                           {.stdout_file = f, .rotation = kin::LogRotation{.max_bytes = 300, .backups = 2}}),
                     .shutdown = 2s});
    EXPECT_TRUE(eventually([&] { return slurp(f).find("line 0100\n") != std::string::npos; }, 10s)) << slurp(f);
  }
  EXPECT_TRUE(fs::exists(f + ".1"));
  EXPECT_TRUE(fs::exists(f + ".2"));
  EXPECT_FALSE(fs::exists(f + ".3"));
  for (auto x : {f, f + ".1", f + ".2"}) EXPECT_LE(size_of(x), 300u) << x;
  // The kept window is contiguous and ends with the last line.
  std::string all = slurp(f + ".2") + slurp(f + ".1") + slurp(f);
  ASSERT_FALSE(all.empty());
  ASSERT_EQ(all.size() % 10, 0u);
  int first = std::stoi(all.substr(5, 4));
  for (std::size_t i = 0; i < all.size() / 10; ++i) {
    char want[16];
    std::snprintf(want, sizeof want, "line %04d\n", first + static_cast<int>(i));
    ASSERT_EQ(all.substr(i * 10, 10), want) << i;
  }
  EXPECT_EQ(all.substr(all.size() - 10), "line 0100\n");
  EXPECT_GT(first, 1);  // the oldest was dropped
}

TEST_F(SupervisorLogsTest, StderrToStdoutWithRotation) {
  TempDir d;
  const std::string f = d / "out.log";
  kin::Supervisor sup{sys, opts()};
  sup.start_child({.id = "w",
                   .start = kin::program({"sh", "-c", "echo out; echo err >&2; exec sleep 100"},
                                         {.stdout_file = f, .stderr_to_stdout = true, .rotation = kin::LogRotation{}}),
                   .shutdown = 2s});
  EXPECT_TRUE(eventually([&] { return slurp(f) == "out\nerr\n"; }, 5s)) << slurp(f);
}

TEST_F(SupervisorLogsTest, OutputIsAppendedAcrossRestarts) {
  TempDir d;
  const std::string f = d / "out.log";
  kin::Supervisor sup{sys, opts()};
  sup.start_child({.id = "w",
                   .start = kin::program({"sh", "-c", "echo run; sleep 0.1; exit 1"},
                                         {.stdout_file = f, .rotation = kin::LogRotation{}}),
                   .shutdown = 2s});
  EXPECT_TRUE(eventually([&] { return slurp(f).size() >= 3 * 4; }, 10s)) << slurp(f);
  sup.terminate_child("w");
  EXPECT_EQ(slurp(f).find_first_not_of("run\n"), std::string::npos) << slurp(f);
}

TEST_F(SupervisorLogsTest, AGrandchildHoldingThePipeDoesNotBlockShutdown) {
  TempDir d;
  const std::string f = d / "out.log";
  const auto t0 = std::chrono::steady_clock::now();
  pid_t gc = 0;
  {
    kin::Supervisor sup{sys, opts()};
    // The grandchild leaves the group (setsid), so the stop does not reach it; it keeps stdout.
    sup.start_child({.id = "w",
                     .start = kin::program({"sh", "-c", "setsid sh -c 'echo $$ > " + d / "gc" + "; echo gc; sleep 2' & exec sleep 100"},
                                           {.stdout_file = f, .rotation = kin::LogRotation{}}),
                     .shutdown = 2s});
    gc = pid_in(d / "gc", 5s);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1900ms);  // a liveness bound: not waiting for the grandchild
  ASSERT_GT(gc, 0);
  // The pump drains until the grandchild's end (its own, within 2 s).
  EXPECT_TRUE(eventually([&] { return !exists(gc); }, 5s));
  EXPECT_TRUE(eventually([&] { return slurp(f) == "gc\n"; }, 5s)) << slurp(f);
  std::this_thread::sleep_for(200ms);  // the pump sees EOF and closes its fds
}

// The log path is a symlink to /dev/full (every write: ENOSPC; the symlink, never the device,
// is what a rotation would rename). Dropping starts with an output_lost event naming the error;
// once the symlink is gone, the pump's next write creates a regular file, and a second
// output_lost says how much was lost. The program runs on throughout.
TEST_F(SupervisorLogsTest, OutputThatCannotBeWrittenIsReportedNotDroppedSilently) {
  TempDir d;
  const std::string f = d / "out.log";
  ASSERT_EQ(::symlink("/dev/full", f.c_str()), 0);
  kin::Supervisor sup{sys, opts()};
  caf::scoped_actor self{sys};
  sup.subscribe(self);
  sup.start_child({.id = "w",
                   .start = kin::program({"sh", "-c", "while :; do echo tick; sleep 0.02; done"},
                                         {.stdout_file = f, .rotation = kin::LogRotation{.max_bytes = 1 << 20, .backups = 1}}),
                   .shutdown = 2s});
  auto ev = receive_events(self, [](auto& v) { return count_kind(v, kin::EventKind::output_lost, "w") >= 1; }, 10s);
  ASSERT_EQ(count_kind(ev, kin::EventKind::output_lost, "w"), 1);
  std::string first;
  for (auto& e : ev)
    if (e.kind == kin::EventKind::output_lost) first = e.reason;
  EXPECT_NE(first.find("No space left on device"), std::string::npos) << first;
  EXPECT_NE(first.find(f), std::string::npos) << first;
  EXPECT_GE(log.count("event=output_lost child=w"), 1);

  ASSERT_EQ(::unlink(f.c_str()), 0);
  ev = receive_events(self, [](auto& v) { return count_kind(v, kin::EventKind::output_lost, "w") >= 1; }, 10s);
  ASSERT_EQ(count_kind(ev, kin::EventKind::output_lost, "w"), 1);
  std::string again;
  for (auto& e : ev)
    if (e.kind == kin::EventKind::output_lost) again = e.reason;
  EXPECT_NE(again.find("written again after"), std::string::npos) << again;
  EXPECT_TRUE(eventually([&] { return slurp(f).find("tick\n") != std::string::npos; }, 5s));
  struct stat st{};
  ASSERT_EQ(::lstat(f.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  for (auto& c : sup.which_children()) EXPECT_EQ(c.state, kin::ChildState::running);  // never stopped
  sup.unsubscribe(self);
}

}  // namespace
