#include <kin/actor_system.hpp>  // first: the header is self-contained

#include <caf/all.hpp>

#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using tick_atom = caf::atom_constant<caf::atom("tick")>;

namespace {

caf::behavior doubler(caf::event_based_actor* self) {
  return {
      [](int x) { return 2 * x; },
      [=](const std::string& s) {
        if (s == "fail") self->quit(caf::make_error(caf::sec::runtime_error, "asked to fail"));
        if (s == "throw") throw std::runtime_error("thrown in a handler");
      },
  };
}

// Re-arms a timer forever: a plain caf::actor_system's destructor hangs on it (G9).
caf::behavior ticker(caf::event_based_actor* self) {
  self->delayed_send(self, 5ms, tick_atom::value);
  return {[=](tick_atom) { self->delayed_send(self, 5ms, tick_atom::value); }};
}

int count_threads() {
  int n = 0;
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("Threads:", 0) == 0) n = std::stoi(line.substr(8));
  return n;
}

TEST(ActorSystem, ScopedActorAndThreadActorsWork) {
  kin::ActorSystem sys;
  caf::scoped_actor self{sys};
  auto a = sys.spawn(doubler);
  auto d = sys.spawn<caf::detached>(doubler);
  for (auto& h : {a, d})
    self->request(h, 5s, 21).receive([](int r) { EXPECT_EQ(r, 42); },
                                     [](caf::error& e) { ADD_FAILURE() << caf::to_string(e); });
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(d, caf::exit_reason::user_shutdown);
}

TEST(ActorSystem, ThreadCountIsTheOneConfigured) {
  int before = count_threads();
  {
    kin::ActorSystem sys{kin::ActorSystemOptions{.threads = 1, .policy = kin::SchedulerPolicy::sharing}};
    // CAF's own default would be max(4, cores) workers (G13); kin starts the one asked for
    // plus CAF's timer and utility threads.
    EXPECT_LE(count_threads() - before, 4);
    EXPECT_EQ(sys.options().threads, 1u);
  }
}

TEST(ActorSystem, ConfigFileInTheWorkingDirectoryIsIgnored) {
  // A malformed caf-application.ini makes CAF_MAIN programs exit (G1); kin never reads it.
  char dir[] = "/tmp/kin-actor-ini-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  std::string old = std::filesystem::current_path();
  std::filesystem::current_path(dir);
  { std::ofstream{"caf-application.ini"} << "[scheduler\npolicy=!!garbage\n"; }
  {
    kin::ActorSystem sys;
    caf::scoped_actor self{sys};
    self->request(sys.spawn(doubler), 5s, 1).receive([](int r) { EXPECT_EQ(r, 2); }, [](caf::error&) {});
  }
  std::filesystem::current_path(old);
  std::filesystem::remove_all(dir);
}

TEST(ActorSystem, MonitoredThreadActorsReportTheirExitReason) {
  kin::ActorSystem sys;
  caf::scoped_actor self{sys};
  struct Case {
    bool detached;
    std::string how;
    caf::error expected;
  };
  for (auto c : {Case{false, "fail", caf::sec::runtime_error}, Case{true, "fail", caf::sec::runtime_error},
                 Case{false, "throw", caf::sec::runtime_error}, Case{true, "throw", caf::sec::runtime_error}}) {
    auto a = c.detached ? sys.spawn<caf::detached>(doubler) : sys.spawn(doubler);
    self->monitor(a);
    self->send(a, c.how);
    bool got = false;
    self->receive(
        [&](caf::down_msg& dm) {
          got = true;
          EXPECT_EQ(dm.source, a.address());
          EXPECT_EQ(dm.reason.code(), c.expected.code()) << caf::to_string(dm.reason);
          EXPECT_EQ(kin::exit_status(dm.reason), std::nullopt);  // not a process: no exit status
        },
        caf::after(10s) >> [] {});
    EXPECT_TRUE(got) << c.how << (c.detached ? " detached" : "");
  }
  // A normal exit: reason none, which kin reads as exit 0.
  auto a = sys.spawn(doubler);
  self->monitor(a);
  caf::anon_send_exit(a, caf::exit_reason::kill);
  self->receive([&](caf::down_msg& dm) { EXPECT_EQ(dm.reason, caf::exit_reason::kill); }, caf::after(10s) >> [] {});
}

TEST(ActorSystem, DestructorIsBoundedWithASelfSustainingActor) {
  // With a plain caf::actor_system this hangs forever (cheatsheet §3.9).
  auto t0 = std::chrono::steady_clock::now();
  {
    kin::ActorSystem sys{kin::ActorSystemOptions{.shutdown_timeout = 300ms}};
    sys.spawn(ticker);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
}

TEST(ActorSystem, ExitReasonsRoundTrip) {
  EXPECT_FALSE(kin::make_exit_reason(kin::ExitStatus::exited(0)));
  EXPECT_EQ(kin::exit_status(caf::error{}), kin::ExitStatus::exited(0));
  for (auto s : {kin::ExitStatus::exited(3), kin::ExitStatus::killed(SIGKILL), kin::ExitStatus::killed(SIGSEGV, true)}) {
    auto r = kin::make_exit_reason(s);
    EXPECT_TRUE(r);
    EXPECT_EQ(kin::exit_status(r), s);
    EXPECT_EQ(kin::describe(r), s.str());
  }
  auto p = kin::make_protocol_error("bad frame", kin::ExitStatus::killed(SIGKILL));
  EXPECT_EQ(kin::exit_status(p), kin::ExitStatus::killed(SIGKILL));
  EXPECT_EQ(kin::describe(p), "protocol error: bad frame (killed by SIGKILL)");
  EXPECT_EQ(kin::exit_status(caf::make_error(caf::sec::request_timeout)), std::nullopt);
  // CAF renders kin's category through the system's registered renderer.
  kin::ActorSystem sys;
  EXPECT_EQ(sys.render(kin::make_exit_reason(kin::ExitStatus::killed(SIGKILL))).find("killed by SIGKILL") !=
                std::string::npos,
            true)
      << sys.render(kin::make_exit_reason(kin::ExitStatus::killed(SIGKILL)));
}

}  // namespace
