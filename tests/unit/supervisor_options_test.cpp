// kin::Supervisor beyond its basic tests (supervisor_test.cpp): an external program's
// ProgramOptions end to end, every kind of shutdown and the stop signal reaching the whole
// process group, backoff bounds and reset_after, simple_one_for_one and nested supervisors in
// the strategy x restart x kind matrix, escalation through a nested supervisor, every
// operation as a message to sup.actor(), the reaped-orphan event on the one event path, and
// bad specs at start_child.
#include <kin/supervisor.hpp>  // first: the header is self-contained

#include <kin/errors.hpp>
#include <kin/start_method.hpp>

#include <caf/all.hpp>

#include <gtest/gtest.h>

#include "sanitizer_limits.hpp"
#include "supervisor_test_util.hpp"

#include <signal.h>
#include <unistd.h>

#include <any>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

extern char** environ;

using namespace std::chrono_literals;
using namespace kin_sup_test;

namespace {

// kin::process children are forked beside the actor system's threads.
const bool default_method_chosen = (kin::set_start_method(kin::testing::threaded_fork_method()), true);

using SupervisorOptionsTest = SupervisorFixture;

std::string path_env() {
  const char* p = std::getenv("PATH");
  return p ? p : "/usr/bin:/bin";
}

// ---- kin::program's ProgramOptions ----

TEST_F(SupervisorOptionsTest, ProgramOptionsSetTheWholeEnvironmentTheCwdAndTheOutputFiles) {
  ASSERT_TRUE(default_method_chosen);
  TempDir d;
  fs::create_directory(d.path / "work");
  kin::ProgramOptions po{.env = std::map<std::string, std::string>{{"KIN_T", "hello world"}, {"PATH", path_env()}},
                         .cwd = d / "work",
                         .stdout_file = d / "out.log",
                         .stderr_file = d / "err.log"};
  // Each run appends one "v=" line, its cwd and its environment, and a line on stderr.
  const std::string script = "echo \"v=$KIN_T\"; pwd; env > env.txt; echo oops >&2; exec sleep 100";
  kin::Supervisor sup{sys, opts()};
  sup.start_child({.id = "p", .start = kin::program({"sh", "-c", script}, po), .shutdown = 2s});
  ASSERT_TRUE(eventually([&] { return slurp(d / "err.log").find("oops") != std::string::npos; }));
  const auto c = info(sup, "p");
  ASSERT_GT(c.pid, 0);
  ::kill(c.pid, SIGKILL);  // a second run must append, not truncate
  ASSERT_TRUE(eventually([&] { return replaced(sup, "p", c.pid); }));
  ASSERT_TRUE(eventually([&] { return lines_in(d / "err.log") == 2; }));
  EXPECT_EQ(slurp(d / "out.log"), "v=hello world\n" + d / "work" + "\nv=hello world\n" + d / "work" + "\n");
  EXPECT_EQ(slurp(d / "err.log"), "oops\noops\n");
  EXPECT_FALSE(fs::exists(d / "env.txt"));  // written in the cwd, not ours
  const std::string env = slurp(d / "work/env.txt");
  EXPECT_NE(env.find("KIN_T=hello world\n"), std::string::npos);
  // The whole environment: nothing of the supervisor's own leaks in (the shell adds PWD & co).
  int ours = 0;
  for (char** e = environ; e && *e; ++e) {
    const std::string var(*e);
    const std::string name = var.substr(0, var.find('='));
    if (name == "PATH" || name == "PWD" || name == "SHLVL" || name == "_" || name == "OLDPWD") continue;
    ++ours;
    EXPECT_EQ(env.find(name + "="), std::string::npos) << name << " leaked into the child's environment";
  }
  EXPECT_GT(ours, 0);  // KIN_SHM_PREFIX at least (tests/support/main.cpp exports it)
  const auto mode = fs::status(d / "out.log").permissions();
  EXPECT_EQ(mode & fs::perms::others_write, fs::perms::none);
}

TEST_F(SupervisorOptionsTest, AProgramWithoutOptionsInheritsTheEnvironmentAndOutput) {
  const char* prefix = std::getenv("KIN_SHM_PREFIX");
  ASSERT_NE(prefix, nullptr);
  TempDir d;
  kin::Supervisor sup{sys, opts()};
  sup.start_child({.id = "p",
                   .start = kin::program({"sh", "-c", "echo \"$KIN_SHM_PREFIX\" > " + d / "env" + "; pwd > " + d / "cwd"}),
                   .restart = kin::temporary});
  ASSERT_TRUE(eventually([&] { return !has_child(sup, "p"); }));
  EXPECT_EQ(slurp(d / "env"), std::string(prefix) + "\n");
  EXPECT_EQ(fs::canonical(fs::path(slurp(d / "cwd").substr(0, slurp(d / "cwd").size() - 1))), fs::current_path());
}

TEST_F(SupervisorOptionsTest, ABadCwdOrOutputFileIsAnErrorOfStartChild) {
  TempDir d;
  kin::Supervisor sup{sys, opts(), {sleeper("a")}};
  const pid_t a = info(sup, "a").pid;
  try {
    sup.start_child({.id = "cwd", .start = kin::program({"true"}, {.cwd = d / "missing"})});
    ADD_FAILURE() << "no error";
  } catch (const kin::OSError& e) {
    EXPECT_EQ(e.error_code(), ENOENT);
    EXPECT_NE(std::string(e.what()).find("cwd " + d / "missing"), std::string::npos) << e.what();
  }
  try {
    sup.start_child({.id = "out", .start = kin::program({"true"}, {.stdout_file = d / "no/dir/out.log"})});
    ADD_FAILURE() << "no error";
  } catch (const kin::OSError& e) {
    EXPECT_EQ(e.error_code(), ENOENT);
    EXPECT_NE(std::string(e.what()).find(d / "no/dir/out.log"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(has_child(sup, "cwd"));
  EXPECT_FALSE(has_child(sup, "out"));
  EXPECT_EQ(info(sup, "a").pid, a);
  EXPECT_EQ(sup.count_children().active, 1);
}

// ---- shutdown ----

TEST_F(SupervisorOptionsTest, BrutalKillSendsSigkillToTheGroupAtOnce) {
  TempDir d;
  kin::Supervisor sup{sys, opts()};
  // A TERM would run the trap and exit 0; SIGKILL cannot be caught.
  sup.start_child({.id = "b",
                   .start = kin::program({"sh", "-c", "trap 'touch " + d / "termed" + "; exit 0' TERM; sleep 100 & echo $! > " +
                                                          d / "gc" + "; while :; do sleep 0.05; done"}),
                   .shutdown = kin::brutal_kill});
  const pid_t gc = pid_in(d / "gc");
  ASSERT_GT(gc, 0);
  ASSERT_FALSE(not_running(gc));
  sup.terminate_child("b");
  const auto c = info(sup, "b");
  EXPECT_EQ(c.state, kin::ChildState::stopped);
  ASSERT_TRUE(c.last_exit);
  EXPECT_EQ(c.last_exit->signal(), SIGKILL);
  EXPECT_FALSE(fs::exists(d / "termed"));
  EXPECT_TRUE(eventually([&] { return not_running(gc); }, 5s));  // the grandchild too
}

TEST_F(SupervisorOptionsTest, InfinityWaitsAsLongAsTheChildTakes) {
  TempDir d;
  kin::Supervisor sup{sys, opts()};
  // After TERM it takes 6 s, longer than a worker's default 5 s, then exits 4 on its own.
  sup.start_child({.id = "slow",
                   .start = kin::program({"sh", "-c", "trap 'touch " + d / "termed" + "; sleep 6; exit 4' TERM; touch " +
                                                          d / "up" + "; while :; do sleep 0.05; done"}),
                   .shutdown = kin::infinity});
  ASSERT_TRUE(eventually([&] { return fs::exists(d / "up"); }));
  const auto t0 = std::chrono::steady_clock::now();
  std::thread stopper([&] { sup.terminate_child("slow"); });
  // The supervisor keeps answering while it waits.
  EXPECT_TRUE(eventually([&] { return info(sup, "slow").state == kin::ChildState::stopping; }, 5s));
  EXPECT_TRUE(eventually([&] { return fs::exists(d / "termed"); }, 5s));
  stopper.join();
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, 5500ms);
  EXPECT_LT(took, 30s);
  const auto c = info(sup, "slow");
  ASSERT_TRUE(c.last_exit);
  EXPECT_EQ(c.last_exit->code(), 4);  // ended by itself: never SIGKILLed
}

TEST_F(SupervisorOptionsTest, ADurationKillsTheWholeGroupOfAChildIgnoringSigterm) {
  TempDir d;
  kin::Supervisor sup{sys, opts()};
  // The ignored TERM is inherited by the grandchild: only the group's SIGKILL ends it.
  sup.start_child({.id = "stubborn",
                   .start = kin::program({"sh", "-c", "trap '' TERM; sleep 100 & echo $! > " + d / "gc" +
                                                          "; while :; do sleep 0.05; done"}),
                   .shutdown = 300ms});
  const pid_t gc = pid_in(d / "gc");
  ASSERT_GT(gc, 0);
  const auto t0 = std::chrono::steady_clock::now();
  sup.terminate_child("stubborn");
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 10s);
  const auto c = info(sup, "stubborn");
  ASSERT_TRUE(c.last_exit);
  EXPECT_EQ(c.last_exit->signal(), SIGKILL);
  EXPECT_TRUE(eventually([&] { return not_running(gc); }, 5s));
}

TEST_F(SupervisorOptionsTest, TheConfiguredStopSignalReachesTheWholeGroup) {
  TempDir d;
  kin::Supervisor sup{sys, opts()};
  const std::string inner = "trap 'echo usr1 > " + d / "gc_got" + "; exit 0' USR1; while :; do sleep 0.05; done";
  sup.start_child({.id = "u",
                   .start = kin::program({"sh", "-c", "trap 'echo usr1 > " + d / "got" + "; exit 0' USR1; trap 'echo term > " +
                                                          d / "got" + "; exit 0' TERM; sh -c \"" + inner + "\" & echo $! > " +
                                                          d / "gc" + "; while :; do sleep 0.05; done"}),
                   .shutdown = 5s,
                   .stop_signal = SIGUSR1});
  const pid_t gc = pid_in(d / "gc");
  ASSERT_GT(gc, 0);
  std::this_thread::sleep_for(200ms);  // let the grandchild shell install its trap
  sup.terminate_child("u");
  EXPECT_EQ(slurp(d / "got"), "usr1\n");
  const auto c = info(sup, "u");
  ASSERT_TRUE(c.last_exit);
  EXPECT_EQ(c.last_exit->code(), 0);  // its trap ran: the configured signal, not SIGKILL
  EXPECT_TRUE(eventually([&] { return slurp(d / "gc_got") == "usr1\n"; }, 5s));
  EXPECT_TRUE(eventually([&] { return not_running(gc); }, 5s));
}

// A kin::process child with a grandchild (an exec'd sleep) in its process group.
int fork_a_grandchild(std::string pid_file) {
  const pid_t g = ::fork();
  if (g == 0) {
    ::execlp("sleep", "sleep", "100", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  std::ofstream(pid_file) << g << "\n";
  for (;;) ::pause();
}

TEST_F(SupervisorOptionsTest, StoppingAProcessChildSignalsItsGroupWithTheStopSignal) {
  TempDir d;
  kin::Supervisor sup{sys, opts()};
  sup.start_child({.id = "proc", .start = kin::process(fork_a_grandchild, d / "gc"), .shutdown = 5s, .stop_signal = SIGUSR1});
  const pid_t gc = pid_in(d / "gc");
  ASSERT_GT(gc, 0);
  const pid_t pid = info(sup, "proc").pid;
  ASSERT_GT(pid, 0);
  EXPECT_EQ(::getpgid(gc), pid);
  sup.terminate_child("proc");
  const auto c = info(sup, "proc");
  ASSERT_TRUE(c.last_exit);
  EXPECT_EQ(c.last_exit->signal(), SIGUSR1);
  EXPECT_TRUE(eventually([&] { return not_running(gc); }, 5s));
}

// ---- backoff ----

// Log lines with the time they were written (synchronously, as the supervisor emits).
struct TimedLog {
  std::shared_ptr<std::mutex> mu = std::make_shared<std::mutex>();
  std::shared_ptr<std::vector<std::pair<std::chrono::steady_clock::time_point, std::string>>> lines =
      std::make_shared<std::vector<std::pair<std::chrono::steady_clock::time_point, std::string>>>();
  std::function<void(const std::string&)> sink() {
    return [mu = mu, lines = lines](const std::string& l) {
      std::lock_guard lk(*mu);
      lines->emplace_back(std::chrono::steady_clock::now(), l);
    };
  }
  std::vector<std::chrono::steady_clock::time_point> times(const std::string& needle) {
    std::lock_guard lk(*mu);
    std::vector<std::chrono::steady_clock::time_point> r;
    for (auto& [t, l] : *lines)
      if (l.find(needle) != std::string::npos) r.push_back(t);
    return r;
  }
};

TEST_F(SupervisorOptionsTest, BackoffStartsOverFromInitialAfterAStablePeriod) {
  TempDir d;
  TimedLog tl;
  kin::Supervisor sup{sys, kin::SupervisorOptions{.intensity = 20, .period = 60s, .log = tl.sink()}};
  caf::scoped_actor self{sys};
  sup.subscribe(self);
  // Runs 0 and 1 fail at once, run 2 fails after 1 s (longer than reset_after), run 3 stays.
  const std::string n = d / "n";
  const std::string script = "n=$(cat " + n + " 2>/dev/null || echo 0); echo $((n+1)) > " + n +
                             "; [ $n -ge 3 ] && exec sleep 100; [ $n -eq 2 ] && sleep 1; exit 1";
  sup.start_child({.id = "b",
                   .start = kin::program({"sh", "-c", script}),
                   .shutdown = 2s,
                   .backoff = {.initial = 100ms, .max = 5s, .factor = 4.0, .reset_after = 600ms}});
  auto ev = receive_events(self, [](auto& v) { return count_kind(v, kin::EventKind::started) >= 4; }, 20s);
  sup.unsubscribe(self);
  std::vector<long> delays;
  for (auto& e : ev)
    if (e.kind == kin::EventKind::backoff) delays.push_back(static_cast<long>(e.delay.count()));
  // Without reset_after the third would be 1600.
  EXPECT_EQ(delays, (std::vector<long>{100, 400, 100}));
  const auto backoffs = tl.times("event=backoff child=b");
  const auto starts = tl.times("event=started child=b");
  ASSERT_EQ(backoffs.size(), 3u);
  ASSERT_EQ(starts.size(), 4u);
  for (std::size_t i = 0; i < 3; ++i) {
    const auto waited = starts[i + 1] - backoffs[i];
    EXPECT_GE(waited, std::chrono::milliseconds(delays[i]) - 5ms) << i;  // never earlier than the delay
    EXPECT_LT(waited, std::chrono::milliseconds(delays[i]) + 5s) << i;   // and not forever
  }
  EXPECT_EQ(info(sup, "b").restarts, 3);
}

TEST_F(SupervisorOptionsTest, BackoffUnderRestForOneHoldsUpTheGroup) {
  TempDir d;
  TimedLog tl;
  kin::Supervisor sup{sys, kin::SupervisorOptions{.strategy = kin::rest_for_one, .intensity = 10, .period = 60s, .log = tl.sink()}};
  sup.start_child(sleeper("a"));
  sup.start_child({.id = "b", .start = kin::program({"sleep", "100"}), .shutdown = 2s, .backoff = {.initial = 300ms}});
  sup.start_child(sleeper("c"));
  const pid_t a = info(sup, "a").pid, b = info(sup, "b").pid, c = info(sup, "c").pid;
  ASSERT_TRUE(a > 0 && b > 0 && c > 0);
  ::kill(b, SIGKILL);
  ASSERT_TRUE(eventually([&] { return replaced(sup, "b", b) && replaced(sup, "c", c); }));
  const auto b_exit = tl.times("event=exited child=b");
  const auto b_start = tl.times("event=started child=b");
  const auto c_start = tl.times("event=started child=c");
  ASSERT_EQ(b_exit.size(), 1u);
  ASSERT_EQ(b_start.size(), 2u);
  ASSERT_EQ(c_start.size(), 2u);
  EXPECT_GE(b_start[1] - b_exit[0], 295ms);
  EXPECT_LT(b_start[1] - b_exit[0], 10s);
  EXPECT_GE(c_start[1], b_start[1]);  // in order, after the wait
  EXPECT_EQ(info(sup, "a").pid, a);
}

// ---- the matrix, continued: simple_one_for_one and nested supervisors ----

void idle_forever() {
  for (;;) ::pause();
}

caf::behavior fragile(caf::event_based_actor* self) {
  return {[=](const std::string& s) {
    if (s == "die") self->quit(caf::make_error(caf::sec::runtime_error, "asked to"));
    return s;
  }};
}

caf::behavior echo_actor(caf::event_based_actor*) {
  return {[](const std::string& s) { return s; }};
}

std::vector<kin::ChildInfo> which_of(caf::scoped_actor& self, const caf::actor& sup) {
  std::vector<kin::ChildInfo> kids;
  self->request(sup, 10s, kin::supervisor_atoms::which_atom::value)
      .receive([&](std::vector<kin::ChildInfo>& v) { kids = std::move(v); }, [](caf::error&) {});
  return kids;
}

enum class Kind { process, program, thread_actor, process_actor, supervisor };

struct Case {
  kin::Strategy strategy;
  kin::Restart restart;
  Kind kind;
};

std::string case_name(const ::testing::TestParamInfo<Case>& i) {
  const char* s[] = {"one_for_one", "one_for_all", "rest_for_one", "simple_one_for_one"};
  const char* r[] = {"permanent", "transient", "temporary"};
  const char* k[] = {"process", "program", "thread_actor", "process_actor", "supervisor"};
  return std::string(s[static_cast<int>(i.param.strategy)]) + "_" + r[static_cast<int>(i.param.restart)] + "_" +
         k[static_cast<int>(i.param.kind)];
}

class SupervisorMatrixMore : public SupervisorFixture, public ::testing::WithParamInterface<Case> {
 protected:
  kin::ChildStart start_of(Kind k) {
    switch (k) {
      case Kind::process: return kin::process(idle_forever);
      case Kind::program: return kin::program({"sleep", "100"});
      case Kind::thread_actor: return kin::thread_actor(fragile);
      case Kind::process_actor: return kin::process_actor(echo_actor);
      case Kind::supervisor:
        return kin::supervisor(kin::SupervisorOptions{.name = "inner", .log = log.sink()}, {sleeper("inner")});
    }
    return {};
  }
  // An abnormal end: SIGKILL for processes, a crash or kill for actors and supervisors.
  static void crash(const kin::ChildInfo& x, Kind k) {
    switch (k) {
      case Kind::process:
      case Kind::program: ASSERT_GT(x.pid, 0); ::kill(x.pid, SIGKILL); break;
      case Kind::thread_actor: caf::anon_send(x.actor, std::string("die")); break;
      case Kind::process_actor:
      case Kind::supervisor: caf::anon_send_exit(x.actor, caf::exit_reason::kill); break;
    }
  }
};

TEST_P(SupervisorMatrixMore, AnAbnormalExitOfTheMiddleChild) {
  const Case p = GetParam();
  const bool simple = p.strategy == kin::simple_one_for_one;
  std::vector<kin::ChildSpec> specs;
  std::string a_id = "a", x_id = "x", c_id = "c";
  if (simple) {
    specs.push_back({.id = "t", .start = start_of(p.kind), .restart = p.restart, .shutdown = 2s});
  } else {
    specs = {sleeper("a"), {.id = "x", .start = start_of(p.kind), .restart = p.restart, .shutdown = 2s}, sleeper("c")};
  }
  kin::Supervisor sup{sys, opts(p.strategy), std::move(specs)};
  if (simple) {
    a_id = sup.start_child();
    x_id = sup.start_child();
    c_id = sup.start_child();
    EXPECT_EQ(x_id, "t-2");
  }
  const auto a = info(sup, a_id), c = info(sup, c_id), x = info(sup, x_id);
  ASSERT_EQ(x.state, kin::ChildState::running);
  if (p.kind == Kind::supervisor) {
    EXPECT_EQ(x.type, kin::ChildType::supervisor);
    ASSERT_TRUE(x.actor);
  }
  pid_t inner_pid = 0;
  caf::scoped_actor self{sys};
  if (p.kind == Kind::supervisor) {
    auto kids = which_of(self, x.actor);
    ASSERT_EQ(kids.size(), 1u);
    inner_pid = kids[0].pid;
    ASSERT_GT(inner_pid, 0);
  }
  crash(x, p.kind);
  if (p.restart == kin::temporary) {
    ASSERT_TRUE(eventually([&] { return !has_child(sup, x_id); }));
  } else {
    ASSERT_TRUE(eventually([&] {
      auto n = info(sup, x_id);
      return n.restarts == 1 && n.state == kin::ChildState::running;
    }));
    auto n = info(sup, x_id);
    if (p.kind == Kind::process || p.kind == Kind::program) {
      EXPECT_NE(n.pid, x.pid);
      ASSERT_TRUE(n.last_exit);
      EXPECT_EQ(n.last_exit->signal(), SIGKILL);
    } else {
      EXPECT_NE(n.actor, x.actor);
    }
    if (p.kind == Kind::supervisor) {  // the new nested supervisor started its own child again
      auto kids = which_of(self, n.actor);
      ASSERT_EQ(kids.size(), 1u);
      EXPECT_EQ(kids[0].state, kin::ChildState::running);
      EXPECT_GT(kids[0].pid, 0);
      EXPECT_NE(kids[0].pid, inner_pid);
    }
  }
  if (p.kind == Kind::supervisor) {
    EXPECT_TRUE(eventually([&] { return not_running(inner_pid); }, 5s));  // killed with its supervisor
  }
  const bool group = p.restart != kin::temporary;
  const bool a_restarts = group && p.strategy == kin::one_for_all;
  const bool c_restarts = group && (p.strategy == kin::one_for_all || p.strategy == kin::rest_for_one);
  if (a_restarts) {
    EXPECT_TRUE(eventually([&] { return replaced(sup, a_id, a.pid); }));
  }
  if (c_restarts) {
    EXPECT_TRUE(eventually([&] { return replaced(sup, c_id, c.pid); }));
  }
  std::this_thread::sleep_for(50ms);
  if (!a_restarts) {
    EXPECT_EQ(info(sup, a_id).restarts, 0);
    EXPECT_EQ(info(sup, a_id).pid, a.pid);
    EXPECT_EQ(info(sup, a_id).actor, a.actor);
  }
  if (!c_restarts) {
    EXPECT_EQ(info(sup, c_id).restarts, 0);
    EXPECT_EQ(info(sup, c_id).pid, c.pid);
    EXPECT_EQ(info(sup, c_id).actor, c.actor);
  }
  EXPECT_EQ(log.count("event=gave_up"), 0);
}

std::vector<Case> more_cases() {
  std::vector<Case> v;
  for (auto r : {kin::permanent, kin::transient, kin::temporary}) {
    for (auto k : {Kind::process, Kind::program, Kind::thread_actor, Kind::process_actor, Kind::supervisor})
      v.push_back({kin::simple_one_for_one, r, k});
    for (auto s : {kin::one_for_one, kin::one_for_all, kin::rest_for_one}) v.push_back({s, r, Kind::supervisor});
  }
  return v;
}

INSTANTIATE_TEST_SUITE_P(More, SupervisorMatrixMore, ::testing::ValuesIn(more_cases()), case_name);

// ---- escalation through a nested supervisor ----

// Kills the nested supervisor's child `id` twice (each time after its replacement is up).
void kill_inner_twice(caf::scoped_actor& self, const caf::actor& inner, const std::string& id) {
  pid_t last = 0;
  for (int i = 0; i < 2; ++i) {
    pid_t pid = 0;
    ASSERT_TRUE(eventually([&] {
      for (auto& k : which_of(self, inner))
        if (k.id == id && k.state == kin::ChildState::running && k.pid > 0 && k.pid != last) pid = k.pid;
      return pid > 0;
    }));
    ::kill(pid, SIGKILL);
    last = pid;
  }
}

TEST_F(SupervisorOptionsTest, ANestedSupervisorPastItsIntensityIsRestartedByItsParent) {
  kin::Supervisor sup{sys, kin::SupervisorOptions{.intensity = 5, .period = 30s, .name = "root", .log = log.sink()}};
  sup.start_child(sleeper("sibling"));
  const pid_t sibling = info(sup, "sibling").pid;
  auto inner = kin::SupervisorOptions{.intensity = 1, .period = 30s, .name = "inner", .log = log.sink()};
  sup.start_child({.id = "tree", .start = kin::supervisor(inner, {sleeper("w")})});
  const auto tree = info(sup, "tree");
  ASSERT_TRUE(tree.actor);
  caf::scoped_actor self{sys};
  self->monitor(tree.actor);
  kill_inner_twice(self, tree.actor, "w");
  caf::error reason;
  bool down = false;
  self->receive([&](const caf::down_msg& dm) { down = true; reason = dm.reason; }, caf::after(20s) >> [] {});
  ASSERT_TRUE(down);
  EXPECT_EQ(reason, caf::exit_reason::user_shutdown);  // OTP's shutdown
  EXPECT_TRUE(eventually([&] { return log.count("sup=root event=exited child=tree") == 1; }));
  EXPECT_EQ(log.count("sup=inner event=gave_up"), 1);
  // The parent sees a child's exit and restarts it (permanent): a new tree with a new w.
  ASSERT_TRUE(eventually([&] {
    auto t = info(sup, "tree");
    return t.restarts == 1 && t.state == kin::ChildState::running && t.actor && t.actor != tree.actor;
  }));
  EXPECT_EQ(info(sup, "tree").last_reason, "shutdown");
  auto kids = which_of(self, info(sup, "tree").actor);
  ASSERT_EQ(kids.size(), 1u);
  EXPECT_EQ(kids[0].state, kin::ChildState::running);
  EXPECT_EQ(kids[0].restarts, 0);  // a fresh supervisor: its counts start over
  EXPECT_EQ(info(sup, "sibling").pid, sibling);
  EXPECT_EQ(log.count("sup=root event=gave_up"), 0);
}

TEST_F(SupervisorOptionsTest, ATransientNestedSupervisorThatGivesUpIsNotRestarted) {
  kin::Supervisor sup{sys, kin::SupervisorOptions{.intensity = 5, .period = 30s, .name = "root", .log = log.sink()}};
  auto inner = kin::SupervisorOptions{.intensity = 1, .period = 30s, .name = "inner", .log = log.sink()};
  sup.start_child({.id = "tree", .start = kin::supervisor(inner, {sleeper("w")}), .restart = kin::transient});
  const auto tree = info(sup, "tree");
  caf::scoped_actor self{sys};
  kill_inner_twice(self, tree.actor, "w");
  // shutdown is a normal end in OTP's sense: a transient child stays stopped.
  ASSERT_TRUE(eventually([&] { return info(sup, "tree").state == kin::ChildState::stopped; }));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(info(sup, "tree").restarts, 0);
  EXPECT_EQ(info(sup, "tree").state, kin::ChildState::stopped);
  EXPECT_EQ(log.count("sup=root event=restarting"), 0);
}

// ---- every operation as a message to sup.actor() ----

namespace sa = kin::supervisor_atoms;

// The text of an error reply (what the C++ call would throw).
std::string what_of(const caf::error& e) {
  const caf::message& ctx = e.context();
  if (ctx.match_elements<std::string, std::int32_t, std::string>()) return ctx.get_as<std::string>(2);
  return {};
}

TEST_F(SupervisorOptionsTest, EveryOperationIsAMessageToTheActor) {
  kin::Supervisor sup{sys, opts()};
  caf::scoped_actor self{sys};
  const caf::actor a = sup.actor();
  auto ask_id = [&](auto... xs) {
    std::string r;
    self->request(a, 10s, xs...).receive([&](std::string& s) { r = s; }, [&](caf::error& e) { r = "error: " + what_of(e); });
    return r;
  };
  auto ask_ok = [&](auto... xs) {
    std::string r;
    self->request(a, 10s, xs...).receive([&](caf::ok_atom) { r = "ok"; }, [&](caf::error& e) { r = "error: " + what_of(e); });
    return r;
  };
  auto counts = [&] {
    kin::ChildCounts n{-1, -1, -1, -1};
    self->request(a, 10s, sa::count_atom::value).receive([&](kin::ChildCounts& c) { n = c; }, [](caf::error&) {});
    return n;
  };
  // subscribe: events arrive as messages
  self->send(a, sa::subscribe_atom::value, caf::actor_cast<caf::actor>(self));
  EXPECT_EQ(ask_id(sa::start_atom::value, sleeper("m")), "m");
  auto ev = receive_events(self, [](auto& v) { return count_kind(v, kin::EventKind::started, "m") == 1; }, 5s);
  EXPECT_EQ(count_kind(ev, kin::EventKind::started, "m"), 1);
  auto kids = which_of(self, a);
  ASSERT_EQ(kids.size(), 1u);
  const pid_t first = kids[0].pid;
  ASSERT_GT(first, 0);
  auto n = counts();
  EXPECT_EQ(n.specs, 1);
  EXPECT_EQ(n.active, 1);
  EXPECT_EQ(n.workers, 1);
  EXPECT_EQ(n.supervisors, 0);
  // restart_child of a running child: stopped and started again; the reply is its id
  EXPECT_EQ(ask_id(sa::restart_atom::value, std::string("m")), "m");
  kids = which_of(self, a);
  ASSERT_EQ(kids.size(), 1u);
  EXPECT_NE(kids[0].pid, first);
  EXPECT_EQ(kids[0].state, kin::ChildState::running);
  EXPECT_EQ(ask_ok(sa::delete_atom::value, std::string("m")), "error: kin::Supervisor::delete_child: \"m\" is running");
  EXPECT_EQ(ask_ok(sa::terminate_atom::value, std::string("m")), "ok");
  EXPECT_EQ(counts().active, 0);
  EXPECT_EQ(counts().specs, 1);
  EXPECT_EQ(ask_id(sa::restart_atom::value, std::string("m")), "m");  // a stopped child starts again
  EXPECT_EQ(counts().active, 1);
  EXPECT_EQ(ask_ok(sa::terminate_atom::value, std::string("m")), "ok");
  EXPECT_EQ(ask_ok(sa::delete_atom::value, std::string("m")), "ok");
  EXPECT_EQ(counts().specs, 0);
  EXPECT_TRUE(which_of(self, a).empty());
  EXPECT_EQ(ask_ok(sa::terminate_atom::value, std::string("nobody")), "error: kin::Supervisor: no child \"nobody\"");
  EXPECT_EQ(ask_id(sa::restart_atom::value, std::string("nobody")), "error: kin::Supervisor: no child \"nobody\"");
  EXPECT_EQ(ask_id(sa::start_args_atom::value, std::any(std::tuple<>())),
            "error: kin::Supervisor: start_child(args...) needs simple_one_for_one");
  // unsubscribe: no more events
  self->send(a, sa::unsubscribe_atom::value, caf::actor_cast<caf::actor>(self));
  EXPECT_EQ(ask_id(sa::start_atom::value, sleeper("quiet")), "quiet");
  ev = receive_events(self, [](auto&) { return false; }, 300ms);
  EXPECT_EQ(count_kind(ev, kin::EventKind::started, "quiet"), 0);

  // start_args_atom on a simple_one_for_one supervisor
  kin::Supervisor simple{sys, opts(kin::simple_one_for_one),
                         {{.id = "sl", .start = kin::program({"sleep"}), .restart = kin::temporary, .shutdown = 2s}}};
  std::string id;
  self->request(simple.actor(), 10s, sa::start_args_atom::value, std::any(std::tuple<std::string>("100")))
      .receive([&](std::string& s) { id = s; }, [](caf::error&) {});
  EXPECT_EQ(id, "sl-1");
  EXPECT_EQ(info(simple, "sl-1").state, kin::ChildState::running);
  EXPECT_EQ(ask_id(sa::start_atom::value, sleeper("late")), "late");  // the first supervisor still answers
}

// ---- events: the reaped orphan on the same path as every other event ----

TEST_F(SupervisorOptionsTest, AReapedOrphanIsAnEventForSubscribersAndTheLog) {
  TempDir d;
  auto o = opts();
  o.reap_orphans = true;
  kin::Supervisor sup{sys, o};
  caf::scoped_actor self{sys};
  sup.subscribe(self);
  sup.start_child({.id = "forker",
                   .start = kin::program({"sh", "-c", "sleep 0.3 & echo $! > " + d / "gc" + "; exit 0"}),
                   .restart = kin::temporary});
  const pid_t gc = pid_in(d / "gc");
  ASSERT_GT(gc, 0);
  auto ev = receive_events(self, [](auto& v) { return count_kind(v, kin::EventKind::reaped_orphan) > 0; }, 10s);
  sup.unsubscribe(self);
  const kin::SupervisorEvent* orphan = nullptr;
  pid_t forker = 0;
  for (auto& e : ev) {
    if (e.kind == kin::EventKind::reaped_orphan) orphan = &e;
    if (e.kind == kin::EventKind::started) forker = e.pid;
  }
  ASSERT_NE(orphan, nullptr);
  EXPECT_EQ(orphan->pid, gc);
  EXPECT_EQ(orphan->supervisor, "supervisor");
  EXPECT_TRUE(orphan->child.empty());
  ASSERT_GT(forker, 0);
  EXPECT_EQ(orphan->group, forker);
  ASSERT_TRUE(orphan->status);
  EXPECT_EQ(orphan->status->code(), 0);  // sleep 0.3 ended by itself
  EXPECT_EQ(log.count("event=reaped_orphan pid=" + std::to_string(gc) + " status=\"exit 0\" group=" + std::to_string(forker)), 1);
  EXPECT_EQ(kin::to_string(kin::EventKind::reaped_orphan), "reaped_orphan");
}

TEST_F(SupervisorOptionsTest, WithoutALogSinkEveryEventIncludingAReapedOrphanIsALineOnStderr) {
  TempDir d;
  ::testing::internal::CaptureStderr();
  {
    kin::Supervisor sup{sys, kin::SupervisorOptions{.name = "plain", .reap_orphans = true}};
    sup.start_child({.id = "forker",
                     .start = kin::program({"sh", "-c", "sleep 0.2 & echo $! > " + d / "gc" + "; exit 0"}),
                     .restart = kin::temporary});
    const pid_t gc = pid_in(d / "gc");
    EXPECT_GT(gc, 0);
    EXPECT_TRUE(eventually([&] { return gc > 0 && !exists(gc); }, 10s));  // reaped by the supervisor
  }
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("kin.supervisor sup=plain event=started child=forker"), std::string::npos) << err;
  EXPECT_NE(err.find("kin.supervisor sup=plain event=exited child=forker"), std::string::npos) << err;
  EXPECT_NE(err.find("kin.supervisor sup=plain event=reaped_orphan pid="), std::string::npos) << err;
}

// ---- bad specs at start_child ----

TEST_F(SupervisorOptionsTest, BadSpecsAreClearErrorsAtStartChildAndTheOthersStay) {
  kin::Supervisor sup{sys, opts(), {sleeper("a"), {.id = "t", .start = kin::thread_actor(echo_actor)}}};
  const pid_t a = info(sup, "a").pid;
  const caf::actor t = info(sup, "t").actor;
  auto expect_value_error = [&](kin::ChildSpec spec, const std::string& needle) {
    try {
      sup.start_child(std::move(spec));
      ADD_FAILURE() << "no error for " << needle;
    } catch (const kin::ValueError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_value_error(sleeper("a"), "duplicate id \"a\"");
  expect_value_error({.id = "e", .start = kin::program({})}, "\"e\": empty argv");
  expect_value_error({.id = "neg", .start = kin::program({"true"}), .shutdown = -1s}, "\"neg\": negative shutdown");
  expect_value_error({.id = "sig", .start = kin::program({"true"}), .stop_signal = 0}, "\"sig\": bad stop_signal");
  expect_value_error({.id = "bo", .start = kin::program({"true"}), .backoff = {.initial = 2s, .max = 1s}}, "\"bo\": bad backoff");
  expect_value_error({.id = "fd", .start = kin::process(idle_forever), .readiness = {.by = kin::ReadyBy::fd}},
                     "\"fd\": fd readiness needs a program");
  // A nested supervisor whose own specs are bad fails its start, with the reason.
  expect_value_error({.id = "tree", .start = kin::supervisor(kin::SupervisorOptions{.log = log.sink()}, {sleeper("w"), sleeper("w")})},
                     "ended before it was ready: kin::ChildSpec: duplicate id \"w\"");
  expect_value_error({.id = "tree2", .start = kin::supervisor(kin::SupervisorOptions{.log = log.sink()},
                                                               {{.id = "x", .start = kin::program({"/no/such/program-kin"})}})},
                     "ended before it was ready: kin::ChildSpec \"x\": no executable program \"/no/such/program-kin\"");
  // A program that does not exist.
  try {
    sup.start_child({.id = "x", .start = kin::program({"no-such-program-kin"})});
    ADD_FAILURE() << "no error";
  } catch (const kin::OSError& e) {
    EXPECT_EQ(e.error_code(), ENOENT);
    EXPECT_NE(std::string(e.what()).find("no-such-program-kin"), std::string::npos) << e.what();
  }
  // A negative intensity: a nested supervisor's spec cannot even be made, nor a supervisor.
  try {
    (void)kin::supervisor(kin::SupervisorOptions{.intensity = -1}, {sleeper("w")});
    ADD_FAILURE() << "no error";
  } catch (const kin::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("negative intensity"), std::string::npos) << e.what();
  }
  EXPECT_THROW((kin::Supervisor{sys, kin::SupervisorOptions{.intensity = -1, .log = log.sink()}, {sleeper("z")}}),
               kin::ValueError);
  EXPECT_THROW((kin::Supervisor{sys, kin::SupervisorOptions{.period = 0s, .log = log.sink()}}), kin::ValueError);
  auto kids = sup.which_children();
  ASSERT_EQ(kids.size(), 2u);
  EXPECT_EQ(info(sup, "a").pid, a);
  EXPECT_EQ(info(sup, "a").state, kin::ChildState::running);
  EXPECT_EQ(info(sup, "t").actor, t);
  EXPECT_EQ(sup.count_children().active, 2);
  EXPECT_EQ(info(sup, "a").restarts, 0);
}

TEST_F(SupervisorOptionsTest, BadDynamicChildrenOfASimpleOneForOneAreErrorsAtStartChild) {
  kin::Supervisor sup{sys, opts(kin::simple_one_for_one),
                      {{.id = "p", .start = kin::program({"/no/such/program-kin"}), .restart = kin::temporary}}};
  try {
    (void)sup.start_child("x");
    ADD_FAILURE() << "no error";
  } catch (const kin::OSError& e) {
    EXPECT_EQ(e.error_code(), ENOENT);
  }
  kin::Supervisor actors{sys, opts(kin::simple_one_for_one),
                         {{.id = "t", .start = kin::thread_actor(echo_actor), .readiness = {.by = kin::ReadyBy::notify}}}};
  try {
    (void)actors.start_child();
    ADD_FAILURE() << "no error";
  } catch (const kin::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("readiness needs a process or program child"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(sup.which_children().empty());
  EXPECT_TRUE(actors.which_children().empty());
  kin::Supervisor good{sys, opts(kin::simple_one_for_one), {sleeper("s")}};
  const auto s1 = good.start_child();
  EXPECT_THROW((void)good.start_child(1, 2), kin::ValueError);  // a program takes strings
  EXPECT_EQ(info(good, s1).state, kin::ChildState::running);
  EXPECT_EQ(good.count_children().active, 1);
}

}  // namespace
