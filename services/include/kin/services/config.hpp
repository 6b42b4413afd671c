// kin::services::Config: a services.toml as `kin supervise` runs it — services, groups, and
// the supervisor's own settings (control socket, key file, log directory, dashboard).
//
//   [supervisor]
//   max_restarts = 5            # the top supervisor's intensity ...
//   within = "60s"              # ... within this period
//
//   [services.db]
//   command = ["postgres", "-D", "/var/lib/pg"]     # or a string, split like a shell would
//   ready = "tcp:127.0.0.1:5432"
//
//   [services.web]
//   command = "./web --port 8080"
//   numprocs = 2                # instances web-0, web-1 (env KIN_INSTANCE=0/1)
//   depends_on = ["db"]         # starts once db is *ready*
//   restart = "on-failure"
//   log = { max_size = "10MB", backups = 10 }
//
//   kin::services::Config c = kin::services::load_config("services.toml");
//
// load_config checks everything before anything starts: a bad value, a missing command, an
// unknown key (the valid keys are listed), a dependency on an unknown service or a cycle is a
// ConfigError naming file:line:column and the key; `kin supervise` prints it and exits 2.
// docs/services.md lists every key and the supervisord and pm2 names for each.
#pragma once

#include <kin/child_spec.hpp>
#include <kin/supervisor.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace kin::services {

/// Where in the file a value was written (line and column from 1; 0 when unknown).
struct SourcePosition {
  std::string file{};
  int line = 0;
  int column = 0;
  bool operator==(const SourcePosition&) const = default;
};

/// A services.toml that cannot be run. what(): "file:line:column: key: message".
class ConfigError : public std::runtime_error {
 public:
  ConfigError(SourcePosition where, std::string key, const std::string& message);
  [[nodiscard]] const SourcePosition& where() const noexcept { return where_; }
  [[nodiscard]] const std::string& key() const noexcept { return key_; }

 private:
  SourcePosition where_;
  std::string key_;
};

/// supervisord's autorestart / pm2's autorestart / systemd's Restart=.
enum class RestartPolicy {
  always,      // kin::permanent
  on_failure,  // kin::transient: not after exit 0 (or a code in success_exit_codes)
  never,       // kin::temporary
};

/// How a service says it is ready (`ready = "..."`).
struct ReadyConfig {
  enum class By {
    none,    // "none": ready once started (default)
    notify,  // "notify": sd_notify READY=1 on $NOTIFY_SOCKET
    fd,      // "fd:N": writes a line on fd N (s6)
    tcp,     // "tcp:HOST:PORT": a connect succeeds
    http,    // "http://127.0.0.1:PORT/path": a GET answers 2xx (loopback only)
    exec,    // "exec:COMMAND": the probe command exits 0
  };
  By by = By::none;
  int fd = 3;
  std::string host{};                // tcp
  int port = 0;                      // tcp
  std::string url{};                 // http
  std::vector<std::string> probe{};  // exec
  std::chrono::milliseconds timeout{10000};  // ready_timeout
  bool operator==(const ReadyConfig&) const = default;
};

/// `log = { stdout = ..., stderr = ..., max_size = ..., backups = ... }`. Rotation is on by
/// default: a file that reaches max_size is renamed NAME.1 (NAME.1 becomes NAME.2, ...) and
/// `backups` old files are kept.
struct LogConfig {
  std::string stdout_path{};  // "" : <log_dir>/<instance>.out.log ; "none": /dev/null
  std::string stderr_path{};  // "" : <log_dir>/<instance>.err.log ; "merge": into stdout's file
  std::uint64_t max_bytes = 10u * 1024u * 1024u;
  int backups = 10;
  bool operator==(const LogConfig&) const = default;
};

/// One `[services.NAME]` table.
struct ServiceConfig {
  std::string name{};
  std::vector<std::string> command{};          // argv; argv[0] looked up in $PATH
  std::map<std::string, std::string> env{};    // added to (and overriding) the supervisor's own
  std::optional<std::string> cwd{};            // relative paths: from the file's directory
  int numprocs = 1;                            // > 1: instances NAME-0 ... NAME-(n-1)
  bool autostart = true;
  RestartPolicy restart = RestartPolicy::always;
  std::vector<int> success_exit_codes{0};      // on_failure: these codes are not failures
  kin::Backoff backoff{};                      // backoff = { initial, max, factor, reset_after }
  int max_restarts = 5;                        // more restarts than this within `within`: FATAL
  std::chrono::milliseconds within{60000};
  int stop_signal = SIGTERM;                   // "TERM", "INT", "SIGQUIT", 15 ...
  std::chrono::milliseconds stop_timeout{10000};  // then SIGKILL to the process group
  std::vector<std::string> depends_on{};       // services (or groups) that must be ready first
  ReadyConfig ready{};
  LogConfig log{};
  std::string group{};                         // the [groups.G] that lists it; "" : top level
  SourcePosition where{};                      // its table in the file
  bool operator==(const ServiceConfig&) const = default;
};

/// One `[groups.NAME]` table: services supervised together under a strategy.
struct GroupConfig {
  std::string name{};
  std::vector<std::string> services{};
  kin::Strategy strategy = kin::Strategy::one_for_one;  // "one_for_one" | "one_for_all" | "rest_for_one"
  int max_restarts = 5;
  std::chrono::milliseconds within{60000};
  SourcePosition where{};
};

/// The `[supervisor]` table (every key optional).
struct SupervisorConfig {
  std::string name = "kin";
  std::string runtime_dir{};  // "" : $XDG_RUNTIME_DIR/kin, else /tmp/kin-$UID (created 0700)
  std::string socket{};       // "" : <runtime_dir>/<name>.sock (created 0600)
  std::string key_file{};     // "" : <runtime_dir>/<name>.key (random, 0600, made at start)
  std::string log_dir{};      // "" : <runtime_dir>/logs/<name>
  int max_restarts = 5;       // the top supervisor's intensity and period
  std::chrono::milliseconds within{60000};
  std::chrono::milliseconds shutdown_timeout{30000};  // bound of the whole stop; then SIGKILL
  std::optional<std::string> http{};  // "127.0.0.1:8080": serve the dashboard
  std::string token_file{};           // the dashboard's token (needed off loopback and for actions)
};

struct Config {
  std::string path{};       // the file it came from (absolute), re-read by Daemon::reload (SIGHUP)
  SupervisorConfig supervisor{};
  std::vector<ServiceConfig> services{};  // in start order: every service after its dependencies
  std::vector<GroupConfig> groups{};
};

/// Reads and checks `path` (ConfigError; a file that cannot be read is a ConfigError too).
Config load_config(const std::string& path);
/// The same from text; `path` names it in errors and anchors relative paths.
Config parse_config(std::string_view text, const std::string& path);

/// The instance names of a service: {"web"} or {"web-0", "web-1", ...}.
std::vector<std::string> instance_names(const ServiceConfig& s);

/// Where a supervisor keeps its files: runtime_dir, else $XDG_RUNTIME_DIR/kin, else
/// /tmp/kin-$EUID; the control socket <runtime_dir>/<name>.sock, the key file
/// <runtime_dir>/<name>.key, the logs <runtime_dir>/logs/<name> — each unless set.
std::string runtime_dir(const SupervisorConfig& s);
std::string socket_path(const SupervisorConfig& s);
std::string key_path(const SupervisorConfig& s);
std::string log_dir(const SupervisorConfig& s);

}  // namespace kin::services
