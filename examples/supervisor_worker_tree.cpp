// A worker tree: a one_for_one root whose worker crashes and is restarted alone, and a nested
// rest_for_one pipeline (producer -> filter -> sink) whose filter crashes: the filter and the
// sink started after it restart with it, the producer before it keeps running. Each crashes
// on its first run only (a marker file remembers). Runs for about a second; exits 1 if the
// tree did not behave so (ctest runs it: examples/CMakeLists.txt).
#include <kin/kin.hpp>
#include <kin/supervisor.hpp>

#include <caf/all.hpp>

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>

using namespace std::chrono_literals;

// True the first time it is called with `marker` (in any process): O_EXCL creates it once.
bool first_run(const std::string& marker) {
  int fd = ::open(marker.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

int worker(std::string marker) {
  if (first_run(marker)) {
    ::usleep(200000);
    std::cerr << "worker " << ::getpid() << ": crashing\n";
    ::abort();
  }
  for (;;) ::pause();
}

int stage(std::string name, std::string marker) {
  std::cerr << name << " up, pid " << ::getpid() << "\n";
  if (!marker.empty() && first_run(marker)) {
    ::usleep(300000);
    std::cerr << name << " " << ::getpid() << ": crashing\n";
    ::abort();
  }
  for (;;) ::pause();
}

kin::ChildInfo child(const std::vector<kin::ChildInfo>& kids, const std::string& id) {
  for (const auto& c : kids)
    if (c.id == id) return c;
  return {};
}

int main(int argc, char** argv) {
  kin::init(argc, argv);
  char tmpl[] = "/tmp/kin-worker-tree-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  kin::ActorSystem sys;
  auto quiet = [](const std::string&) {};  // the events are summed up below instead
  auto pipeline = kin::SupervisorOptions{.strategy = kin::rest_for_one, .name = "pipeline", .log = quiet};
  kin::Supervisor root{
      sys,
      kin::SupervisorOptions{.strategy = kin::one_for_one, .intensity = 5, .period = 10s, .name = "root", .log = quiet},
      {
          {.id = "worker", .start = kin::process(worker, dir + "/worker"), .shutdown = 1s},
          {.id = "pipeline",
           .start = kin::supervisor(pipeline, {{.id = "producer", .start = kin::process(stage, "producer", ""), .shutdown = 1s},
                                               {.id = "filter", .start = kin::process(stage, "filter", dir + "/filter"), .shutdown = 1s},
                                               {.id = "sink", .start = kin::process(stage, "sink", ""), .shutdown = 1s}})},
      }};
  // The nested supervisor answers the same messages as the root (sup.actor()).
  caf::scoped_actor self{sys};
  auto pipeline_children = [&] {
    std::vector<kin::ChildInfo> kids;
    self->request(child(root.which_children(), "pipeline").actor, 5s, kin::supervisor_atoms::which_atom::value)
        .receive([&](std::vector<kin::ChildInfo>& v) { kids = std::move(v); }, [](caf::error&) {});
    return kids;
  };
  const auto before = pipeline_children();
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  auto settled = [&] {
    auto kids = pipeline_children();
    return child(root.which_children(), "worker").restarts == 1 && child(kids, "filter").restarts == 1 &&
           child(kids, "filter").state == kin::ChildState::running && child(kids, "sink").state == kin::ChildState::running;
  };
  while (!settled() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);

  for (const auto& c : root.which_children())
    std::cout << "root/" << c.id << ": " << kin::to_string(c.state) << ", restarts " << c.restarts
              << (c.last_exit ? ", last " + c.last_exit->str() : std::string()) << "\n";
  const auto after = pipeline_children();
  bool ok = settled() && !before.empty();
  for (const auto& c : after) {
    const pid_t was = child(before, c.id).pid;
    const bool restarted = c.pid != was;
    std::cout << "pipeline/" << c.id << ": pid " << was << " -> " << c.pid << (restarted ? " (restarted)" : " (kept)")
              << (c.last_exit ? ", last " + c.last_exit->str() : std::string()) << "\n";
    ok = ok && restarted == (c.id != "producer");  // rest_for_one: filter and what follows it
  }
  std::cout << (ok ? "rest_for_one restarted filter and sink, kept producer\n" : "unexpected tree state\n");
  std::filesystem::remove_all(dir);
  return ok ? 0 : 1;  // ~Supervisor stops the pipeline (sink, filter, producer), then the worker
}
