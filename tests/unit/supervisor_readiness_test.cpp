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

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
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
  if (kin::testing::fork_beside_threads_unsafe) GTEST_SKIP() << kin::testing::fork_reason;
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

// A TCP socket bound to 127.0.0.1 on a port the kernel chose, not yet listening: connect()
// is refused until listen().
struct BoundSocket {
  int fd = -1;
  int port = 0;
  BoundSocket() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return;
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~BoundSocket() {
    if (fd >= 0) ::close(fd);
  }
  BoundSocket(const BoundSocket&) = delete;
  BoundSocket& operator=(const BoundSocket&) = delete;
};

kin::ChildStart sleep100() { return kin::program({"sleep", "100"}); }

TEST_F(SupervisorReadinessTest, TcpReadinessWaitsUntilThePortListens) {
  BoundSocket srv;
  ASSERT_GT(srv.port, 0);
  std::atomic<bool> listening{false};
  std::thread t([&] {
    std::this_thread::sleep_for(400ms);
    listening = true;
    ::listen(srv.fd, 8);
  });
  kin::Supervisor sup{sys, opts()};
  sup.start_child({.id = "tcp",
                   .start = sleep100(),
                   .shutdown = 2s,
                   .readiness = {.by = kin::ReadyBy::tcp, .port = srv.port, .interval = 50ms, .timeout = 10s}});
  EXPECT_TRUE(listening.load());  // start_child returned only once connect could succeed
  t.join();
  EXPECT_EQ(info(sup, "tcp").state, kin::ChildState::running);
  EXPECT_EQ(log.count("event=ready child=tcp"), 1);
}

TEST_F(SupervisorReadinessTest, TcpReadinessTimesOut) {
  BoundSocket srv;  // never listens
  ASSERT_GT(srv.port, 0);
  kin::Supervisor sup{sys, opts()};
  try {
    sup.start_child({.id = "tcp",
                     .start = sleep100(),
                     .readiness = {.by = kin::ReadyBy::tcp, .port = srv.port, .interval = 50ms, .timeout = 400ms}});
    ADD_FAILURE() << "no error";
  } catch (const kin::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("not ready within 400 ms"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(has_child(sup, "tcp"));
}

TEST_F(SupervisorReadinessTest, HttpReadinessNeedsA2xxAnswer) {
  BoundSocket srv;
  ASSERT_GT(srv.port, 0);
  ASSERT_EQ(::listen(srv.fd, 8), 0);
  std::vector<std::string> requests;
  // Answers 503 first, then 200; each accept is bounded by the supervisor's timeout (it stops
  // trying after 10 s, and the thread gives up after two answers).
  std::thread t([&] {
    for (const char* answer : {"HTTP/1.0 503 Service Unavailable\r\n\r\n", "HTTP/1.1 204 No Content\r\n\r\n"}) {
      pollfd p{srv.fd, POLLIN, 0};
      if (::poll(&p, 1, 10000) != 1) return;
      int c = ::accept4(srv.fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      char buf[1024];
      std::string req;
      pollfd q{c, POLLIN, 0};
      while (req.find("\r\n\r\n") == std::string::npos && ::poll(&q, 1, 5000) == 1) {
        auto n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        req.append(buf, static_cast<std::size_t>(n));
      }
      requests.push_back(req);
      [[maybe_unused]] auto w = ::write(c, answer, std::strlen(answer));
      ::close(c);
    }
  });
  kin::Supervisor sup{sys, opts()};
  sup.start_child({.id = "web",
                   .start = sleep100(),
                   .shutdown = 2s,
                   .readiness = {.by = kin::ReadyBy::http,
                                 .url = "http://127.0.0.1:" + std::to_string(srv.port) + "/health",
                                 .interval = 50ms,
                                 .timeout = 10s}});
  t.join();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].rfind("GET /health HTTP/1.0\r\n", 0), 0u) << requests[0];
  EXPECT_EQ(info(sup, "web").state, kin::ChildState::running);
  EXPECT_EQ(log.count("event=ready child=web"), 1);
}

TEST_F(SupervisorReadinessTest, HttpReadinessTimesOutWithoutAnAnswer) {
  BoundSocket srv;
  ASSERT_GT(srv.port, 0);
  ASSERT_EQ(::listen(srv.fd, 8), 0);  // connects succeed (the backlog), nobody answers
  kin::Supervisor sup{sys, opts()};
  try {
    sup.start_child({.id = "web",
                     .start = sleep100(),
                     .readiness = {.by = kin::ReadyBy::http,
                                   .url = "http://localhost:" + std::to_string(srv.port) + "/",
                                   .interval = 50ms,
                                   .timeout = 400ms}});
    ADD_FAILURE() << "no error";
  } catch (const kin::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("not ready within 400 ms"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(has_child(sup, "web"));
}

TEST_F(SupervisorReadinessTest, AnHttpUrlOffLoopbackIsAValueError) {
  kin::Supervisor sup{sys, opts()};
  for (std::string url : {"http://10.1.2.3:80/", "https://127.0.0.1/", "http://example.com/", "http://127.0.0.1:x/"}) {
    EXPECT_THROW(sup.start_child({.id = "web",
                                  .start = sleep100(),
                                  .readiness = {.by = kin::ReadyBy::http, .url = url, .timeout = 1s}}),
                 kin::ValueError)
        << url;
  }
  EXPECT_THROW(sup.start_child({.id = "tcp", .start = sleep100(), .readiness = {.by = kin::ReadyBy::tcp, .port = 0}}),
               kin::ValueError);
  EXPECT_EQ(sup.count_children().specs, 0);
}

TEST_F(SupervisorReadinessTest, SuccessExitCodesEndATransientChildNormally) {
  TempDir d;
  kin::Supervisor sup{sys, opts()};
  // Exit 3 is listed: not restarted. Exit 4 is not: restarted (it counts its runs in a file).
  sup.start_child({.id = "three",
                   .start = kin::program({"sh", "-c", "echo x >> " + d / "three" + "; exit 3"}),
                   .restart = kin::transient,
                   .success_exit_codes = {0, 3}});
  sup.start_child({.id = "four",
                   .start = kin::program({"sh", "-c", "echo x >> " + d / "four" + "; test $(wc -l < " + d / "four" +
                                                          ") -ge 2 && exit 0; exit 4"}),
                   .restart = kin::transient,
                   .success_exit_codes = {0, 3}});
  EXPECT_TRUE(eventually([&] { return lines_in(d / "four") == 2 && info(sup, "four").state == kin::ChildState::stopped; }, 10s));
  EXPECT_TRUE(eventually([&] { return info(sup, "three").state == kin::ChildState::stopped; }, 10s));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(lines_in(d / "three"), 1);
  EXPECT_EQ(info(sup, "three").restarts, 0);
  EXPECT_EQ(info(sup, "four").restarts, 1);
}

TEST_F(SupervisorReadinessTest, StderrToStdoutSharesTheStdoutFile) {
  TempDir d;
  kin::Supervisor sup{sys, opts()};
  sup.start_child({.id = "both",
                   .start = kin::program({"sh", "-c", "echo out; echo err >&2; exec sleep 100"},
                                         {.stdout_file = d / "out", .stderr_to_stdout = true}),
                   .shutdown = 2s});
  EXPECT_TRUE(eventually([&] { return slurp(d / "out") == "out\nerr\n"; }, 5s)) << slurp(d / "out");
}

TEST_F(SupervisorReadinessTest, ExecReadinessRunsTheProbeUntilItSucceeds) {
  TempDir d;
  kin::Supervisor sup{sys, opts()};
  sup.start_child({.id = "probed",
                   .start = kin::program({"sh", "-c", "sleep 0.4; touch " + d / "up" + "; exec sleep 100"}),
                   .shutdown = 2s,
                   .readiness = {.by = kin::ReadyBy::exec,
                                 .probe = {"sh", "-c", "echo x >> " + d / "tries" + "; test -e " + d / "up"},
                                 .interval = 50ms,
                                 .timeout = 10s}});
  EXPECT_TRUE(fs::exists(d / "up"));
  EXPECT_GE(lines_in(d / "tries"), 2);  // it failed before the file was there
  EXPECT_EQ(info(sup, "probed").state, kin::ChildState::running);
  EXPECT_EQ(log.count("event=ready child=probed"), 1);
}

TEST_F(SupervisorReadinessTest, AHangingExecProbeIsKilledAtTheDeadline) {
  TempDir d;
  kin::Supervisor sup{sys, opts()};
  try {
    sup.start_child({.id = "probed",
                     .start = sleep100(),
                     .readiness = {.by = kin::ReadyBy::exec,
                                   .probe = {"sh", "-c", "echo $$ > " + d / "probe" + "; exec sleep 100"},
                                   .interval = 50ms,
                                   .timeout = 400ms}});
    ADD_FAILURE() << "no error";
  } catch (const kin::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("not ready within 400 ms"), std::string::npos) << e.what();
  }
  const pid_t probe = pid_in(d / "probe", 5s);
  ASSERT_GT(probe, 0);
  EXPECT_TRUE(eventually([&] { return !exists(probe); }, 5s));  // killed and reaped
  EXPECT_FALSE(has_child(sup, "probed"));
  EXPECT_THROW(sup.start_child({.id = "bad", .start = sleep100(), .readiness = {.by = kin::ReadyBy::exec}}),
               kin::ValueError);  // no probe command
}

}  // namespace
