// kin::services::ControlServer and ControlClient: the control socket between `kin supervise`
// and `kin ctl` — status, start/stop/restart, logs (with follow), reload and shutdown.
//
//   kin::services::Daemon d{config};
//   kin::services::ControlServer server{d};     // <runtime_dir>/<name>.sock, key <name>.key
//
//   kin::services::ControlClient c{socket_path(config.supervisor), key_path(config.supervisor)};
//   for (auto& s : c.status()) std::cout << s.name << " " << s.state << "\n";
//   c.restart("web");
//   c.follow("web", 10, false, [](const std::string& line) { std::cout << line << "\n"; return true; });
//
// The socket is a Unix socket created 0600 in a directory of the user's own (0700, refused if
// another user owns it or it is a symlink). A client must pass three checks before any request
// is read: it can reach the socket (the file modes), it proves it knows the key of the key file
// (kin's HMAC-SHA256 handshake, kin::Listener), and its SO_PEERCRED uid is the server's or
// root. The key file is made at the first start (32 random bytes, hex, mode 0600) and refused
// when others can read it. Requests and replies are JSON strings on a kin::Connection.
//
// A second server on a socket someone answers on is refused (OSError EADDRINUSE); a stale
// socket file (its server died) is replaced. Destroying the server closes every session; a
// crash of the server process leaves a stale socket file, which the next start replaces.
#pragma once

#include <kin/services/daemon.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace kin::services {

/// LSB-style exit codes of `kin ctl` (the LSB init-script codes, status's included).
enum class CtlExit : int {
  ok = 0,
  failed = 1,         // the request failed (a reload with a bad file, an internal error)
  usage = 2,          // bad arguments
  not_running = 3,    // status: a selected instance is not running
  no_permission = 4,  // the key was refused, the key file unreadable, or the peer not allowed
  unknown = 5,        // no service, instance or group of that name
  no_daemon = 7,      // no kin supervise answers on the socket
};

/// A failed control request, with the exit code kin ctl gives it.
class ControlError : public std::runtime_error {
 public:
  ControlError(CtlExit code, const std::string& what) : std::runtime_error(what), code_(code) {}
  [[nodiscard]] CtlExit code() const noexcept { return code_; }

 private:
  CtlExit code_;
};

struct ControlOptions {
  std::string socket{};    // "" : daemon.socket_path()
  std::string key_file{};  // "" : daemon.key_file()
};

class ControlServer {
 public:
  /// Listens at once (OSError when the socket cannot be made; EADDRINUSE when another
  /// server answers there). `daemon` must outlive the server.
  explicit ControlServer(Daemon& daemon, ControlOptions options = {});
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;
  /// Closes the socket (removing its file) and every session, and waits for their threads.
  ~ControlServer();

  [[nodiscard]] const std::string& socket_path() const;
  /// OSError(EADDRINUSE) when a server answers on `socket`: kin supervise checks before it
  /// starts any service, so a second one of the same file starts nothing.
  static void check_free(const std::string& socket);
  /// Clients refused so far (wrong key, or a peer uid not allowed).
  [[nodiscard]] std::size_t refused() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

class ControlClient {
 public:
  /// Reads the key file and connects (ControlError: no_daemon when nothing answers,
  /// no_permission for an unreadable key file or a refused key). `timeout` bounds the connect
  /// and every reply but those of stop/restart/shutdown, which wait for the services' stop.
  ControlClient(const std::string& socket, const std::string& key_file,
                std::chrono::milliseconds timeout = std::chrono::seconds(5));
  ControlClient(const ControlClient&) = delete;
  ControlClient& operator=(const ControlClient&) = delete;
  ~ControlClient();

  /// Every instance, or those of a service, instance or group (ControlError unknown).
  std::vector<ServiceStatus> status(const std::string& name = "all");
  void start(const std::string& name);
  void stop(const std::string& name);
  void restart(const std::string& name);
  ReloadResult reload();
  /// Stops everything and returns once it is stopped; kin supervise then exits.
  void shutdown();
  /// The last `n` lines of an instance's stdout (stderr) log.
  std::vector<std::string> logs(const std::string& instance, std::size_t n, bool err = false);
  /// The last `n` lines, then every new line as it is written (across rotations), until `fn`
  /// returns false or the server goes away.
  void follow(const std::string& instance, std::size_t n, bool err, const std::function<bool(const std::string&)>& fn);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

/// `kin ctl status` as a table: NAME STATE READY PID UPTIME RESTARTS LAST-EXIT CPU% RSS.
std::string status_table(const std::vector<ServiceStatus>& rows);
/// The same rows as a JSON array (the dashboard's /api/status form).
std::string status_json(const std::vector<ServiceStatus>& rows);

}  // namespace kin::services
