// Supervisor restart latency and memory per child.
//   metric=kin.supervisor.restart          SIGKILL of a kin::process child until its replacement
//                                          has sent READY=1 (kin::notify_ready) (us, median)
//   metric=kin.supervisor.restart.program  an external program, measured as
//                                          ../shared/bench-peers/supervisor_restart.sh measures
//                                          supervisord and s6: marker.sh appends "PID START_NS",
//                                          latency = START_NS of the replacement - kill time (us)
//   metric=kin.supervisor.rss_per_child    the supervising process's RSS growth per supervised
//                                          `sleep` child (KiB)
// The actor system uses the sharing scheduler (KIN_BENCH_POLICY=stealing: work stealing).
// Peers (bench/peers.tsv): kin.spawn_join.fork (goal: restart <= 2x), supervisord.restart and
// s6.restart, the fork+exec floor. Backoff is off, as for the peers.
#include "bench_util.hpp"

#include <kin/kin.hpp>
#include <kin/notify_ready.hpp>
#include <kin/supervisor.hpp>

#include <caf/all.hpp>

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

void ready_and_idle() {
  kin::notify_ready();
  for (;;) ::pause();
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

long long now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

kin::SupervisorOptions quiet() {
  return kin::SupervisorOptions{.intensity = 1000000, .period = 1s, .log = [](const std::string&) {}};
}

// The running child's pid, waiting up to 10 s for it (between a kill and the restart there is
// none). Never 0: kill(0, SIGKILL) would take the bench's whole process group with it.
pid_t pid_of(kin::Supervisor& sup, const std::string& id) {
  for (int t = 0; t < 10000; ++t) {
    for (auto& c : sup.which_children())
      if (c.id == id && c.state == kin::ChildState::running && c.pid > 0) return c.pid;
    ::usleep(1000);
  }
  std::fprintf(stderr, "supervisor_bench: child %s never ran\n", id.c_str());
  std::exit(1);
}

void bench_restart(kin::ActorSystem& sys, long rounds) {
  if (!kin::bench::enabled("kin.supervisor.restart")) return;
  kin::Supervisor sup{sys, quiet()};
  caf::scoped_actor self{sys};
  sup.subscribe(self);
  sup.start_child({.id = "p",
                   .start = kin::process(ready_and_idle),
                   .shutdown = kin::brutal_kill,
                   .readiness = {.by = kin::ReadyBy::notify, .timeout = 10s}});
  std::vector<double> us;
  for (long i = 0; i < rounds; ++i) {
    pid_t pid = pid_of(sup, "p");
    auto t0 = std::chrono::steady_clock::now();
    ::kill(pid, SIGKILL);
    bool ready = false;
    while (!ready)
      self->receive([&](const kin::SupervisorEvent& e) { ready = e.kind == kin::EventKind::ready; },
                    caf::after(10s) >> [&] { ready = true; });
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  sup.unsubscribe(self);
  kin::bench::emit("kin.supervisor.restart", kin::bench::median(us), "us");
}

void bench_restart_program(kin::ActorSystem& sys, long rounds) {
  if (!kin::bench::enabled("kin.supervisor.restart.program")) return;
  char tmpl[] = "/tmp/kin-supbench-XXXXXX";
  const std::filesystem::path dir = ::mkdtemp(tmpl);
  const std::string marker = (dir / "marker.sh").string(), starts = (dir / "starts").string();
  std::ofstream(marker) << "#!/bin/sh\necho \"$$ $(date +%s%N)\" >> \"$1\"\nexec sleep 100000\n";
  std::filesystem::permissions(marker, std::filesystem::perms::owner_all);
  auto lines = [&] {
    std::ifstream f(starts);
    std::vector<std::string> v;
    for (std::string l; std::getline(f, l);) v.push_back(l);
    return v;
  };
  std::vector<double> us;
  {
    kin::Supervisor sup{sys, quiet()};
    sup.start_child({.id = "marker", .start = kin::program({marker, starts}), .shutdown = kin::brutal_kill});
    for (long i = 0; i < rounds; ++i) {
      std::size_t n = 0;
      pid_t pid = 0;
      for (int t = 0; t < 5000 && pid == 0; ++t) {
        auto v = lines();
        if (!v.empty()) {
          n = v.size();
          pid = std::stoi(v.back());
        } else {
          ::usleep(1000);
        }
      }
      if (pid <= 0) {  // never kill(0, ...): that is the bench's own process group
        std::fprintf(stderr, "supervisor_bench: the marker program never started\n");
        std::exit(1);
      }
      ::usleep(20000);  // kin has no restart throttle: a short pause instead of the peers' 1.2 s
      const long long t0 = now_ns();
      ::kill(pid, SIGKILL);
      std::vector<std::string> v;
      for (int t = 0; t < 4000; ++t) {
        v = lines();
        if (v.size() > n) break;
        ::usleep(1000);
      }
      if (v.size() <= n) break;
      const long long t1 = std::stoll(v.back().substr(v.back().find(' ') + 1));
      us.push_back(static_cast<double>(t1 - t0) / 1000.0);
    }
  }
  std::filesystem::remove_all(dir);
  kin::bench::emit("kin.supervisor.restart.program", kin::bench::median(us), "us");
}

void bench_rss_per_child(kin::ActorSystem& sys, long children) {
  if (!kin::bench::enabled("kin.supervisor.rss_per_child")) return;
  kin::Supervisor sup{sys, quiet()};
  sup.start_child({.id = "warm", .start = kin::program({"sleep", "100000"}), .shutdown = kin::brutal_kill});
  const long before = rss_kb();
  for (long i = 0; i < children; ++i) {
    std::string id = std::to_string(i);
    id.insert(0, 1, 'c');  // not "c" + to_string(i): GCC 12 -O3 warns falsely (-Wrestrict, PR105651)
    sup.start_child({.id = id, .start = kin::program({"sleep", "100000"}), .shutdown = kin::brutal_kill});
  }
  const long after = rss_kb();
  kin::bench::emit("kin.supervisor.rss_per_child", static_cast<double>(after - before) / static_cast<double>(children),
                   "KiB");
}

}  // namespace

int main(int argc, char** argv) {
  kin::init(argc, argv);
  // A supervisor is mostly idle and wakes on events: CAF's sharing scheduler wakes a worker
  // at once (work stealing polls, then sleeps). KIN_BENCH_POLICY=stealing measures the other.
  const char* pol = std::getenv("KIN_BENCH_POLICY");
  kin::ActorSystem sys{kin::ActorSystemOptions{
      .policy = pol && std::string(pol) == "stealing" ? kin::SchedulerPolicy::stealing : kin::SchedulerPolicy::sharing}};
  bench_restart(sys, kin::bench::scaled(200, 3));
  bench_restart_program(sys, kin::bench::scaled(50, 3));
  bench_rss_per_child(sys, kin::bench::scaled(200, 5));
  return 0;
}
