// What the services_* tests build their Daemons from: a service running a sh script, a Config
// whose files live in a test's TempDir, and DaemonOptions that keep the event log quiet.
//
//   ks::Daemon d{kin::testing::config_in(dir, {kin::testing::sh_service("web", "exec sleep 100")}),
//                kin::testing::quiet()};
#pragma once

#include <kin/services/config.hpp>
#include <kin/services/daemon.hpp>

#include "test_util.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace kin::testing {

inline services::ServiceConfig sh_service(const std::string& name, const std::string& script) {
  services::ServiceConfig s;
  s.name = name;
  s.command = {"sh", "-c", script};
  s.stop_timeout = std::chrono::seconds(2);
  return s;
}

inline services::Config config_in(const TempDir& d, std::vector<services::ServiceConfig> list) {
  services::Config c;
  c.path = d / "services.toml";
  c.supervisor.runtime_dir = d / "run";
  c.services = std::move(list);
  return c;
}

inline services::DaemonOptions quiet() { return {.log = [](const std::string&) {}}; }

}  // namespace kin::testing
