// Helpers shared by the supervisor tests (supervisor_options_test.cpp,
// supervisor_readiness_test.cpp): a log sink, bounded waits, child look-ups by id, pid checks
// and a subscriber that collects SupervisorEvent messages.
#pragma once

#include <kin/supervisor.hpp>

#include "test_util.hpp"

#include <caf/all.hpp>

#include <gtest/gtest.h>

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace kin_sup_test {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using kin::testing::eventually;
using kin::testing::slurp;
using kin::testing::TempDir;

// Collects the supervisor's log lines (one per event).
struct Log {
  std::shared_ptr<std::mutex> mu = std::make_shared<std::mutex>();
  std::shared_ptr<std::vector<std::string>> lines = std::make_shared<std::vector<std::string>>();
  std::function<void(const std::string&)> sink() {
    return [mu = mu, lines = lines](const std::string& l) {
      std::lock_guard lk(*mu);
      lines->push_back(l);
    };
  }
  int count(const std::string& needle) {
    std::lock_guard lk(*mu);
    int n = 0;
    for (auto& l : *lines) n += l.find(needle) != std::string::npos;
    return n;
  }
  std::vector<std::string> all() {
    std::lock_guard lk(*mu);
    return *lines;
  }
};

inline kin::ChildInfo info(kin::Supervisor& sup, const std::string& id) {
  for (auto& c : sup.which_children())
    if (c.id == id) return c;
  return {};
}

inline bool has_child(kin::Supervisor& sup, const std::string& id) {
  for (auto& c : sup.which_children())
    if (c.id == id) return true;
  return false;
}

// Running and different from `old`: the replacement is up.
inline bool replaced(kin::Supervisor& sup, const std::string& id, pid_t old) {
  auto c = info(sup, id);
  return c.state == kin::ChildState::running && c.pid > 0 && c.pid != old;
}

// Gone, or a zombie that is not ours (PID 1 reaps it in its own time).
inline bool not_running(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return true;
  auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z';
}

inline bool exists(pid_t pid) { return fs::exists("/proc/" + std::to_string(pid)); }

// The pid a child script wrote to `file` (0 if it did not within the bound).
inline pid_t pid_in(const std::string& file, std::chrono::milliseconds bound = 10s) {
  pid_t pid = 0;
  eventually(
      [&] {
        std::ifstream f(file);
        return static_cast<bool>(f >> pid) && pid > 0;
      },
      bound);
  return pid;
}

inline int lines_in(const std::string& file) {
  std::ifstream f(file);
  std::string l;
  int n = 0;
  while (std::getline(f, l)) ++n;
  return n;
}

// Receives the supervisor's events until `enough` says so or `bound` passes.
inline std::vector<kin::SupervisorEvent> receive_events(caf::scoped_actor& self,
                                                        const std::function<bool(const std::vector<kin::SupervisorEvent>&)>& enough,
                                                        std::chrono::milliseconds bound = 10s) {
  std::vector<kin::SupervisorEvent> got;
  const auto end = std::chrono::steady_clock::now() + bound;
  while (!enough(got) && std::chrono::steady_clock::now() < end)
    self->receive([&](const kin::SupervisorEvent& e) { got.push_back(e); }, caf::after(100ms) >> [] {});
  return got;
}

inline int count_kind(const std::vector<kin::SupervisorEvent>& v, kin::EventKind k, const std::string& child = {}) {
  int n = 0;
  for (auto& e : v) n += e.kind == k && (child.empty() || e.child == child);
  return n;
}

class SupervisorFixture : public ::testing::Test {
 protected:
  kin::ActorSystem sys;
  Log log;
  void TearDown() override {
    if (HasFailure())
      for (auto& l : log.all()) std::fprintf(stderr, "  log: %s\n", l.c_str());
  }
  kin::SupervisorOptions opts(kin::Strategy s = kin::one_for_one, int intensity = 10) {
    return kin::SupervisorOptions{.strategy = s, .intensity = intensity, .period = 10s, .log = log.sink()};
  }
};

inline kin::ChildSpec sleeper(const std::string& id, kin::Restart r = kin::permanent) {
  return kin::ChildSpec{.id = id, .start = kin::program({"sleep", "100"}), .restart = r, .shutdown = 2s};
}

}  // namespace kin_sup_test
