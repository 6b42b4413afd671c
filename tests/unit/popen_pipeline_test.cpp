// Popen pipelines, redirections to files and fds, process groups and TimeoutExpired: checked
// the way CPython's test_subprocess checks them (stdin=p1.stdout, start_new_session,
// process_group, TimeoutExpired.output), with real programs.
#include <kin/popen.hpp>

#include <kin/errors.hpp>
#include <kin/run.hpp>

#include "test_util.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

using namespace std::chrono_literals;

using kin::testing::slurp;
using kin::testing::TempDir;

namespace {

bool pid_alive(pid_t pid) { return pid > 0 && ::kill(pid, 0) == 0; }

}  // namespace

TEST(PopenPipeline, TwoStagePipeSeesEof) {
  kin::Popen p1{{"printf", "b\\na\\nb\\n"}, {.stdout_ = kin::pipe}};
  kin::Popen p2{{"sort"}, {.stdin_ = p1.stdout_stream(), .stdout_ = kin::pipe}};
  EXPECT_EQ(p1.stdout_fd(), -1);  // handed over: the parent keeps no copy
  auto [out, err] = p2.communicate({}, 10s);
  EXPECT_EQ(out, "a\nb\nb\n");
  EXPECT_EQ(p1.wait(5s), 0);
  EXPECT_EQ(p2.returncode(), 0);
}

TEST(PopenPipeline, ThreeStages) {
  kin::Popen a{{"printf", "x\\ny\\nx\\n"}, {.stdout_ = kin::pipe}};
  kin::Popen b{{"sort"}, {.stdin_ = a.stdout_stream(), .stdout_ = kin::pipe}};
  kin::Popen c{{"uniq", "-c"}, {.stdin_ = b.stdout_stream(), .stdout_ = kin::pipe}};
  auto r = c.communicate({}, 10s);
  EXPECT_NE(r.out.find("2 x"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 y"), std::string::npos) << r.out;
  EXPECT_EQ(a.wait(5s), 0);
  EXPECT_EQ(b.wait(5s), 0);
}

TEST(PopenPipeline, WriterGetsSigpipeWhenReaderStops) {
  // `yes | head -1`: head exits, and since the parent holds no copy of the pipe, yes dies of
  // SIGPIPE instead of running forever.
  kin::Popen yes{{"yes"}, {.stdout_ = kin::pipe}};
  kin::Popen head{{"head", "-n", "1"}, {.stdin_ = yes.stdout_stream(), .stdout_ = kin::pipe}};
  auto r = head.communicate({}, 10s);
  EXPECT_EQ(r.out, "y\n");
  EXPECT_EQ(yes.wait(10s), -SIGPIPE);
}

TEST(PopenPipeline, StdinStreamFeedsAnotherChild) {
  kin::Popen cat{{"cat"}, {.stdin_ = kin::pipe, .stdout_ = kin::pipe}};
  kin::Popen echo{{"echo", "through"}, {.stdout_ = cat.stdin_stream()}};
  EXPECT_EQ(echo.wait(5s), 0);
  EXPECT_EQ(cat.stdin_fd(), -1);
  auto r = cat.communicate({}, 10s);
  EXPECT_EQ(r.out, "through\n");
}

TEST(PopenPipeline, HandingOverTwiceOrANonPipeIsValueError) {
  kin::Popen p{{"true"}, {.stdout_ = kin::pipe}};
  auto r = p.stdout_stream();
  EXPECT_THROW((void)p.stdout_stream(), kin::ValueError);
  EXPECT_THROW((void)p.stderr_stream(), kin::ValueError);  // inherited, not a pipe
  EXPECT_EQ(p.wait(5s), 0);
}

TEST(PopenPipeline, AnUnusedHandedOverEndIsClosed) {
  // A Redirect that is dropped without starting a child closes its fd (the leak check fails
  // the test otherwise): the writer then finds no reader.
  kin::Popen p{{"sh", "-c", "sleep 0.2; echo x"}, {.stdout_ = kin::pipe}};
  { auto r = p.stdout_stream(); }
  EXPECT_EQ(p.wait(5s), -SIGPIPE);
}

TEST(PopenRedirect, FilesForStdinStdoutAndAppend) {
  TempDir d;
  const std::string in = d / "in.txt", out = d / "out.txt";
  { std::ofstream(in) << "hello\n"; }
  kin::Popen p{{"cat"}, {.stdin_ = kin::File{in}, .stdout_ = kin::File{out}}};
  EXPECT_EQ(p.wait(5s), 0);
  EXPECT_EQ(slurp(out), "hello\n");
  kin::Popen q{{"echo", "more"}, {.stdout_ = kin::File{out, true}}};
  EXPECT_EQ(q.wait(5s), 0);
  EXPECT_EQ(slurp(out), "hello\nmore\n");
  kin::Popen t{{"echo", "new"}, {.stdout_ = kin::File{out}}};  // truncates
  EXPECT_EQ(t.wait(5s), 0);
  EXPECT_EQ(slurp(out), "new\n");
}

TEST(PopenRedirect, MissingInputFileIsOSError) {
  EXPECT_THROW((kin::Popen{{"cat"}, {.stdin_ = kin::File{"/nonexistent/kin/in"}}}), kin::OSError);
}

TEST(PopenRedirect, CallersFdIsDuplicatedAndKept) {
  TempDir d;
  const std::string out = d / "fd.txt";
  int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  kin::Popen p{{"sh", "-c", "echo to-fd; echo err >&2"}, {.stdout_ = kin::Fd{fd}, .stderr_ = kin::Fd{fd}}};
  EXPECT_EQ(p.wait(5s), 0);
  EXPECT_NE(::fcntl(fd, F_GETFD), -1);  // still the caller's
  ::close(fd);
  EXPECT_EQ(slurp(out), "to-fd\nerr\n");
}

TEST(PopenGroups, StartNewSessionMakesTheChildALeader) {
  kin::Popen p{{"sh", "-c", "ps -o sid= -p $$; ps -o pgid= -p $$"}, {.stdout_ = kin::pipe, .start_new_session = true}};
  auto r = p.communicate({}, 10s);
  EXPECT_TRUE(p.leads_group());
  std::istringstream is(r.out);
  pid_t sid = 0, pgid = 0;
  is >> sid >> pgid;
  EXPECT_EQ(sid, p.pid());
  EXPECT_EQ(pgid, p.pid());
}

TEST(PopenGroups, ProcessGroupZeroAndSignalToGroup) {
  kin::Popen p{{"sh", "-c", "sleep 30 & echo $!; wait"}, {.stdout_ = kin::pipe, .process_group = 0}};
  ASSERT_GT(p.pid(), 0);
  EXPECT_TRUE(p.leads_group());
  EXPECT_EQ(::getpgid(p.pid()), p.pid());
  // Read the grandchild's pid, then signal the whole group: both end.
  char buf[32] = {};
  ssize_t n = 0;
  for (int i = 0; i < 500 && n <= 0; ++i) {
    n = ::read(p.stdout_fd(), buf, sizeof buf - 1);
    if (n <= 0) std::this_thread::sleep_for(10ms);
  }
  ASSERT_GT(n, 0);
  pid_t grandchild = std::atoi(buf);
  ASSERT_GT(grandchild, 0);
  EXPECT_EQ(::getpgid(grandchild), p.pid());
  p.send_signal_to_group(SIGTERM);
  EXPECT_EQ(p.wait(10s), -SIGTERM);
  for (int i = 0; i < 500 && pid_alive(grandchild); ++i) std::this_thread::sleep_for(10ms);
  EXPECT_FALSE(pid_alive(grandchild));
}

TEST(PopenGroups, JoiningAGroupAndBadValues) {
  kin::Popen leader{{"sleep", "30"}, {.process_group = 0}};
  ASSERT_GT(leader.pid(), 0);
  kin::Popen member{{"sleep", "30"}, {.process_group = leader.pid()}};
  EXPECT_EQ(::getpgid(member.pid()), leader.pid());
  EXPECT_FALSE(member.leads_group());
  EXPECT_THROW(member.send_signal_to_group(SIGTERM), kin::ValueError);
  leader.send_signal_to_group(SIGKILL);  // the group holds both
  EXPECT_EQ(leader.wait(10s), -SIGKILL);
  EXPECT_EQ(member.wait(10s), -SIGKILL);
  EXPECT_THROW((kin::Popen{{"true"}, {.process_group = -1}}), kin::ValueError);
}

TEST(PopenTimeoutExpired, CarriesCmdTimeoutAndPartialOutput) {
  kin::Popen p{{"sh", "-c", "echo partial; echo e >&2; exec sleep 30"}, {.stdout_ = kin::pipe, .stderr_ = kin::pipe}};
  try {
    (void)p.communicate({}, 300ms);
    FAIL() << "no timeout";
  } catch (const kin::TimeoutExpired& e) {
    EXPECT_EQ(e.cmd().front(), "sh");
    EXPECT_EQ(e.timeout(), 300ms);
    EXPECT_EQ(e.output(), "partial\n");
    EXPECT_EQ(e.stderr_output(), "e\n");
    EXPECT_NE(std::string(e.what()).find("timed out after 0.3 seconds"), std::string::npos) << e.what();
  }
  p.kill();
  (void)p.communicate({}, 10s);  // resumes, as Python
  EXPECT_EQ(p.returncode(), -SIGKILL);
}

TEST(PopenTimeoutExpired, IsATimeoutError) {
  kin::Popen p{{"sleep", "30"}};
  EXPECT_THROW(p.wait(50ms), kin::TimeoutError);
  EXPECT_THROW(p.wait(50ms), kin::TimeoutExpired);
  p.kill();
  (void)p.wait(10s);
}

TEST(RunTimeout, KillsTheWholeGroupAndReturnsPromptly) {
  // `sh -c 'sleep 30; echo x'`: Python kills only sh, and run() then waits for the orphan
  // sleep that holds the pipe. kin kills the group.
  auto t0 = std::chrono::steady_clock::now();
  try {
    (void)kin::run({"sh", "-c", "echo before; sleep 30; echo x"}, {.capture_output = true, .timeout = 300ms});
    FAIL() << "no timeout";
  } catch (const kin::TimeoutExpired& e) {
    EXPECT_EQ(e.output(), "before\n");
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 20s);  // a liveness bound, not a speed claim
}

TEST(RunTimeout, PythonBehaviourOnRequest) {
  // timeout_kills_group = false: only the child is killed; with no captured pipes run()
  // returns without waiting for the grandchild, which is ours to clean up.
  TempDir d;
  const std::string pidfile = d / "pid";
  EXPECT_THROW((void)kin::run({"sh", "-c", "sleep 30 & echo $! > " + pidfile + "; wait"},
                              {.timeout = 300ms, .timeout_kills_group = false}),
               kin::TimeoutExpired);
  pid_t grandchild = std::atoi(slurp(pidfile).c_str());
  ASSERT_GT(grandchild, 0);
  EXPECT_TRUE(pid_alive(grandchild));
  ::kill(grandchild, SIGKILL);
}

TEST(RunRedirect, FileInputAndOutput) {
  TempDir d;
  { std::ofstream(d / "in") << "3\n1\n2\n"; }
  auto r = kin::run({"sort"}, {.stdin_ = kin::File{d / "in"}, .stdout_ = kin::File{d / "out"}});
  EXPECT_EQ(r.returncode, 0);
  EXPECT_EQ(slurp(d / "out"), "1\n2\n3\n");
}
