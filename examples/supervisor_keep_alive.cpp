// An external program kept alive with backoff — first the restart loop one writes by hand,
// then the supervisor that replaces it. The program dies after 0.2 s each time; both versions
// run for about two seconds.
#include <kin/kin.hpp>
#include <kin/supervisor.hpp>

#include <chrono>
#include <iostream>
#include <thread>

using namespace std::chrono_literals;

// By hand: restart, double the delay up to a cap, give up after too many failures, and still
// no process group, no readiness, no reaping of what the program leaves behind, no events.
void by_hand() {
  auto delay = 100ms;
  const auto stop_at = std::chrono::steady_clock::now() + 2s;
  int failures = 0;
  while (std::chrono::steady_clock::now() < stop_at) {
    kin::Popen p{{"sh", "-c", "sleep 0.2; exit 1"}};
    int rc = p.wait();
    std::cout << "by hand: exited " << rc << ", restarting in " << delay.count() << " ms\n";
    if (++failures > 10) break;
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(800));
  }
}

// The supervisor: the same policy in a spec, plus everything the loop lacks.
void supervised() {
  kin::ActorSystem sys;
  kin::Supervisor sup{sys, kin::SupervisorOptions{.intensity = 10, .period = 10s, .name = "keepalive"}};
  sup.start_child({.id = "flaky",
                   .start = kin::program({"sh", "-c", "sleep 0.2; exit 1"}),
                   .shutdown = 1s,
                   .backoff = {.initial = 100ms, .max = 800ms}});
  std::this_thread::sleep_for(2s);
  auto c = sup.which_children().front();
  std::cout << "supervised: " << c.restarts << " restarts, last " << (c.last_exit ? c.last_exit->str() : "-") << "\n";
}

int main(int argc, char** argv) {
  kin::init(argc, argv);
  by_hand();
  supervised();
  return 0;
}
