// kin::services::Dashboard: the web face of `kin supervise --http HOST:PORT` — one page with the
// live supervision tree, the status table, a restart timeline, a log tail and start/stop/restart
// buttons, plus a JSON API under /api and a Server-Sent Events stream (/api/events).
//
//   kin::services::Daemon d{config};
//   kin::services::Dashboard web{d, {.listen = "127.0.0.1:0", .token = "s3cret"}};
//   std::cout << web.url() << "?token=s3cret\n";   // open in a browser
//
// It runs Boost.Beast on its own io_context and one thread (its handlers call the Daemon's
// blocking methods, never on kin's runtime thread). Loopback by default; a non-loopback listen
// address without a token is a kin::ValueError. Every action (POST) needs the token
// (`Authorization: Bearer T` or `?token=T`) and an Origin/Host that is the dashboard's own; off
// loopback every request needs it. The destructor closes the listener and every connection
// (SSE clients included) and joins the thread. A crash of the dashboard thread is a crash of
// the process (std::terminate); the services die with the daemon as usual.
#pragma once

#include <kin/services/daemon.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace kin::services {

struct DashboardOptions {
  std::string listen = "127.0.0.1:8080";  // "HOST:PORT"; port 0 = any free port
  std::string token{};
};

class Dashboard {
 public:
  Dashboard(Daemon& daemon, DashboardOptions options);
  Dashboard(const Dashboard&) = delete;
  Dashboard& operator=(const Dashboard&) = delete;
  ~Dashboard();

  /// The port it listens on (the chosen one when listen asked for port 0).
  [[nodiscard]] std::uint16_t port() const;
  /// "http://HOST:PORT/".
  [[nodiscard]] std::string url() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace kin::services
