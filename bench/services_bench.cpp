// kin ctl against a live supervisor of 100 services (issue goals: `kin ctl status` for 100
// services ≤ 50 ms; a child's exit visible in status ≤ 10 ms):
//   kin.ctl.status100          the `kin ctl status` command, start to exit (ms, median)
//   kin.ctl.status100.floor    fork+exec+wait of /bin/true beside it: what any command costs
//   kin.ctl.status100.request  one status request of an open client (ms, median)
//   kin.ctl.exit_visible       kill(SIGKILL) of a service to its exit showing in a status
//                              request, polled back to back (ms, median)
#include <kin/popen.hpp>
#include <kin/run.hpp>
#include <kin/services/config.hpp>
#include <kin/services/control.hpp>
#include <kin/services/daemon.hpp>

#include "bench_util.hpp"

#include <signal.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

namespace ks = kin::services;
using Clock = std::chrono::steady_clock;

namespace {
double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}
}  // namespace

int main() {
  namespace kb = kin::bench;
  if (!kb::enabled("kin.ctl")) return 0;
  char tmpl[] = "/tmp/kin-ctl-bench-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  const int services = 100;
  {
    std::ofstream f(dir + "/services.toml");
    f << "[supervisor]\nname = \"bench\"\nruntime_dir = \"run\"\n";
    for (int i = 0; i < services; ++i)
      f << "[services.s" << i << "]\ncommand = \"sleep 1000\"\nrestart = \"never\"\nstop_timeout = \"2s\"\n";
  }
  {
    ks::Daemon daemon{ks::load_config(dir + "/services.toml"), ks::DaemonOptions{.log = [](const std::string&) {}}};
    ks::ControlServer server{daemon};
    ks::ControlClient client{daemon.socket_path(), daemon.key_file()};
    const std::string file = dir + "/services.toml";

    const long runs = kb::scaled(30, 3);
    std::vector<double> cmd, floor, req;
    for (long i = 0; i < runs; ++i) {
      auto t0 = Clock::now();
      auto r = kin::run({KIN_CLI_PATH, "ctl", "-c", file, "status"}, {.capture_output = true});
      cmd.push_back(ms_since(t0));
      if (r.returncode != 0 || r.out.find("s99") == std::string::npos) {
        std::fprintf(stderr, "kin ctl status failed: %d %s\n", r.returncode, r.err.c_str());
        return 1;
      }
      t0 = Clock::now();
      (void)kin::run({"/bin/true"}, {.capture_output = true});
      floor.push_back(ms_since(t0));
      t0 = Clock::now();
      if (client.status().size() != static_cast<std::size_t>(services)) return 1;
      req.push_back(ms_since(t0));
    }
    kb::emit("kin.ctl.status100", kb::median(cmd), "ms");
    kb::emit("kin.ctl.status100.floor", kb::median(floor), "ms");
    kb::emit("kin.ctl.status100.request", kb::median(req), "ms");

    std::vector<double> visible;
    const long kills = std::min<long>(kb::scaled(20, 3), services);
    for (long i = 0; i < kills; ++i) {
      const std::string name = "s" + std::to_string(i);
      const pid_t pid = client.status(name).at(0).pid;
      if (pid <= 0) return 1;
      auto t0 = Clock::now();
      ::kill(pid, SIGKILL);
      while (client.status(name).at(0).state != "EXITED")
        if (ms_since(t0) > 10000) return 1;
      visible.push_back(ms_since(t0));
    }
    kb::emit("kin.ctl.exit_visible", kb::median(visible), "ms");
  }
  std::filesystem::remove_all(dir);
  return 0;
}
