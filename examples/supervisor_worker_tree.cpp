// A worker tree: a one_for_one supervisor whose worker crashes and is restarted, a
// rest_for_one pipeline (should the producer die, the stages after it restart with it), and a
// nested supervisor holding the pipeline. Runs for about two seconds.
#include <kin/kin.hpp>
#include <kin/supervisor.hpp>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <thread>

using namespace std::chrono_literals;

int crashy(int after_ms) {
  ::usleep(static_cast<useconds_t>(after_ms) * 1000);
  std::cerr << "worker " << ::getpid() << ": crashing\n";
  ::abort();
}

void stage(int n) {
  std::cerr << "stage " << n << " up, pid " << ::getpid() << "\n";
  for (;;) ::pause();
}

int main(int argc, char** argv) {
  kin::init(argc, argv);
  kin::ActorSystem sys;
  auto quiet_tree = kin::SupervisorOptions{.strategy = kin::rest_for_one, .name = "pipeline"};
  kin::Supervisor root{
      sys,
      kin::SupervisorOptions{.strategy = kin::one_for_one, .intensity = 5, .period = 10s, .name = "root"},
      {
          {.id = "crashy", .start = kin::process(crashy, 300), .shutdown = 1s},
          {.id = "pipeline",
           .start = kin::supervisor(quiet_tree, {{.id = "producer", .start = kin::process(stage, 1), .shutdown = 1s},
                                                 {.id = "filter", .start = kin::process(stage, 2), .shutdown = 1s},
                                                 {.id = "sink", .start = kin::process(stage, 3), .shutdown = 1s}})},
      }};
  std::this_thread::sleep_for(1s);
  for (const auto& c : root.which_children())
    std::cout << c.id << ": " << kin::to_string(c.state) << ", restarts " << c.restarts
              << (c.last_exit ? ", last " + c.last_exit->str() : std::string()) << "\n";
  std::cout << "root has " << root.count_children().supervisors << " nested supervisor(s)\n";
  return 0;  // ~Supervisor stops the pipeline (sink, filter, producer), then crashy
}
