// kin::services::Daemon: what `kin supervise services.toml` is — the services of a Config run
// as a kin::Supervisor tree, a live status table, logs, reload. ControlServer (control.hpp)
// serves it to `kin ctl`, Dashboard (dashboard.hpp) to a browser.
//
//   auto config = kin::services::load_config("services.toml");
//   kin::services::Daemon d{config};      // starts the autostart services, dependencies first
//   for (auto& s : d.status()) std::cout << s.name << " " << s.state << "\n";
//   d.restart("web");                     // a service (all its instances), an instance, or "all"
//   d.reload();                           // re-read the file, apply only the differences
//   d.wait();                             // until shutdown() (SIGTERM to kin supervise)
//
// The tree: under the daemon, one kin::Supervisor per unit — a service outside any group
// (one_for_one, the service's max_restarts/within) or a [groups.G] (the group's strategy and
// max_restarts/within over the instances of all its services) — holding the instances as
// kin::program children. A unit that exceeds its restart intensity gives up: its services are
// FATAL and stay down until started again; the others keep running. More than [supervisor]
// max_restarts units giving up within `within` and the daemon gives up too (gave_up(); kin
// supervise stops everything and exits 1), as an OTP supervisor escalates to its parent.
// Instances start in dependency order, each after the previous is ready, and stop in reverse,
// each bounded by its stop_timeout and the whole by shutdown_timeout (then SIGKILL to every
// instance's process group).
//
// A crash: the daemon's children die with it, even on SIGKILL (PR_SET_PDEATHSIG on each, and
// the kernel's process-group kill of what they left); nothing keeps running.
#pragma once

#include <kin/exit_status.hpp>
#include <kin/services/config.hpp>

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace kin::services {

/// A name that is no service, instance or group (kin ctl: exit 4, LSB's "unknown").
class UnknownService : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// One instance's row of `kin ctl status`.
struct ServiceStatus {
  std::string name{};     // the instance: "web" or "web-1"
  std::string service{};  // its [services.NAME]
  std::string group{};    // its [groups.G]; "" : top level
  /// supervisord's words: STARTING, RUNNING, BACKOFF, STOPPING, STOPPED (by request or not
  /// started), EXITED (ended and not restarted: restart = never / on-failure after success),
  /// FATAL (gave up: too many restarts, or it cannot start).
  std::string state{};
  bool ready = false;
  pid_t pid = 0;                          // 0 when not running
  std::chrono::milliseconds uptime{0};    // since it started; 0 when not running
  int restarts = 0;
  std::optional<ExitStatus> last_exit{};  // how it last ended
  std::string last_reason{};              // the same, or why it could not start, in words
  double cpu_percent = 0;                 // over the last status interval
  std::uint64_t rss_bytes = 0;
};

/// One entry of the restart timeline (and of the live event stream).
struct TimelineEvent {
  std::chrono::system_clock::time_point at{};
  std::string name{};   // the instance
  std::string event{};  // "started", "ready", "exited", "restarting", "backoff", "start_failed",
                        // "gave_up", "stopped"
  pid_t pid = 0;
  std::string detail{};  // e.g. "exit 3", "killed by SIGKILL", "backoff 400ms"
};

/// What reload() did.
struct ReloadResult {
  std::vector<std::string> added{}, removed{}, changed{}, unchanged{};
};

struct DaemonOptions {
  /// Receives the supervisor's event lines; unset: stderr.
  std::function<void(const std::string&)> log{};
};

class Daemon {
 public:
  /// Starts the autostart services in dependency order. Throws what the tree's start throws, having stopped what it started.
  explicit Daemon(Config config, DaemonOptions options = {});
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;
  /// shutdown(), then waits for it.
  ~Daemon();

  /// Every instance, in start order. Served from a table the supervisor's events keep up to
  /// date: a child's exit shows here within milliseconds.
  [[nodiscard]] std::vector<ServiceStatus> status() const;
  /// The instances of a service, an instance, or a group (UnknownService).
  [[nodiscard]] std::vector<ServiceStatus> status(const std::string& name) const;

  /// `name`: an instance, a service (all its instances), a group, or "all". UnknownService.
  void start(const std::string& name);
  void stop(const std::string& name);
  void restart(const std::string& name);

  /// Re-reads the config's file and applies only the differences: removed services stop,
  /// added ones start, changed ones restart with the new settings. A bad file is a ConfigError
  /// and nothing changes.
  ReloadResult reload();

  /// The last `n` lines of an instance's stdout (or stderr) log, oldest first.
  [[nodiscard]] std::vector<std::string> log_tail(const std::string& instance, std::size_t n, bool err = false) const;
  /// The file an instance's stdout (or stderr) goes to.
  [[nodiscard]] std::string log_path(const std::string& instance, bool err = false) const;

  /// The last `n` timeline events, oldest first.
  [[nodiscard]] std::vector<TimelineEvent> timeline(std::size_t n = 200) const;
  /// Calls `fn` (on an internal thread; it must not block) for every event from now on.
  int subscribe(std::function<void(const TimelineEvent&)> fn);
  void unsubscribe(int id);

  /// Stops every service in reverse dependency order, each bounded by its stop_timeout (then
  /// SIGKILL to its group) and the whole by supervisor.shutdown_timeout (then SIGKILL to all).
  /// Idempotent; returns at once.
  void shutdown();
  /// Blocks until shutdown() was called and everything stopped.
  void wait();
  /// Whether shutdown() has been called.
  [[nodiscard]] bool stopping() const;
  /// Whether the daemon gave up (too many units gave up) and shut down by itself.
  [[nodiscard]] bool gave_up() const;

  [[nodiscard]] const Config& config() const;
  /// The control socket and key file of ControlServer (config.hpp's socket_path, key_path).
  [[nodiscard]] std::string socket_path() const;
  [[nodiscard]] std::string key_file() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace kin::services
