// kin::Supervisor's readiness (kin::Readiness): an sd_notify datagram READY=1 from an external
// program, the s6-style fd on a chosen number, kin::notify_ready() in kin code, the start
// timeout (a clear error and event, the other children untouched), and the start order — the
// next child starts only after the previous one is ready, at the first start and on a restart.
#include <kin/supervisor.hpp>  // first: the header is self-contained

#include <kin/errors.hpp>
#include <kin/notify_ready.hpp>
#include <kin/start_method.hpp>

#include <caf/all.hpp>

#include <gtest/gtest.h>

#include "sanitizer_limits.hpp"
#include "supervisor_test_util.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using namespace kin_sup_test;

namespace {

const bool default_method_chosen = (kin::set_start_method(kin::testing::threaded_fork_method()), true);

using SupervisorReadinessTest = SupervisorFixture;

bool have_python3() { return !kin::detail::find_program("python3").empty(); }

// A python3 program speaking sd_notify: each argument after the marker is a datagram, sent
// 0.3 s apart; it touches `marker` just before the last one, then execs sleep.
kin::ChildStart notifier(const std::string& marker, const std::vector<std::string>& datagrams) {
  std::string py =
      "import os, socket, sys, time\n"
      "a = os.environ['NOTIFY_SOCKET']\n"
      "a = '\\0' + a[1:] if a.startswith('@') else a\n"
      "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
      "msgs = sys.argv[2:]\n"
      "for i, m in enumerate(msgs):\n"
      "    time.sleep(0.3)\n"
      "    if i == len(msgs) - 1: open(sys.argv[1], 'w').write(a[1:] if a[0] == '\\0' else a)\n"
      "    s.sendto(m.encode().replace(b'\\\\n', b'\\n'), a)\n"
      "os.execvp('sleep', ['sleep', '100'])\n";
  std::vector<std::string> argv{"python3", "-c", py, marker};
  argv.insert(argv.end(), datagrams.begin(), datagrams.end());
  return kin::program(argv);
}

TEST_F(SupervisorReadinessTest, AnExternalProgramReportsReadyOnNotifySocket) {
  ASSERT_TRUE(default_method_chosen);
  if (!have_python3()) GTEST_SKIP() << "python3 is not installed";
  TempDir d;
  kin::Supervisor sup{sys, opts()};
  caf::scoped_actor self{sys};
  sup.subscribe(self);
  // A status datagram first (not ready yet), then status and READY=1 in one, as sd_notify does.
  sup.start_child({.id = "py",
                   .start = notifier(d / "m", {"STATUS=loading", "STATUS=up\\nREADY=1"}),
                   .shutdown = 2s,
                   .readiness = {.by = kin::ReadyBy::notify, .timeout = 10s}});
  EXPECT_TRUE(fs::exists(d / "m"));  // start_child returned only after READY=1
  EXPECT_EQ(slurp(d / "m").rfind("kin-notify-", 0), 0u) << slurp(d / "m");  // an abstract name kin made
  EXPECT_EQ(info(sup, "py").state, kin::ChildState::running);
  auto ev = receive_events(self, [](auto& v) { return count_kind(v, kin::EventKind::ready, "py") > 0; }, 5s);
  ASSERT_EQ(count_kind(ev, kin::EventKind::ready, "py"), 1);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].kind, kin::EventKind::started);
  EXPECT_EQ(ev[1].pid, info(sup, "py").pid);
  EXPECT_EQ(log.count("event=ready child=py"), 1);
}

TEST_F(SupervisorReadinessTest, TheNextChildStartsOnlyAfterNotifyReady) {
  if (!have_python3()) GTEST_SKIP() << "python3 is not installed";
  TempDir d;
  kin::Supervisor sup{
      sys,
      opts(),
      {{.id = "first",
        .start = notifier(d / "first", {"READY=1"}),
        .shutdown = 2s,
        .readiness = {.by = kin::ReadyBy::notify, .timeout = 10s}},
       {.id = "second",
        .start = kin::program({"sh", "-c", "test -e " + d / "first" + " && touch " + d / "ok" + "; exec sleep 100"}),
        .shutdown = 2s}}};
  EXPECT_TRUE(eventually([&] { return fs::exists(d / "ok"); }, 5s));
  EXPECT_EQ(sup.count_children().active, 2);
}

TEST_F(SupervisorReadinessTest, FdReadinessOnAChosenFdNumber) {
  TempDir d;
  kin::Supervisor sup{sys, opts()};
  // fd 3 is not the readiness fd here: a write there must not count.
  sup.start_child({.id = "s6",
                   .start = kin::program({"sh", "-c", "{ echo no >&3; } 2>/dev/null; sleep 0.3; touch " + d / "m" + "; echo >&5; exec sleep 100"}),
                   .shutdown = 2s,
                   .readiness = {.by = kin::ReadyBy::fd, .fd = 5, .timeout = 10s}});
  EXPECT_TRUE(fs::exists(d / "m"));
  EXPECT_EQ(info(sup, "s6").state, kin::ChildState::running);
  EXPECT_EQ(log.count("event=ready child=s6"), 1);
}

TEST_F(SupervisorReadinessTest, AReadinessFdClosedWithoutAWordIsNotReady) {
  kin::Supervisor sup{sys, opts()};
  const auto t0 = std::chrono::steady_clock::now();
  try {
    sup.start_child({.id = "mute",
                     .start = kin::program({"sh", "-c", "exec 3>&-; exec sleep 100"}),
                     .readiness = {.by = kin::ReadyBy::fd, .timeout = 400ms}});
    ADD_FAILURE() << "no error";
  } catch (const kin::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("not ready within 400 ms"), std::string::npos) << e.what();
  }
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 390ms);
  EXPECT_FALSE(has_child(sup, "mute"));
}

TEST_F(SupervisorReadinessTest, AStartTimeoutIsAClearErrorAndEventAndKeepsTheOthers) {
  kin::Supervisor sup{sys, opts(), {sleeper("a")}};
  const pid_t a = info(sup, "a").pid;
  caf::scoped_actor self{sys};
  sup.subscribe(self);
  const auto t0 = std::chrono::steady_clock::now();
  try {
    sup.start_child({.id = "silent",
                     .start = kin::program({"sleep", "100"}),
                     .readiness = {.by = kin::ReadyBy::notify, .timeout = 300ms}});
    ADD_FAILURE() << "no error";
  } catch (const kin::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("\"silent\""), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("not ready within 300 ms"), std::string::npos) << e.what();
  }
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, 290ms);
  EXPECT_LT(took, 10s);
  auto ev = receive_events(self, [](auto& v) { return count_kind(v, kin::EventKind::start_failed, "silent") > 0; }, 5s);
  sup.unsubscribe(self);
  pid_t silent = 0;
  for (auto& e : ev) {
    if (e.kind == kin::EventKind::started && e.child == "silent") silent = e.pid;
    if (e.kind == kin::EventKind::start_failed && e.child == "silent") {
      EXPECT_NE(e.reason.find("not ready within 300 ms"), std::string::npos) << e.reason;
    }
  }
  EXPECT_EQ(count_kind(ev, kin::EventKind::start_failed, "silent"), 1);
  EXPECT_EQ(count_kind(ev, kin::EventKind::ready, "silent"), 0);
  ASSERT_GT(silent, 0);
  EXPECT_TRUE(eventually([&] { return not_running(silent); }, 5s));  // killed
  EXPECT_FALSE(has_child(sup, "silent"));
  EXPECT_EQ(info(sup, "a").pid, a);
  EXPECT_EQ(info(sup, "a").state, kin::ChildState::running);
  EXPECT_EQ(sup.count_children().specs, 1);
  EXPECT_EQ(log.count("event=gave_up"), 0);
  EXPECT_EQ(sup.start_child(sleeper("b")), "b");  // and it takes new children
}

TEST_F(SupervisorReadinessTest, AChildThatEndsBeforeItIsReadyFailsItsStart) {
  kin::Supervisor sup{sys, opts(), {sleeper("a")}};
  try {
    sup.start_child({.id = "quits",
                     .start = kin::program({"sh", "-c", "exit 3"}),
                     .readiness = {.by = kin::ReadyBy::notify, .timeout = 10s}});
    ADD_FAILURE() << "no error";
  } catch (const kin::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("ended before it was ready: exit 3"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(has_child(sup, "quits"));
  EXPECT_EQ(sup.count_children().active, 1);
}

// On a rest_for_one restart too, "second" starts only after the new "first" is ready: each
// start of second records how many times first had become ready by then.
TEST_F(SupervisorReadinessTest, OnARestartTheNextChildWaitsForReadinessAgain) {
  TempDir d;
  const std::string ready_log = d / "first_ready", seen = d / "second_saw";
  kin::Supervisor sup{
      sys,
      opts(kin::rest_for_one),
      {{.id = "first",
        .start = kin::program({"sh", "-c", "sleep 0.3; echo x >> " + ready_log + "; echo >&3; exec sleep 100"}),
        .shutdown = 2s,
        .readiness = {.by = kin::ReadyBy::fd, .timeout = 10s}},
       {.id = "second", .start = kin::program({"sh", "-c", "wc -l < " + ready_log + " >> " + seen + "; exec sleep 100"}),
        .shutdown = 2s}}};
  ASSERT_TRUE(eventually([&] { return lines_in(seen) == 1; }));
  const pid_t first = info(sup, "first").pid;
  ASSERT_GT(first, 0);
  ::kill(first, SIGKILL);
  ASSERT_TRUE(eventually([&] { return lines_in(seen) == 2; }));
  std::string saw = slurp(seen);
  saw.erase(std::remove(saw.begin(), saw.end(), ' '), saw.end());
  EXPECT_EQ(saw, "1\n2\n");  // never "1\n1\n": second did not start before first was ready again
  EXPECT_EQ(log.count("event=ready child=first"), 2);
}

int notify_then_idle(std::string marker) {
  ::usleep(300000);
  std::ofstream(marker) << "x";
  if (!kin::notify_ready()) return 9;  // $NOTIFY_SOCKET must be set
  for (;;) ::pause();
}

TEST_F(SupervisorReadinessTest, NotifyReadyInKinCodeOrdersTheNextChild) {
  // kin::process with notify readiness forks (a closure sets $NOTIFY_SOCKET).
  if (kin::testing::asan) GTEST_SKIP() << kin::testing::asan_fork_reason;
  TempDir d;
  kin::Supervisor sup{sys, opts()};
  sup.start_child({.id = "kin",
                   .start = kin::process(notify_then_idle, d / "m"),
                   .shutdown = 2s,
                   .readiness = {.by = kin::ReadyBy::notify, .timeout = 10s}});
  sup.start_child({.id = "next",
                   .start = kin::program({"sh", "-c", "test -e " + d / "m" + " && touch " + d / "ok" + "; exec sleep 100"}),
                   .shutdown = 2s});
  EXPECT_TRUE(eventually([&] { return fs::exists(d / "ok"); }, 5s));
  EXPECT_EQ(info(sup, "kin").state, kin::ChildState::running);
  EXPECT_EQ(log.count("event=ready child=kin"), 1);
}

}  // namespace
