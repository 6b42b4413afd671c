// `kin supervise FILE [--http HOST:PORT]`: runs a services.toml in the foreground (see
// docs/services.md), with the control socket of `kin ctl`. SIGTERM or SIGINT (or `kin ctl
// shutdown`) stops the services in reverse dependency order; SIGHUP re-reads the file and
// applies the differences. A bad file is printed as file:line:column: key: message, with exit
// status 2, and nothing starts. Exit 1: it could not start, or the tree gave up.
#include "supervise.hpp"

#include <kin/runtime/auth.hpp>
#include <kin/services/config.hpp>
#include <kin/services/control.hpp>
#include <kin/services/daemon.hpp>
#include <kin/services/dashboard.hpp>

#include <signal.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

namespace kin::cli {

namespace {

std::string read_token(const std::string& path) {
  std::ifstream f(path);
  std::string t;
  std::getline(f, t);
  return t;
}

void print_reload(const services::ReloadResult& r) {
  auto list = [](const char* what, const std::vector<std::string>& v) {
    if (v.empty()) return;
    std::fprintf(stderr, "kin supervise: %s:", what);
    for (auto& n : v) std::fprintf(stderr, " %s", n.c_str());
    std::fprintf(stderr, "\n");
  };
  list("added", r.added);
  list("removed", r.removed);
  list("changed", r.changed);
}

}  // namespace

int supervise(const std::string& file, const std::string& http) {
  services::Config config;
  try {
    config = services::load_config(file);
  } catch (const services::ConfigError& e) {
    std::fprintf(stderr, "kin supervise: %s\n", e.what());
    return 2;
  }
  std::string listen = http.empty() ? config.supervisor.http.value_or("") : http;

  // The signals are taken by sigwait on this thread: every thread kin starts inherits the
  // mask, and the children's exec resets it.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGHUP);
  ::pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  std::unique_ptr<services::Daemon> daemon;
  std::unique_ptr<services::ControlServer> control;
  std::unique_ptr<services::Dashboard> dashboard;
  try {
    services::ControlServer::check_free(services::socket_path(config.supervisor));
    daemon = std::make_unique<services::Daemon>(config);
    control = std::make_unique<services::ControlServer>(*daemon);
    if (!listen.empty()) {
      std::string token = config.supervisor.token_file.empty() ? kin::detail::random_hex(16)
                                                               : read_token(config.supervisor.token_file);
      dashboard = std::make_unique<services::Dashboard>(*daemon, services::DashboardOptions{listen, token});
      std::fprintf(stderr, "kin supervise: dashboard at %s?token=%s\n", dashboard->url().c_str(), token.c_str());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kin supervise: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "kin supervise: %zu services running from %s; kin ctl at %s\n", config.services.size(),
               config.path.c_str(), control->socket_path().c_str());

  // A stop from inside (kin ctl shutdown, or the tree giving up) ends the wait below as a
  // SIGTERM would; after a SIGTERM the signal it sends stays blocked and pending, harmlessly.
  std::thread watcher([&daemon, main = ::pthread_self()] {
    daemon->wait();
    ::pthread_kill(main, SIGTERM);
  });

  for (;;) {
    int sig = 0;
    if (::sigwait(&sigs, &sig) != 0) continue;
    if (sig == SIGHUP) {
      try {
        print_reload(daemon->reload());
      } catch (const std::exception& e) {
        std::fprintf(stderr, "kin supervise: reload refused: %s\n", e.what());
      }
      continue;
    }
    if (!daemon->stopping())
      std::fprintf(stderr, "kin supervise: %s, stopping the services\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    break;
  }
  dashboard.reset();  // before the daemon they serve
  control.reset();
  daemon->shutdown();
  daemon->wait();
  watcher.join();
  if (daemon->gave_up()) {
    std::fprintf(stderr, "kin supervise: too many services gave up ([supervisor] max_restarts); stopped them all\n");
    return 1;
  }
  return 0;
}

}  // namespace kin::cli
