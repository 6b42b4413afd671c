// kin::services::Daemon end to end with real programs (sh scripts): states, restarts, FATAL,
// stop/start/restart, depends_on order, a program that ignores SIGTERM, exit visibility.
#include <kin/services/daemon.hpp>

#include "sanitizer_limits.hpp"
#include "services_test_util.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

using namespace std::chrono_literals;
namespace ks = kin::services;

using kin::testing::eventually;
using kin::testing::slurp;
using kin::testing::TempDir;

namespace {

using kin::testing::config_in;
using kin::testing::quiet;

ks::ServiceConfig service(const std::string& name, const std::string& script) {
  return kin::testing::sh_service(name, script);
}

ks::ServiceStatus one(const ks::Daemon& d, const std::string& name) { return d.status(name).at(0); }


}  // namespace

TEST(ServicesDaemon, SleeperRunsStopsStartsAndRestarts) {
  TempDir d;
  ks::Daemon daemon{config_in(d, {service("sleeper", "echo hello; exec sleep 100")}), quiet()};
  ASSERT_TRUE(eventually([&] { return one(daemon, "sleeper").state == "RUNNING"; }));
  auto s = one(daemon, "sleeper");
  EXPECT_TRUE(s.ready);
  ASSERT_GT(s.pid, 0);
  EXPECT_EQ(::kill(s.pid, 0), 0);
  EXPECT_TRUE(eventually([&] { return !daemon.log_tail("sleeper", 10).empty(); }));
  EXPECT_EQ(daemon.log_tail("sleeper", 10).at(0), "hello");
  daemon.stop("sleeper");
  EXPECT_EQ(one(daemon, "sleeper").state, "STOPPED");
  EXPECT_EQ(one(daemon, "sleeper").pid, 0);
  EXPECT_TRUE(eventually([&] { return ::kill(s.pid, 0) != 0; }));
  daemon.start("sleeper");
  ASSERT_TRUE(eventually([&] { return one(daemon, "sleeper").state == "RUNNING"; }));
  pid_t p2 = one(daemon, "sleeper").pid;
  ASSERT_GT(p2, 0);
  EXPECT_NE(p2, s.pid);
  daemon.restart("all");
  ASSERT_TRUE(eventually([&] { return one(daemon, "sleeper").state == "RUNNING" && one(daemon, "sleeper").pid != p2; }));
  EXPECT_THROW((void)daemon.status("nope"), ks::UnknownService);
  EXPECT_THROW(daemon.stop("nope"), ks::UnknownService);
}

TEST(ServicesDaemon, InstancesGetTheirNumberInTheEnvironment) {
  TempDir d;
  auto s = service("w", "echo inst=$KIN_INSTANCE; exec sleep 100");
  s.numprocs = 2;
  ks::Daemon daemon{config_in(d, {s}), quiet()};
  auto st = daemon.status("w");
  ASSERT_EQ(st.size(), 2u);
  EXPECT_EQ(st[0].name, "w-0");
  EXPECT_EQ(st[1].name, "w-1");
  EXPECT_TRUE(eventually([&] { return daemon.log_tail("w-1", 1) == std::vector<std::string>{"inst=1"}; }));
}

TEST(ServicesDaemon, CrasherCountsRestartsThenIsFatalAndOthersKeepRunning) {
  TempDir d;
  auto crash = service("crash", "exit 3");
  crash.max_restarts = 2;
  crash.backoff.initial = 10ms;
  ks::Daemon daemon{config_in(d, {service("ok", "exec sleep 100"), crash}), quiet()};
  ASSERT_TRUE(eventually([&] { return one(daemon, "crash").state == "FATAL"; }));
  auto c = one(daemon, "crash");
  EXPECT_EQ(c.pid, 0);
  EXPECT_GE(c.restarts, 2);
  ASSERT_TRUE(c.last_exit.has_value());
  EXPECT_EQ(c.last_exit->exitcode(), 3);
  EXPECT_EQ(one(daemon, "ok").state, "RUNNING");
  // start brings a FATAL service back (it will give up again).
  daemon.start("crash");
  EXPECT_TRUE(eventually([&] { return one(daemon, "crash").state == "FATAL"; }));
  bool gave_up = false;
  for (auto& e : daemon.timeline()) gave_up = gave_up || e.event == "gave_up";
  EXPECT_TRUE(gave_up);
}

TEST(ServicesDaemon, AnExitShowsInStatusAtOnce) {
  TempDir d;
  auto s = service("once", "exec sleep 100");
  s.restart = ks::RestartPolicy::never;
  ks::Daemon daemon{config_in(d, {s}), quiet()};
  ASSERT_TRUE(eventually([&] { return one(daemon, "once").state == "RUNNING"; }));
  pid_t pid = one(daemon, "once").pid;
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return one(daemon, "once").state == "EXITED"; }, 5s));
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("exit visible in status after %.2f ms\n", ms);
  auto st = one(daemon, "once");
  EXPECT_EQ(st.pid, 0);
  ASSERT_TRUE(st.last_exit.has_value());
  EXPECT_EQ(st.last_exit->exitcode(), -SIGKILL);
}

TEST(ServicesDaemon, DependentStartsAfterItsDependencyIsReady) {
  TempDir d;
  const std::string f = d / "order";
  auto db = service("db", "sleep 0.3; echo db-ready >> " + f + "; echo ok >&3; exec sleep 100");
  db.ready.by = ks::ReadyConfig::By::fd;
  db.ready.fd = 3;
  auto web = service("web", "echo web-start >> " + f + "; exec sleep 100");
  web.depends_on = {"db"};
  ks::Daemon daemon{config_in(d, {db, web}), quiet()};
  ASSERT_TRUE(eventually([&] { return one(daemon, "web").state == "RUNNING"; }));
  EXPECT_TRUE(one(daemon, "db").ready);
  EXPECT_TRUE(eventually([&] { return slurp(f) == "db-ready\nweb-start\n"; })) << slurp(f);
}

TEST(ServicesDaemon, AProgramIgnoringSigtermIsKilledAfterStopTimeout) {
  TempDir d;
  // Ready (fd 3) only once the trap is set, so the stop cannot come before it.
  auto s = service("stubborn", "trap '' TERM; echo ok >&3; while :; do sleep 0.05; done");
  s.ready.by = ks::ReadyConfig::By::fd;
  s.stop_timeout = 300ms;
  ks::Daemon daemon{config_in(d, {s}), quiet()};
  ASSERT_TRUE(eventually([&] { return one(daemon, "stubborn").state == "RUNNING"; }));
  auto t0 = std::chrono::steady_clock::now();
  daemon.stop("stubborn");
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, 5s);
  EXPECT_EQ(one(daemon, "stubborn").state, "STOPPED");
  ASSERT_TRUE(eventually([&] { return one(daemon, "stubborn").last_exit.has_value(); }));
  auto st = one(daemon, "stubborn");
  EXPECT_EQ(st.last_exit->exitcode(), -SIGKILL);
}

TEST(ServicesDaemon, AutostartFalseWaitsForStart) {
  TempDir d;
  auto s = service("later", "exec sleep 100");
  s.autostart = false;
  ks::Daemon daemon{config_in(d, {s}), quiet()};
  EXPECT_EQ(one(daemon, "later").state, "STOPPED");
  daemon.start("later");
  EXPECT_TRUE(eventually([&] { return one(daemon, "later").state == "RUNNING"; }));
}

TEST(ServicesDaemon, ShutdownStopsEverythingInReverseOrder) {
  TempDir d;
  const std::string f = d / "stops";
  auto a = service("a", "trap 'echo a >> " + f + "; exit 0' TERM; while :; do sleep 0.05; done");
  auto b = service("b", "trap 'echo b >> " + f + "; exit 0' TERM; while :; do sleep 0.05; done");
  b.depends_on = {"a"};
  for (auto* x : {&a, &b}) {  // ready (fd 3) once the trap is set
    x->command[2].insert(x->command[2].find("; while"), "; echo ok >&3");
    x->ready.by = ks::ReadyConfig::By::fd;
  }
  ks::Daemon daemon{config_in(d, {a, b}), quiet()};
  ASSERT_TRUE(eventually([&] { return one(daemon, "b").state == "RUNNING"; }));
  daemon.shutdown();
  EXPECT_TRUE(daemon.stopping());
  daemon.wait();
  EXPECT_EQ(slurp(f), "b\na\n");
  for (auto& s : daemon.status()) EXPECT_EQ(s.pid, 0);
}

TEST(ServicesDaemon, SigkillOfTheDaemonProcessLeavesNoServiceRunning) {
  // The child builds a Daemon (an actor system) right after a plain fork() of this threaded
  // test process.
  if (kin::testing::fork_beside_threads_unsafe) GTEST_SKIP() << kin::testing::fork_reason;
  TempDir d;
  const std::string pids = d / "pids";
  auto cfg = config_in(d, {service("a", "echo $$ >> " + pids + "; exec sleep 100"),
                           service("b", "echo $$ >> " + pids + "; exec sleep 100")});
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    {
      ks::Daemon daemon{cfg, quiet()};
      ::sleep(100);
    }
    ::_exit(0);
  }
  ASSERT_GT(child, 0);
  std::vector<pid_t> ps;
  bool both = eventually([&] {
    ps.clear();
    std::istringstream in(slurp(pids));
    for (long p = 0; in >> p;) ps.push_back(static_cast<pid_t>(p));
    return ps.size() == 2;
  });
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  int st = 0;
  ASSERT_EQ(::waitpid(child, &st, 0), child);
  ASSERT_TRUE(both);
  for (pid_t p : ps) {
    ASSERT_GT(p, 0);
    EXPECT_TRUE(eventually([&] { return ::kill(p, 0) != 0; }, 5s)) << "service pid " << p << " outlived the daemon";
  }
}

TEST(ServicesDaemon, ReloadAppliesAddedRemovedAndChangedServices) {
  TempDir d;
  const std::string file = d / "services.toml";
  auto write = [&](const std::string& text) { std::ofstream(file) << text; };
  const std::string head = "[supervisor]\nruntime_dir = \"" + (d / "run") + "\"\n";
  write(head + "[services.keep]\ncommand = \"sleep 100\"\n[services.gone]\ncommand = \"sleep 100\"\n"
               "[services.edit]\ncommand = \"sleep 100\"\n");
  ks::Config cfg;
  try {
    cfg = ks::load_config(file);
  } catch (const ks::ConfigError& e) {
    GTEST_SKIP() << "load_config: " << e.what();
  }
  ks::Daemon daemon{cfg, quiet()};
  ASSERT_TRUE(eventually([&] { return one(daemon, "keep").state == "RUNNING" && one(daemon, "edit").state == "RUNNING"; }));
  pid_t keep = one(daemon, "keep").pid, edit = one(daemon, "edit").pid;
  write(head + "[services.keep]\ncommand = \"sleep 100\"\n[services.edit]\ncommand = \"sleep 101\"\n"
               "[services.fresh]\ncommand = \"sleep 100\"\n");
  auto r = daemon.reload();
  EXPECT_EQ(r.added, std::vector<std::string>{"fresh"});
  EXPECT_EQ(r.removed, std::vector<std::string>{"gone"});
  EXPECT_EQ(r.changed, std::vector<std::string>{"edit"});
  EXPECT_EQ(r.unchanged, std::vector<std::string>{"keep"});
  EXPECT_THROW((void)daemon.status("gone"), ks::UnknownService);
  EXPECT_EQ(one(daemon, "keep").pid, keep);
  EXPECT_TRUE(eventually([&] { return one(daemon, "edit").state == "RUNNING" && one(daemon, "edit").pid != edit; }));
  EXPECT_TRUE(eventually([&] { return one(daemon, "fresh").state == "RUNNING"; }));
}

namespace {
ks::GroupConfig group(const std::string& name, std::vector<std::string> services, kin::Strategy strategy) {
  ks::GroupConfig g;
  g.name = name;
  g.services = std::move(services);
  g.strategy = strategy;
  return g;
}

void in_group(ks::Config& c, const ks::GroupConfig& g) {
  for (auto& s : c.services)
    for (auto& n : g.services)
      if (s.name == n) s.group = g.name;
  c.groups.push_back(g);
}

bool has_event(const ks::Daemon& d, const std::string& name, const std::string& event) {
  for (auto& e : d.timeline())
    if (e.name == name && e.event == event) return true;
  return false;
}
}  // namespace

TEST(ServicesDaemon, AOneForAllGroupRestartsEveryMemberWhenOneCrashes) {
  TempDir d;
  auto c = config_in(d, {service("a", "exec sleep 100"), service("b", "exec sleep 100"), service("alone", "exec sleep 100")});
  in_group(c, group("g", {"a", "b"}, kin::one_for_all));
  ks::Daemon daemon{c, quiet()};
  // "alone" is its own unit, started beside the group: wait for it too before reading its pid.
  ASSERT_TRUE(eventually([&] { return one(daemon, "b").state == "RUNNING" && one(daemon, "alone").state == "RUNNING"; }));
  const pid_t a = one(daemon, "a").pid, b = one(daemon, "b").pid, alone = one(daemon, "alone").pid;
  ASSERT_GT(a, 0);
  ASSERT_EQ(::kill(a, SIGKILL), 0);
  EXPECT_TRUE(eventually([&] {
    auto sa = one(daemon, "a"), sb = one(daemon, "b");
    return sa.state == "RUNNING" && sb.state == "RUNNING" && sa.pid != a && sb.pid != b;
  }));
  EXPECT_EQ(one(daemon, "alone").pid, alone);  // outside the group: untouched
  EXPECT_EQ(one(daemon, "a").group, "g");
}

TEST(ServicesDaemon, ARestForOneGroupRestartsTheMembersStartedAfterTheCrash) {
  TempDir d;
  auto c = config_in(d, {service("a", "exec sleep 100"), service("b", "exec sleep 100"), service("c", "exec sleep 100")});
  in_group(c, group("g", {"a", "b", "c"}, kin::rest_for_one));
  ks::Daemon daemon{c, quiet()};
  ASSERT_TRUE(eventually([&] { return one(daemon, "c").state == "RUNNING"; }));
  const pid_t a = one(daemon, "a").pid, b = one(daemon, "b").pid, cc = one(daemon, "c").pid;
  ASSERT_GT(b, 0);
  ASSERT_EQ(::kill(b, SIGKILL), 0);
  EXPECT_TRUE(eventually([&] {
    auto sb = one(daemon, "b"), sc = one(daemon, "c");
    return sb.state == "RUNNING" && sc.state == "RUNNING" && sb.pid != b && sc.pid != cc;
  }));
  EXPECT_EQ(one(daemon, "a").pid, a);
  // One member stopped alone leaves the others be; started again, it joins the group.
  daemon.stop("c");
  EXPECT_EQ(one(daemon, "c").state, "STOPPED");
  EXPECT_EQ(one(daemon, "a").pid, a);
  daemon.start("g");
  EXPECT_TRUE(eventually([&] { return one(daemon, "c").state == "RUNNING"; }));
  EXPECT_EQ(one(daemon, "a").pid, a);
}

TEST(ServicesDaemon, AGroupThatGivesUpTakesAllItsServicesDownAndOnlyThem) {
  TempDir d;
  auto crash = service("crash", "exit 3");
  crash.backoff.initial = 10ms;
  auto c = config_in(d, {service("member", "exec sleep 100"), crash, service("alone", "exec sleep 100")});
  auto g = group("g", {"member", "crash"}, kin::one_for_one);
  g.max_restarts = 2;
  in_group(c, g);
  ks::Daemon daemon{c, quiet()};
  ASSERT_TRUE(eventually([&] { return one(daemon, "crash").state == "FATAL"; }));
  EXPECT_EQ(one(daemon, "member").state, "FATAL");  // the group's supervisor stopped it
  EXPECT_EQ(one(daemon, "member").pid, 0);
  EXPECT_EQ(one(daemon, "alone").state, "RUNNING");
  EXPECT_TRUE(has_event(daemon, "g", "gave_up"));
  EXPECT_FALSE(daemon.gave_up());  // one unit of five allowed
  daemon.start("member");          // a fresh group supervisor
  EXPECT_TRUE(eventually([&] { return one(daemon, "member").state == "RUNNING"; }));
}

TEST(ServicesDaemon, TooManyUnitsGivingUpMakeTheDaemonGiveUp) {
  TempDir d;
  auto crash = service("crash", "exit 3");
  crash.max_restarts = 0;
  auto c = config_in(d, {service("ok", "exec sleep 100"), crash});
  c.supervisor.max_restarts = 0;  // the first unit that gives up escalates
  ks::Daemon daemon{c, quiet()};
  pid_t ok = 0;
  eventually([&] { return (ok = one(daemon, "ok").pid) > 0 || daemon.stopping(); });
  daemon.wait();  // bounded by the ctest timeout; it happens within milliseconds
  EXPECT_TRUE(daemon.gave_up());
  EXPECT_EQ(one(daemon, "ok").state, "STOPPED");
  if (ok > 0) {
    EXPECT_TRUE(eventually([&] { return ::kill(ok, 0) != 0; }));
  }
}

TEST(ServicesDaemon, ShutdownTimeoutBoundsTheWholeStop) {
  TempDir d;
  auto stubborn = service("stubborn", "trap '' TERM; echo armed; while true; do sleep 0.1; done");
  stubborn.stop_timeout = 60000ms;  // alone it would take a minute
  auto c = config_in(d, {stubborn});
  c.supervisor.shutdown_timeout = 500ms;
  ks::Daemon daemon{c, quiet()};
  ASSERT_TRUE(eventually([&] { return daemon.log_tail("stubborn", 1) == std::vector<std::string>{"armed"}; }));
  const pid_t pid = one(daemon, "stubborn").pid;
  ASSERT_GT(pid, 0);
  auto t0 = std::chrono::steady_clock::now();
  daemon.shutdown();
  daemon.wait();
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, 500ms);  // it did ignore SIGTERM
  EXPECT_LT(took, 30s);    // a liveness bound, far below the stop_timeout
  EXPECT_NE(::kill(pid, 0), 0);
}

TEST(ServicesDaemon, StoppingAServiceInBackoffIsOnTheTimeline) {
  TempDir d;
  auto crash = service("crash", "exit 3");
  crash.backoff.initial = 5000ms;  // it waits in BACKOFF after the first exit
  crash.max_restarts = 100;
  ks::Daemon daemon{config_in(d, {crash}), quiet()};
  ASSERT_TRUE(eventually([&] { return one(daemon, "crash").state == "BACKOFF"; }));
  daemon.stop("crash");
  EXPECT_EQ(one(daemon, "crash").state, "STOPPED");
  EXPECT_TRUE(has_event(daemon, "crash", "stopped"));
}
