#include <kin/supervisor.hpp>  // first: the header is self-contained

#include <kin/errors.hpp>
#include <kin/notify_ready.hpp>
#include <kin/process.hpp>

#include <caf/all.hpp>

#include <gtest/gtest.h>

#include "supervisor_test_util.hpp"

#include "sanitizer_limits.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// Process actors and kin::process children fork beside the supervisor's threads.
const bool default_method_chosen = (kin::set_start_method(kin::testing::threaded_fork_method()), true);

// The helpers the supervisor tests share (tests/unit/supervisor_test_util.hpp).
using kin_sup_test::eventually;
using kin_sup_test::has_child;
using kin_sup_test::info;
using kin_sup_test::Log;
using kin_sup_test::not_running;
using kin_sup_test::replaced;

using kin_sup_test::exists;
using kin_sup_test::TempDir;

kin::ChildSpec sleeper(const std::string& id, kin::Restart r = kin::permanent) {
  return kin::ChildSpec{.id = id, .start = kin::program({"sleep", "100"}), .restart = r, .shutdown = 2s};
}

void idle_forever() {
  for (;;) ::pause();
}

using SupervisorTest = kin_sup_test::SupervisorFixture;

// ---- one_for_one over each child kind ----

TEST_F(SupervisorTest, OneForOneRestartsAKilledProgram) {
  kin::Supervisor sup{sys, opts()};
  EXPECT_EQ(sup.start_child(sleeper("s")), "s");
  auto c = info(sup, "s");
  ASSERT_GT(c.pid, 0);
  EXPECT_EQ(c.kind, kin::ChildStart::Kind::program);
  ::kill(c.pid, SIGKILL);
  ASSERT_TRUE(eventually([&] { return replaced(sup, "s", c.pid); }));
  auto n = info(sup, "s");
  EXPECT_EQ(n.restarts, 1);
  ASSERT_TRUE(n.last_exit);
  EXPECT_EQ(n.last_exit->signal(), SIGKILL);
  EXPECT_GE(log.count("event=exited child=s"), 1);
  EXPECT_GE(log.count("event=restarting child=s"), 1);
}

TEST_F(SupervisorTest, OneForOneRestartsAKilledProcess) {
  kin::Supervisor sup{sys, opts()};
  sup.start_child({.id = "p", .start = kin::process(idle_forever), .shutdown = 2s});
  auto c = info(sup, "p");
  ASSERT_GT(c.pid, 0);
  EXPECT_EQ(::getpgid(c.pid), c.pid);  // leads its own group
  ::kill(c.pid, SIGKILL);
  ASSERT_TRUE(eventually([&] { return replaced(sup, "p", c.pid); }));
  EXPECT_EQ(info(sup, "p").restarts, 1);
}

caf::behavior fragile(caf::event_based_actor* self) {
  return {[=](const std::string& s) {
    if (s == "die") self->quit(caf::make_error(caf::sec::runtime_error, "asked to"));
    return s;
  }};
}

TEST_F(SupervisorTest, OneForOneRestartsACrashedThreadActor) {
  kin::Supervisor sup{sys, opts()};
  sup.start_child({.id = "t", .start = kin::thread_actor(fragile)});
  auto c = info(sup, "t");
  ASSERT_TRUE(c.actor);
  caf::anon_send(c.actor, std::string("die"));
  ASSERT_TRUE(eventually([&] {
    auto n = info(sup, "t");
    return n.restarts == 1 && n.actor && n.actor != c.actor && n.state == kin::ChildState::running;
  }));
  caf::scoped_actor self{sys};
  bool echoed = false;
  self->request(info(sup, "t").actor, 5s, std::string("hi")).receive([&](const std::string& s) { echoed = s == "hi"; },
                                                                      [](caf::error&) {});
  EXPECT_TRUE(echoed);
}

caf::behavior echo_actor(caf::event_based_actor*) {
  return {[](const std::string& s) { return s; }};
}

TEST_F(SupervisorTest, OneForOneRestartsAKilledProcessActor) {
  kin::Supervisor sup{sys, opts()};
  sup.start_child({.id = "pa", .start = kin::process_actor(echo_actor), .shutdown = 2s});
  auto c = info(sup, "pa");
  ASSERT_TRUE(c.actor);
  caf::anon_send_exit(c.actor, caf::exit_reason::kill);  // the proxy SIGKILLs its process
  ASSERT_TRUE(eventually([&] {
    auto n = info(sup, "pa");
    return n.restarts == 1 && n.actor && n.actor != c.actor;
  }));
  caf::scoped_actor self{sys};
  bool echoed = false;
  self->request(info(sup, "pa").actor, 5s, std::string("x")).receive([&](const std::string& s) { echoed = s == "x"; },
                                                                      [](caf::error&) {});
  EXPECT_TRUE(echoed);
}

// ---- restart types ----

TEST_F(SupervisorTest, TransientIsRestartedOnlyAfterAnAbnormalExit) {
  TempDir d;
  kin::Supervisor sup{sys, opts()};
  sup.start_child({.id = "ok", .start = kin::program({"sh", "-c", "sleep 0.1; exit 0"}), .restart = kin::transient});
  // exits 3 twice, then stays up
  std::string crash = "n=$(cat " + d / "n" + " 2>/dev/null || echo 0); echo $((n+1)) > " + d / "n" +
                      "; [ $n -ge 2 ] && exec sleep 100; exit 3";
  sup.start_child({.id = "bad", .start = kin::program({"sh", "-c", crash}), .restart = kin::transient, .shutdown = 2s});
  ASSERT_TRUE(eventually([&] { return info(sup, "ok").state == kin::ChildState::stopped; }));
  ASSERT_TRUE(eventually([&] { return info(sup, "bad").restarts == 2 && info(sup, "bad").state == kin::ChildState::running; }));
  std::this_thread::sleep_for(200ms);
  auto ok = info(sup, "ok");
  EXPECT_EQ(ok.restarts, 0);
  ASSERT_TRUE(ok.last_exit);
  EXPECT_EQ(ok.last_exit->code(), 0);
  EXPECT_EQ(info(sup, "bad").last_exit->code(), 3);
}

TEST_F(SupervisorTest, TemporaryIsNeverRestartedAndRemoved) {
  kin::Supervisor sup{sys, opts()};
  sup.start_child({.id = "once", .start = kin::program({"sh", "-c", "exit 1"}), .restart = kin::temporary});
  ASSERT_TRUE(eventually([&] { return !has_child(sup, "once"); }));
  EXPECT_EQ(log.count("event=restarting"), 0);
}

TEST_F(SupervisorTest, PermanentIsRestartedAfterANormalExit) {
  kin::Supervisor sup{sys, opts()};
  sup.start_child({.id = "p", .start = kin::program({"sh", "-c", "sleep 0.2"}), .restart = kin::permanent});
  ASSERT_TRUE(eventually([&] { return info(sup, "p").restarts >= 1; }));
}

// ---- strategies ----

TEST_F(SupervisorTest, OneForAllRestartsEveryChildInOrder) {
  kin::Supervisor sup{sys, opts(kin::one_for_all), {sleeper("a"), sleeper("b"), sleeper("c")}};
  auto a = info(sup, "a").pid, b = info(sup, "b").pid, c = info(sup, "c").pid;
  ASSERT_TRUE(a > 0 && b > 0 && c > 0);
  ::kill(b, SIGKILL);
  ASSERT_TRUE(eventually([&] { return replaced(sup, "a", a) && replaced(sup, "b", b) && replaced(sup, "c", c); }));
  // stopped in reverse order (c, then a), restarted in order (a, b, c)
  std::vector<std::string> order;
  for (auto& l : log.all())
    for (std::string ev : {"exited", "started"})
      if (auto i = l.find("event=" + ev + " child="); i != std::string::npos) order.push_back(ev + l[i + ev.size() + 13]);
  std::vector<std::string> tail(order.end() - 6, order.end());
  EXPECT_EQ(tail, (std::vector<std::string>{"exitedb", "exitedc", "exiteda", "starteda", "startedb", "startedc"}));
}

TEST_F(SupervisorTest, RestForOneRestartsTheChildAndThoseAfterIt) {
  kin::Supervisor sup{sys, opts(kin::rest_for_one), {sleeper("a"), sleeper("b"), sleeper("c")}};
  auto a = info(sup, "a").pid, b = info(sup, "b").pid, c = info(sup, "c").pid;
  ASSERT_TRUE(a > 0 && b > 0 && c > 0);
  ::kill(b, SIGKILL);
  ASSERT_TRUE(eventually([&] { return replaced(sup, "b", b) && replaced(sup, "c", c); }));
  EXPECT_EQ(info(sup, "a").pid, a);
  EXPECT_EQ(info(sup, "a").restarts, 0);
}

int worker_with(int n) {
  ::usleep(static_cast<useconds_t>(n) * 1000);
  return 7;
}

TEST_F(SupervisorTest, SimpleOneForOneStartsChildrenFromATemplate) {
  kin::Supervisor sup{sys, opts(kin::simple_one_for_one),
                      {{.id = "sl", .start = kin::program({"sleep"}), .restart = kin::transient, .shutdown = 2s}}};
  auto id1 = sup.start_child("100");
  auto id2 = sup.start_child(std::string("100"));
  EXPECT_EQ(id1, "sl-1");
  EXPECT_EQ(id2, "sl-2");
  EXPECT_EQ(sup.count_children().active, 2);
  EXPECT_THROW(sup.start_child(sleeper("x")), kin::ValueError);
  sup.terminate_child(id1);
  EXPECT_FALSE(has_child(sup, id1));  // a dynamic child is removed when stopped

  kin::Supervisor procs{sys, opts(kin::simple_one_for_one),
                        {{.id = "w", .start = kin::process(worker_with), .restart = kin::temporary}}};
  auto w = procs.start_child(50);
  EXPECT_EQ(w, "w-1");
  EXPECT_THROW(procs.start_child(std::string("not an int")), kin::ValueError);
  ASSERT_TRUE(eventually([&] { return !has_child(procs, w); }));
  EXPECT_GE(log.count("child=w-1 pid="), 1);
  EXPECT_GE(log.count("status=\"exit 7\""), 1);
}

// ---- intensity and escalation ----

TEST_F(SupervisorTest, IntensityExceededStopsEverythingWithShutdown) {
  kin::Supervisor sup{sys, kin::SupervisorOptions{.intensity = 2, .period = 30s, .log = log.sink()}};
  sup.start_child(sleeper("calm"));
  const pid_t calm = info(sup, "calm").pid;
  caf::scoped_actor self{sys};
  self->monitor(sup.actor());
  sup.start_child({.id = "crash", .start = kin::program({"sh", "-c", "sleep 0.05; exit 1"})});
  caf::error reason;
  bool down = false;
  self->receive([&](const caf::down_msg& dm) { down = true; reason = dm.reason; }, caf::after(20s) >> [] {});
  ASSERT_TRUE(down);
  EXPECT_EQ(reason, caf::exit_reason::user_shutdown);
  EXPECT_EQ(log.count("event=gave_up"), 1);
  EXPECT_EQ(log.count("event=restarting child=crash"), 2);
  EXPECT_TRUE(eventually([&] { return !exists(calm); }, 5s));  // stopped and reaped
  EXPECT_THROW(sup.which_children(), kin::Error);
}

TEST_F(SupervisorTest, RestartsWithinIntensityKeepTheSupervisor) {
  TempDir d;
  kin::Supervisor sup{sys, kin::SupervisorOptions{.intensity = 3, .period = 30s, .log = log.sink()}};
  std::string crash = "n=$(cat " + d / "n" + " 2>/dev/null || echo 0); echo $((n+1)) > " + d / "n" +
                      "; [ $n -ge 3 ] && exec sleep 100; exit 1";
  sup.start_child({.id = "c", .start = kin::program({"sh", "-c", crash}), .shutdown = 2s});
  ASSERT_TRUE(eventually([&] { return info(sup, "c").restarts == 3 && info(sup, "c").state == kin::ChildState::running; }));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(log.count("event=gave_up"), 0);
  EXPECT_EQ(sup.count_children().active, 1);
}

TEST_F(SupervisorTest, ANestedSupervisorThatGivesUpEscalates) {
  kin::Supervisor sup{sys, kin::SupervisorOptions{.intensity = 0, .period = 30s, .name = "root", .log = log.sink()}};
  caf::scoped_actor self{sys};
  self->monitor(sup.actor());
  sup.start_child(sleeper("sibling"));
  const pid_t sibling = info(sup, "sibling").pid;
  auto inner = kin::SupervisorOptions{.intensity = 1, .period = 30s, .name = "inner", .log = log.sink()};
  sup.start_child({.id = "tree",
                   .start = kin::supervisor(inner, {{.id = "crash", .start = kin::program({"sh", "-c", "sleep 0.05; exit 2"})}})});
  EXPECT_EQ(info(sup, "tree").type, kin::ChildType::supervisor);
  bool down = false;
  self->receive([&](const caf::down_msg&) { down = true; }, caf::after(20s) >> [] {});
  ASSERT_TRUE(down);
  EXPECT_EQ(log.count("sup=inner event=gave_up"), 1);
  EXPECT_EQ(log.count("sup=root event=exited child=tree"), 1);
  EXPECT_EQ(log.count("sup=root event=gave_up"), 1);
  EXPECT_TRUE(eventually([&] { return !exists(sibling); }, 5s));
}

TEST_F(SupervisorTest, ANestedSupervisorStartsItsChildrenBeforeTheNextSibling) {
  TempDir d;
  kin::Supervisor sup{sys, opts()};
  auto inner = kin::SupervisorOptions{.name = "inner", .log = log.sink()};
  sup.start_child({.id = "tree",
                   .start = kin::supervisor(inner, {{.id = "slow",
                                                     .start = kin::program({"sh", "-c", "sleep 0.3; touch " + d / "up" +
                                                                                          "; echo >&3; exec sleep 100"}),
                                                     .shutdown = 2s,
                                                     .readiness = {.by = kin::ReadyBy::fd, .timeout = 10s}}})});
  EXPECT_TRUE(fs::exists(d / "up"));  // start_child returned after the nested child was ready
  EXPECT_EQ(sup.count_children().supervisors, 1);
}

// ---- shutdown ----

TEST_F(SupervisorTest, AChildIgnoringSigtermIsKilledAfterShutdown) {
  kin::Supervisor sup{sys, opts()};
  sup.start_child({.id = "stubborn",
                   .start = kin::program({"sh", "-c", "trap '' TERM; while :; do sleep 0.05; done"}),
                   .shutdown = 300ms});
  std::this_thread::sleep_for(100ms);  // let the shell install its trap
  auto t0 = std::chrono::steady_clock::now();
  sup.terminate_child("stubborn");
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 10s);
  auto c = info(sup, "stubborn");
  EXPECT_EQ(c.state, kin::ChildState::stopped);
  ASSERT_TRUE(c.last_exit);
  EXPECT_EQ(c.last_exit->signal(), SIGKILL);
  EXPECT_NE(c.last_reason.find("killed: still running"), std::string::npos);
  EXPECT_EQ(c.restarts, 0);  // a terminated child is not restarted
  sup.restart_child("stubborn");
  EXPECT_EQ(info(sup, "stubborn").state, kin::ChildState::running);
  EXPECT_THROW(sup.delete_child("stubborn"), kin::ValueError);
}

TEST_F(SupervisorTest, ShutdownSignalsTheWholeProcessGroup) {
  TempDir d;
  kin::Supervisor sup{sys, opts()};
  sup.start_child({.id = "parent",
                   .start = kin::program({"sh", "-c", "sleep 100 & echo $! > " + d / "gc" + "; wait"}),
                   .shutdown = 5s});
  ASSERT_TRUE(eventually([&] { return fs::exists(d / "gc") && fs::file_size(d / "gc") > 0; }));
  pid_t gc = 0;
  std::ifstream(d / "gc") >> gc;
  ASSERT_GT(gc, 0);
  sup.terminate_child("parent");
  EXPECT_TRUE(eventually([&] { return not_running(gc); }, 5s));
  sup.delete_child("parent");
  EXPECT_FALSE(has_child(sup, "parent"));
}

TEST_F(SupervisorTest, ChildrenStopInReverseOrder) {
  {
    kin::Supervisor sup{sys, opts(), {sleeper("a"), sleeper("b"), sleeper("c")}};
  }
  std::vector<std::string> order;
  for (auto& l : log.all())
    if (auto i = l.find("event=exited child="); i != std::string::npos) order.push_back(std::string(1, l[i + 19]));
  EXPECT_EQ(order, (std::vector<std::string>{"c", "b", "a"}));
}

// ---- beyond OTP ----

TEST_F(SupervisorTest, AnOrphanedGrandchildIsReaped) {
  TempDir d;
  auto o = opts();
  o.reap_orphans = true;
  kin::Supervisor sup{sys, o};
  sup.start_child({.id = "forker",
                   .start = kin::program({"sh", "-c", "sleep 0.4 & echo $! > " + d / "gc" + "; exit 0"}),
                   .restart = kin::temporary});
  ASSERT_TRUE(eventually([&] { return fs::exists(d / "gc") && fs::file_size(d / "gc") > 0; }));
  pid_t gc = 0;
  std::ifstream(d / "gc") >> gc;
  ASSERT_GT(gc, 0);
  ASSERT_TRUE(eventually([&] { return !has_child(sup, "forker"); }));
  EXPECT_TRUE(eventually([&] { return exists(gc) && ::getpgid(gc) >= 0; }, 1s) || !exists(gc));
  // Without the subreaper the orphan went to init; with it, it is ours and must be reaped:
  // /proc/<gc> disappears (a zombie would stay).
  EXPECT_TRUE(eventually([&] { return !exists(gc); }, 10s));
  // The reap (waitid) comes first, its event line a moment later.
  EXPECT_TRUE(eventually([&] { return log.count("event=reaped_orphan pid=" + std::to_string(gc)) >= 1; }, 5s));
}

TEST_F(SupervisorTest, ReadinessOrdersStartsAndTimesOut) {
  TempDir d;
  kin::Supervisor sup{sys, opts()};
  sup.start_child({.id = "first",
                   .start = kin::program({"sh", "-c", "sleep 0.3; touch " + d / "first" + "; echo ready >&3; exec sleep 100"}),
                   .shutdown = 2s,
                   .readiness = {.by = kin::ReadyBy::fd, .fd = 3, .timeout = 10s}});
  sup.start_child({.id = "second",
                   .start = kin::program({"sh", "-c", "test -e " + d / "first" + " && touch " + d / "ok" + "; exec sleep 100"}),
                   .shutdown = 2s});
  EXPECT_TRUE(eventually([&] { return fs::exists(d / "ok"); }, 5s));
  EXPECT_EQ(log.count("event=ready child=first"), 1);

  auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(sup.start_child({.id = "mute",
                                .start = kin::program({"sleep", "100"}),
                                .readiness = {.by = kin::ReadyBy::fd, .timeout = 300ms}}),
               kin::ValueError);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
  EXPECT_FALSE(has_child(sup, "mute"));
  EXPECT_EQ(sup.count_children().active, 2);  // the others are untouched
}

int notify_after_a_while(std::string marker) {
  ::usleep(200000);
  std::ofstream(marker) << "x";
  kin::notify_ready();
  for (;;) ::pause();
}

TEST_F(SupervisorTest, NotifyReadyFromKinCode) {
  TempDir d;
  kin::Supervisor sup{sys, opts()};
  sup.start_child({.id = "n",
                   .start = kin::process(notify_after_a_while, d / "m"),
                   .shutdown = 2s,
                   .readiness = {.by = kin::ReadyBy::notify, .timeout = 10s}});
  EXPECT_TRUE(fs::exists(d / "m"));  // start_child waited for READY=1
  EXPECT_EQ(info(sup, "n").state, kin::ChildState::running);
  EXPECT_FALSE(kin::notify_ready());  // here nobody listens
}

TEST_F(SupervisorTest, BackoffDelaysGrowWithinBounds) {
  kin::Supervisor sup{sys, kin::SupervisorOptions{.intensity = 20, .period = 60s, .log = log.sink()}};
  std::vector<std::chrono::steady_clock::time_point> exits;
  std::mutex mu;
  caf::scoped_actor self{sys};
  sup.subscribe(self);
  sup.start_child({.id = "b",
                   .start = kin::program({"false"}),
                   .backoff = {.initial = 200ms, .max = 400ms, .factor = 2.0, .reset_after = 60s}});
  std::vector<long> delays;
  int exited = 0;
  auto end = std::chrono::steady_clock::now() + 20s;
  while (exited < 4 && std::chrono::steady_clock::now() < end) {
    self->receive(
        [&](const kin::SupervisorEvent& e) {
          if (e.kind == kin::EventKind::exited) {
            ++exited;
            exits.push_back(std::chrono::steady_clock::now());
          }
          if (e.kind == kin::EventKind::backoff) delays.push_back(static_cast<long>(e.delay.count()));
        },
        caf::after(1s) >> [] {});
  }
  sup.unsubscribe(self);
  ASSERT_GE(exits.size(), 4u);
  EXPECT_EQ(delays[0], 200);
  EXPECT_EQ(delays[1], 400);
  EXPECT_EQ(delays[2], 400);  // capped at max
  EXPECT_GE(exits[1] - exits[0], 190ms);
  EXPECT_GE(exits[2] - exits[1], 390ms);
  EXPECT_GE(log.count("event=backoff child=b"), 3);
}

int supervising_process(int fd) {
  kin::ActorSystem sys;
  kin::Supervisor sup{sys, kin::SupervisorOptions{.log = [](const std::string&) {}}};
  sup.start_child({.id = "prog", .start = kin::program({"sleep", "100"})});
  sup.start_child({.id = "proc", .start = kin::process(idle_forever)});
  pid_t pids[2] = {info(sup, "prog").pid, info(sup, "proc").pid};
  [[maybe_unused]] auto r = ::write(fd, pids, sizeof pids);
  for (;;) ::pause();
}

TEST_F(SupervisorTest, SigkillOfTheSupervisingProcessLeavesNoChild) {
  if (kin::testing::fork_beside_threads_unsafe) GTEST_SKIP() << kin::testing::fork_reason;  // fork: it passes an fd
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  kin::Process sp{kin::ProcessOptions{.start_method = kin::StartMethod::fork}, supervising_process, p[1]};
  sp.start();
  ::close(p[1]);
  pid_t pids[2] = {0, 0};
  ASSERT_EQ(::read(p[0], pids, sizeof pids), static_cast<ssize_t>(sizeof pids));
  ::close(p[0]);
  ASSERT_GT(pids[0], 0);
  ASSERT_GT(pids[1], 0);
  EXPECT_FALSE(not_running(pids[0]));
  EXPECT_FALSE(not_running(pids[1]));
  sp.kill();
  ASSERT_TRUE(sp.join(10s));
  EXPECT_EQ(sp.exitcode(), -SIGKILL);
  EXPECT_TRUE(eventually([&] { return not_running(pids[0]) && not_running(pids[1]); }, 10s));
}

// ---- bad specs ----

TEST_F(SupervisorTest, BadSpecsAreClearErrorsAndTheOthersStay) {
  kin::Supervisor sup{sys, opts(), {sleeper("a")}};
  const pid_t a = info(sup, "a").pid;
  EXPECT_THROW(sup.start_child(sleeper("a")), kin::ValueError);
  EXPECT_THROW(sup.start_child({.id = "e", .start = kin::program({})}), kin::ValueError);
  try {
    sup.start_child({.id = "x", .start = kin::program({"/no/such/program-kin"})});
    ADD_FAILURE() << "no error";
  } catch (const kin::OSError& e) {
    EXPECT_EQ(e.error_code(), ENOENT);
    EXPECT_NE(std::string(e.what()).find("/no/such/program-kin"), std::string::npos);
  }
  EXPECT_THROW(sup.start_child({.id = "", .start = kin::program({"true"})}), kin::ValueError);
  EXPECT_THROW(sup.start_child({.id = "nostart"}), kin::ValueError);
  EXPECT_THROW(sup.start_child({.id = "rdy", .start = kin::thread_actor(echo_actor),
                                .readiness = {.by = kin::ReadyBy::notify}}),
               kin::ValueError);
  EXPECT_THROW(kin::supervisor(kin::SupervisorOptions{.intensity = -1}, {}), kin::ValueError);
  EXPECT_THROW((kin::Supervisor{sys, kin::SupervisorOptions{.intensity = -1}}), kin::ValueError);
  EXPECT_THROW(sup.terminate_child("nobody"), kin::ValueError);
  auto kids = sup.which_children();
  ASSERT_EQ(kids.size(), 1u);
  EXPECT_EQ(kids[0].pid, a);
  EXPECT_EQ(kids[0].state, kin::ChildState::running);
  auto n = sup.count_children();
  EXPECT_EQ(n.specs, 1);
  EXPECT_EQ(n.active, 1);
  EXPECT_EQ(n.workers, 1);
}

TEST_F(SupervisorTest, TheActorTakesTheSameOperationsAsMessages) {
  kin::Supervisor sup{sys, opts()};
  caf::scoped_actor self{sys};
  namespace sa = kin::supervisor_atoms;
  std::string id;
  self->request(sup.actor(), 10s, sa::start_atom::value, sleeper("m"))
      .receive([&](const std::string& s) { id = s; }, [](caf::error&) {});
  EXPECT_EQ(id, "m");
  std::vector<kin::ChildInfo> kids;
  self->request(sup.actor(), 10s, sa::which_atom::value)
      .receive([&](std::vector<kin::ChildInfo>& v) { kids = v; }, [](caf::error&) {});
  ASSERT_EQ(kids.size(), 1u);
  bool stopped = false;
  self->request(sup.actor(), 10s, sa::terminate_atom::value, std::string("m"))
      .receive([&](caf::ok_atom) { stopped = true; }, [](caf::error&) {});
  EXPECT_TRUE(stopped);
  bool failed = false;
  self->request(sup.actor(), 10s, sa::start_atom::value, kin::ChildSpec{.id = "m", .start = kin::program({"true"})})
      .receive([](const std::string&) {}, [&](caf::error&) { failed = true; });
  EXPECT_TRUE(failed);  // duplicate id
}

}  // namespace

// ---- every strategy x restart type x child kind ----

namespace {

enum class Kind { process, program, thread_actor, process_actor };

struct Case {
  kin::Strategy strategy;
  kin::Restart restart;
  Kind kind;
};

std::string case_name(const ::testing::TestParamInfo<Case>& i) {
  const char* s[] = {"one_for_one", "one_for_all", "rest_for_one", "simple"};
  const char* r[] = {"permanent", "transient", "temporary"};
  const char* k[] = {"process", "program", "thread_actor", "process_actor"};
  return std::string(s[static_cast<int>(i.param.strategy)]) + "_" + r[static_cast<int>(i.param.restart)] + "_" +
         k[static_cast<int>(i.param.kind)];
}

class SupervisorMatrix : public SupervisorTest, public ::testing::WithParamInterface<Case> {};

TEST_P(SupervisorMatrix, AnAbnormalExitOfTheMiddleChild) {
  const Case p = GetParam();
  kin::ChildStart start;
  switch (p.kind) {
    case Kind::process: start = kin::process(idle_forever); break;
    case Kind::program: start = kin::program({"sleep", "100"}); break;
    case Kind::thread_actor: start = kin::thread_actor(fragile); break;
    case Kind::process_actor: start = kin::process_actor(echo_actor); break;
  }
  kin::Supervisor sup{sys, opts(p.strategy),
                      {sleeper("a"), {.id = "x", .start = start, .restart = p.restart, .shutdown = 2s}, sleeper("c")}};
  const pid_t a = info(sup, "a").pid, c = info(sup, "c").pid;
  const auto x = info(sup, "x");
  switch (p.kind) {
    case Kind::process:
    case Kind::program: ASSERT_GT(x.pid, 0); ::kill(x.pid, SIGKILL); break;
    case Kind::thread_actor: caf::anon_send(x.actor, std::string("die")); break;
    case Kind::process_actor: caf::anon_send_exit(x.actor, caf::exit_reason::kill); break;
  }
  if (p.restart == kin::temporary) {
    ASSERT_TRUE(eventually([&] { return !has_child(sup, "x"); }));
  } else {
    ASSERT_TRUE(eventually([&] {
      auto n = info(sup, "x");
      return n.restarts == 1 && n.state == kin::ChildState::running;
    }));
    auto n = info(sup, "x");
    if (p.kind == Kind::process || p.kind == Kind::program) {
      EXPECT_NE(n.pid, x.pid);
      ASSERT_TRUE(n.last_exit);
      EXPECT_EQ(n.last_exit->signal(), SIGKILL);
    } else {
      EXPECT_NE(n.actor, x.actor);
    }
  }
  const bool group = p.restart != kin::temporary;
  const bool a_restarts = group && p.strategy == kin::one_for_all;
  const bool c_restarts = group && p.strategy != kin::one_for_one;
  if (a_restarts) {
    EXPECT_TRUE(eventually([&] { return replaced(sup, "a", a); }));
  }
  if (c_restarts) {
    EXPECT_TRUE(eventually([&] { return replaced(sup, "c", c); }));
  }
  std::this_thread::sleep_for(50ms);
  if (!a_restarts) {
    EXPECT_EQ(info(sup, "a").pid, a);
  }
  if (!c_restarts) {
    EXPECT_EQ(info(sup, "c").pid, c);
  }
  EXPECT_EQ(log.count("event=gave_up"), 0);
}

std::vector<Case> all_cases() {
  std::vector<Case> v;
  for (auto s : {kin::one_for_one, kin::one_for_all, kin::rest_for_one})
    for (auto r : {kin::permanent, kin::transient, kin::temporary})
      for (auto k : {Kind::process, Kind::program, Kind::thread_actor, Kind::process_actor}) v.push_back({s, r, k});
  return v;
}

INSTANTIATE_TEST_SUITE_P(All, SupervisorMatrix, ::testing::ValuesIn(all_cases()), case_name);

// transient x kind: a normal end is not restarted (exit 0, an actor's normal quit).
caf::behavior quitter(caf::event_based_actor* self) {
  return {[=](const std::string&) { self->quit(); }};
}
int exit_zero_soon() {
  ::usleep(50000);
  return 0;
}

TEST_F(SupervisorTest, TransientNormalEndsOfEveryKindAreNotRestarted) {
  kin::Supervisor sup{sys, opts()};
  sup.start_child({.id = "proc", .start = kin::process(exit_zero_soon), .restart = kin::transient});
  sup.start_child({.id = "prog", .start = kin::program({"true"}), .restart = kin::transient});
  sup.start_child({.id = "thr", .start = kin::thread_actor(quitter), .restart = kin::transient});
  sup.start_child({.id = "pa", .start = kin::process_actor(quitter), .restart = kin::transient});
  caf::anon_send(info(sup, "thr").actor, std::string("bye"));
  caf::anon_send(info(sup, "pa").actor, std::string("bye"));
  for (const char* id : {"proc", "prog", "thr", "pa"})
    EXPECT_TRUE(eventually([&] { return info(sup, id).state == kin::ChildState::stopped; })) << id;
  std::this_thread::sleep_for(200ms);
  for (auto& c : sup.which_children()) {
    EXPECT_EQ(c.restarts, 0) << c.id;
    EXPECT_EQ(c.state, kin::ChildState::stopped) << c.id;
  }
  EXPECT_EQ(info(sup, "proc").last_exit, kin::ExitStatus{});
  EXPECT_EQ(info(sup, "pa").last_exit, kin::ExitStatus{});
}

}  // namespace
