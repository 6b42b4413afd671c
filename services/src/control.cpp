// The control socket (control.hpp). The server: kin::Listener accepts and authenticates on
// kin's runtime thread; each authenticated session then runs on a thread of its own, because
// its requests call the daemon's blocking operations (a stop waits for the service's stop).
// Sessions are few (a person or a script at a time); closing the server shuts the reading side of every
// session's socket, which ends its blocking read, and joins its thread.
#include <kin/services/control.hpp>

#include "json.hpp"
#include "private_files.hpp"

#include <kin/errors.hpp>
#include <kin/listener.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <list>
#include <mutex>
#include <thread>

namespace kin::services {

namespace {

using nlohmann::json;
using Conn = kin::Connection<std::string>;

constexpr std::size_t kMaxLine = 64 * 1024;  // a longer line without a newline is sent in pieces
constexpr std::size_t kLinesPerMessage = 512;

// Whether a server answers on the Unix socket `path`.
bool someone_answers(const std::string& path) {
  unique_fd s{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (!s || path.size() >= sizeof(sockaddr_un::sun_path)) return false;
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  return ::connect(s.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0;
}

bool peer_allowed(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return false;
  return cred.uid == ::geteuid() || cred.uid == 0;
}

// Splits `buf` into complete lines (and over-long pieces); what is left has no newline.
std::vector<std::string> take_lines(std::string& buf) {
  std::vector<std::string> out;
  std::size_t from = 0;
  for (;;) {
    auto nl = buf.find('\n', from);
    if (nl == std::string::npos) {
      if (buf.size() - from < kMaxLine) break;
      nl = from + kMaxLine;
      out.push_back(buf.substr(from, kMaxLine));
      from = nl;
      continue;
    }
    out.push_back(buf.substr(from, nl - from));
    from = nl + 1;
  }
  buf.erase(0, from);
  return out;
}

// Appends what the file has past `offset` to `buf`.
void read_more(int fd, off_t& offset, std::string& buf) {
  char chunk[64 * 1024];
  for (;;) {
    ssize_t n = ::pread(fd, chunk, sizeof chunk, offset);
    if (n <= 0) return;
    buf.append(chunk, static_cast<std::size_t>(n));
    offset += n;
  }
}

// The last `n` lines of the file, and the offset they end at (the follow starts there).
std::vector<std::string> tail(int fd, std::size_t n, off_t& offset, std::string& rest) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return {};
  const off_t window = 4 * 1024 * 1024;  // a tail never reads a whole 10 MB log
  offset = st.st_size > window ? st.st_size - window : 0;
  const bool cut = offset > 0;
  std::string buf;
  read_more(fd, offset, buf);
  auto lines = take_lines(buf);
  rest = std::move(buf);
  if (cut && !lines.empty()) lines.erase(lines.begin());  // the first one starts mid-line
  if (lines.size() > n) lines.erase(lines.begin(), lines.end() - static_cast<long>(n));
  return lines;
}

json error_reply(CtlExit code, const std::string& what) {
  return json{{"ok", false}, {"code", static_cast<int>(code)}, {"error", what}};
}

}  // namespace

// ---- the server ----------------------------------------------------------------------------

struct ControlServer::Impl {
  struct Session {
    Conn conn;
    std::thread thread;
    std::atomic<bool> done{false};
  };

  Daemon& daemon;
  std::string socket;
  std::unique_ptr<kin::Listener<std::string>> listener;
  std::thread acceptor;
  std::mutex mu;
  std::list<Session> sessions;
  bool closing = false;
  std::atomic<std::size_t> refused{0};

  explicit Impl(Daemon& d) : daemon(d) {}

  void accept_loop() {
    for (;;) {
      Conn c;
      try {
        c = listener->accept();
      } catch (const kin::AuthenticationError&) {
        ++refused;  // a wrong key; the listener keeps serving
        continue;
      } catch (const std::exception&) {
        std::lock_guard g(mu);
        if (closing) return;
        continue;  // a client that vanished mid-handshake
      }
      if (!peer_allowed(c.fileno())) {
        ++refused;  // another user who got hold of the key and a way to the socket
        try {
          c.send(error_reply(CtlExit::no_permission, "kin supervise: this socket serves its own user only").dump());
        } catch (const std::exception&) {
        }
        continue;
      }
      std::lock_guard g(mu);
      if (closing) return;
      for (auto it = sessions.begin(); it != sessions.end();) {
        if (it->done) {
          it->thread.join();
          it = sessions.erase(it);
        } else {
          ++it;
        }
      }
      auto& s = sessions.emplace_back();
      s.conn = std::move(c);
      s.thread = std::thread([this, &s] {
        serve(s.conn);
        s.done = true;
      });
    }
  }

  void serve(Conn& c) {
    for (;;) {
      json req;
      try {
        req = json::parse(c.recv());
      } catch (const json::exception&) {
        try {
          c.send(error_reply(CtlExit::usage, "a request must be a JSON object").dump());
        } catch (const std::exception&) {
        }
        return;
      } catch (const std::exception&) {
        return;  // the client closed, or the server is closing
      }
      json reply;
      bool follow = false;
      std::string path;
      std::size_t n = 0;
      try {
        const std::string op = req.value("op", "");
        const std::string name = req.value("name", "all");
        if (op == "status") {
          reply = json{{"ok", true}, {"status", detail::status_array(daemon.status(name))}};
        } else if (op == "start" || op == "stop" || op == "restart") {
          if (op == "start") daemon.start(name);
          else if (op == "stop") daemon.stop(name);
          else daemon.restart(name);
          reply = json{{"ok", true}};
        } else if (op == "reload") {
          auto r = daemon.reload();
          reply = json{{"ok", true}, {"added", r.added}, {"removed", r.removed}, {"changed", r.changed},
                       {"unchanged", r.unchanged}};
        } else if (op == "shutdown") {
          daemon.shutdown();
          daemon.wait();
          reply = json{{"ok", true}};
        } else if (op == "logs") {
          path = daemon.log_path(name, req.value("err", false));
          n = req.value("n", std::size_t{10});
          follow = req.value("follow", false);
          if (!follow) reply = json{{"ok", true}, {"lines", daemon.log_tail(name, n, req.value("err", false))}};
        } else {
          reply = error_reply(CtlExit::usage, "unknown request '" + op + "'");
        }
      } catch (const UnknownService& e) {
        reply = error_reply(CtlExit::unknown, e.what());
      } catch (const json::exception& e) {
        reply = error_reply(CtlExit::usage, std::string{"a bad request: "}.append(e.what()));
      } catch (const std::exception& e) {
        reply = error_reply(CtlExit::failed, e.what());
      }
      try {
        if (follow) return follow_log(c, path, n);
        c.send(reply.dump());
      } catch (const std::exception&) {
        return;
      }
    }
  }

  // Sends the last `n` lines, then every line appended, across rotations (the file renamed
  // and a new one made), until the client closes or the server does. Woken by inotify on the
  // file's directory, with a slow timer beside it in case inotify is unavailable.
  void follow_log(Conn& c, const std::string& path, std::size_t n) {
    unique_fd file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    off_t offset = 0;
    std::string rest;
    std::vector<std::string> first;
    if (file) first = tail(file.get(), n, offset, rest);
    c.send(json{{"ok", true}, {"lines", first}}.dump());
    unique_fd ino{::inotify_init1(IN_CLOEXEC | IN_NONBLOCK)};
    if (ino)
      ::inotify_add_watch(ino.get(), std::filesystem::path{path}.parent_path().c_str(),
                          IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_CLOSE_WRITE);
    for (;;) {
      if (!file) {
        file.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        offset = 0;
      }
      if (file) {
        read_more(file.get(), offset, rest);
        struct stat now {}, open_one {};
        const bool rotated = ::stat(path.c_str(), &now) == 0 && ::fstat(file.get(), &open_one) == 0 &&
                             (now.st_ino != open_one.st_ino || now.st_dev != open_one.st_dev);
        if (rotated) {  // what the old file got is read; the rest is in the new one
          if (!rest.empty()) rest.push_back('\n');
          file.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
          offset = 0;
          if (file) read_more(file.get(), offset, rest);
        }
      }
      auto lines = take_lines(rest);
      for (std::size_t i = 0; i < lines.size(); i += kLinesPerMessage) {
        auto end = lines.begin() + static_cast<long>(std::min(lines.size(), i + kLinesPerMessage));
        c.send(json{{"lines", std::vector<std::string>(lines.begin() + static_cast<long>(i), end)}}.dump());
      }
      pollfd p[2] = {{c.fileno(), POLLIN | POLLRDHUP, 0}, {ino ? ino.get() : -1, POLLIN, 0}};
      int r = ::poll(p, 2, ino ? 1000 : 200);
      if (r < 0 && errno != EINTR) return;
      if ((p[0].revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR)) != 0) return;  // closed (nothing else is sent)
      if ((p[1].revents & POLLIN) != 0) {
        char drain[4096];
        while (::read(ino.get(), drain, sizeof drain) > 0) {
        }
      }
    }
  }
};

ControlServer::ControlServer(Daemon& daemon, ControlOptions options) : impl_(std::make_unique<Impl>(daemon)) {
  auto& m = *impl_;
  m.socket = options.socket.empty() ? daemon.socket_path() : options.socket;
  const std::string key = detail::read_or_make_key(options.key_file.empty() ? daemon.key_file() : options.key_file);
  detail::make_private_dir(std::filesystem::path{m.socket}.parent_path().string());
  struct stat st {};
  if (::lstat(m.socket.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      throw OSError(EEXIST, "kin supervise: " + m.socket + " exists and is not a socket; refusing to replace it");
    check_free(m.socket);
    ::unlink(m.socket.c_str());  // stale: its server died
  }
  m.listener = std::make_unique<kin::Listener<std::string>>(kin::Address::unix_path(m.socket), key);
  // The directory is 0700 already; the mode is for whoever opens it up.
  if (::chmod(m.socket.c_str(), 0600) != 0) throw OSError(errno, "kin supervise: chmod " + m.socket);
  m.acceptor = std::thread([&m] { m.accept_loop(); });
}

ControlServer::~ControlServer() {
  auto& m = *impl_;
  {
    std::lock_guard g(m.mu);
    m.closing = true;
  }
  m.listener->close();  // wakes accept(); removes the socket file
  m.acceptor.join();
  std::lock_guard g(m.mu);
  // SHUT_RD ends a session's blocking read (or its follow) but lets a reply being written go
  // out: `kin ctl shutdown` gets its answer although the server closes once the daemon stops.
  for (auto& s : m.sessions) ::shutdown(s.conn.fileno(), SHUT_RD);
  for (auto& s : m.sessions) s.thread.join();
}

void ControlServer::check_free(const std::string& socket) {
  if (someone_answers(socket)) throw OSError(EADDRINUSE, "kin supervise: another supervisor answers on " + socket);
}

const std::string& ControlServer::socket_path() const { return impl_->socket; }
std::size_t ControlServer::refused() const { return impl_->refused; }

// ---- the client ----------------------------------------------------------------------------

struct ControlClient::Impl {
  Conn conn;
  std::chrono::milliseconds timeout;

  json call(const json& req, std::chrono::milliseconds bound) {
    try {
      conn.send(req.dump());
    } catch (const std::exception& e) {
      // A server that refused us said why before it closed: read that first.
      if (conn.poll(std::chrono::milliseconds(0))) return next(bound);
      throw ControlError(CtlExit::no_daemon, std::string{"kin ctl: the supervisor went away: "}.append(e.what()));
    }
    return next(bound);
  }

  json next(std::chrono::milliseconds bound) {
    std::optional<std::string> text;
    try {
      text = conn.recv(bound);
    } catch (const kin::EOFError&) {
      throw ControlError(CtlExit::no_permission,
                         "kin ctl: the supervisor closed the connection (it refuses other users, and a stopped "
                         "supervisor closes it too)");
    } catch (const std::exception& e) {
      throw ControlError(CtlExit::failed, std::string{"kin ctl: "}.append(e.what()));
    }
    if (!text) throw ControlError(CtlExit::failed, "kin ctl: no reply within " + std::to_string(bound.count()) + " ms");
    json j;
    try {
      j = json::parse(*text);
    } catch (const json::exception&) {
      throw ControlError(CtlExit::failed, "kin ctl: a reply that is not JSON");
    }
    if (!j.value("ok", true))
      throw ControlError(static_cast<CtlExit>(j.value("code", 1)), j.value("error", std::string{"failed"}));
    return j;
  }
};

namespace {
// Stops, restarts and shutdowns wait for the services' own stop timeouts, and starts for
// readiness: a bound of their own, long, but a bound.
constexpr auto kLongBound = std::chrono::minutes(10);
}  // namespace

ControlClient::ControlClient(const std::string& socket, const std::string& key_file, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>()) {
  impl_->timeout = timeout;
  std::string key;
  {
    unique_fd fd{::open(key_file.c_str(), O_RDONLY | O_CLOEXEC)};
    if (!fd) throw ControlError(CtlExit::no_permission, "kin ctl: cannot read the key file " + key_file + ": " + std::strerror(errno));
    char buf[4096];
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n > 0) key.assign(buf, static_cast<std::size_t>(n));
    while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' ')) key.pop_back();
    if (key.empty()) throw ControlError(CtlExit::no_permission, "kin ctl: the key file " + key_file + " is empty");
  }
  try {
    impl_->conn = kin::Client<std::string>(kin::Address::unix_path(socket), key, timeout);
  } catch (const kin::AuthenticationError&) {
    throw ControlError(CtlExit::no_permission, "kin ctl: the supervisor at " + socket + " refused the key of " + key_file);
  } catch (const kin::TimeoutError&) {
    throw ControlError(CtlExit::no_daemon, "kin ctl: the supervisor at " + socket + " did not answer within " +
                                               std::to_string(timeout.count()) + " ms");
  } catch (const kin::OSError& e) {
    if (e.error_code() == EACCES || e.error_code() == EPERM)
      throw ControlError(CtlExit::no_permission, std::string{"kin ctl: "}.append(e.what()));
    throw ControlError(CtlExit::no_daemon, "kin ctl: no supervisor at " + socket + " (" + e.what() + ")");
  } catch (const std::exception& e) {
    throw ControlError(CtlExit::no_daemon, "kin ctl: no supervisor at " + socket + " (" + e.what() + ")");
  }
}

ControlClient::~ControlClient() = default;

std::vector<ServiceStatus> ControlClient::status(const std::string& name) {
  auto j = impl_->call(json{{"op", "status"}, {"name", name}}, impl_->timeout);
  std::vector<ServiceStatus> out;
  try {
    for (const auto& row : j.at("status")) out.push_back(detail::status_from_json(row));
  } catch (const json::exception& e) {
    throw ControlError(CtlExit::failed, std::string{"kin ctl: a malformed status reply: "}.append(e.what()));
  }
  return out;
}

void ControlClient::start(const std::string& name) { impl_->call(json{{"op", "start"}, {"name", name}}, kLongBound); }
void ControlClient::stop(const std::string& name) { impl_->call(json{{"op", "stop"}, {"name", name}}, kLongBound); }
void ControlClient::restart(const std::string& name) {
  impl_->call(json{{"op", "restart"}, {"name", name}}, kLongBound);
}

ReloadResult ControlClient::reload() {
  auto j = impl_->call(json{{"op", "reload"}}, kLongBound);
  ReloadResult r;
  r.added = j.value("added", std::vector<std::string>{});
  r.removed = j.value("removed", std::vector<std::string>{});
  r.changed = j.value("changed", std::vector<std::string>{});
  r.unchanged = j.value("unchanged", std::vector<std::string>{});
  return r;
}

void ControlClient::shutdown() { impl_->call(json{{"op", "shutdown"}}, kLongBound); }

std::vector<std::string> ControlClient::logs(const std::string& instance, std::size_t n, bool err) {
  auto j = impl_->call(json{{"op", "logs"}, {"name", instance}, {"n", n}, {"err", err}}, impl_->timeout);
  return j.value("lines", std::vector<std::string>{});
}

void ControlClient::follow(const std::string& instance, std::size_t n, bool err,
                           const std::function<bool(const std::string&)>& fn) {
  auto j = impl_->call(json{{"op", "logs"}, {"name", instance}, {"n", n}, {"err", err}, {"follow", true}},
                       impl_->timeout);
  for (;;) {
    for (const auto& line : j.value("lines", std::vector<std::string>{}))
      if (!fn(line)) return;
    for (;;) {
      try {
        if (impl_->conn.poll(std::chrono::hours(1))) break;
      } catch (const std::exception&) {
        return;
      }
    }
    try {
      j = impl_->next(impl_->timeout);
    } catch (const ControlError&) {
      return;  // the server went away: the follow ends
    }
  }
}

// ---- output --------------------------------------------------------------------------------

namespace {
std::string human_duration(std::chrono::milliseconds d) {
  auto s = d.count() / 1000;
  char buf[32];
  if (s < 60) std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  else if (s < 86400) std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(s / 3600), static_cast<long long>(s / 60 % 60));
  else std::snprintf(buf, sizeof buf, "%lldd%02lldh", static_cast<long long>(s / 86400), static_cast<long long>(s / 3600 % 24));
  return buf;
}

std::string human_bytes(std::uint64_t b) {
  char buf[32];
  if (b == 0) return "-";
  if (b < 1024 * 1024) std::snprintf(buf, sizeof buf, "%.0fK", static_cast<double>(b) / 1024);
  else if (b < 1024ull * 1024 * 1024) std::snprintf(buf, sizeof buf, "%.1fM", static_cast<double>(b) / (1024.0 * 1024));
  else std::snprintf(buf, sizeof buf, "%.2fG", static_cast<double>(b) / (1024.0 * 1024 * 1024));
  return buf;
}
}  // namespace

std::string status_table(const std::vector<ServiceStatus>& rows) {
  std::vector<std::vector<std::string>> cells{{"NAME", "STATE", "READY", "PID", "UPTIME", "RESTARTS", "LAST-EXIT", "CPU%", "RSS"}};
  for (const auto& s : rows) {
    char cpu[16];
    std::snprintf(cpu, sizeof cpu, "%.1f", s.cpu_percent);
    cells.push_back({s.name, s.state, s.ready ? "yes" : "no", s.pid > 0 ? std::to_string(s.pid) : "-",
                     s.pid > 0 ? human_duration(s.uptime) : "-", std::to_string(s.restarts),
                     s.last_exit ? s.last_exit->str() : "-", s.pid > 0 ? cpu : "-", human_bytes(s.rss_bytes)});
  }
  std::vector<std::size_t> width(cells[0].size(), 0);
  for (const auto& r : cells)
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  std::string out;
  for (const auto& r : cells) {
    for (std::size_t i = 0; i < r.size(); ++i) {
      out.append(r[i]);
      if (i + 1 < r.size()) out.append(width[i] - r[i].size() + 2, ' ');
    }
    out.push_back('\n');
  }
  return out;
}

std::string status_json(const std::vector<ServiceStatus>& rows) { return detail::status_array(rows).dump(); }

}  // namespace kin::services
