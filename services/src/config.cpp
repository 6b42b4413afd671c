// services.toml: parsing and checking (toml++), see config.hpp.
#include <kin/services/config.hpp>

#include <toml++/toml.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <limits>
#include <set>
#include <sstream>

namespace kin::services {

namespace {
std::string describe(const SourcePosition& w, const std::string& key, const std::string& message) {
  // Appended piece by piece: GCC 12 at -O3 reports a false -Wrestrict for `a + ":" + b` chains.
  std::string s;
  s.append(w.file.empty() ? "<config>" : w.file);
  if (w.line > 0) {
    s.append(":").append(std::to_string(w.line));
    s.append(":").append(std::to_string(w.column));
  }
  s.append(": ");
  if (!key.empty()) s.append(key).append(": ");
  s.append(message);
  return s;
}
}  // namespace

ConfigError::ConfigError(SourcePosition where, std::string key, const std::string& message)
    : std::runtime_error(describe(where, key, message)), where_(std::move(where)), key_(std::move(key)) {}

std::vector<std::string> instance_names(const ServiceConfig& s) {
  if (s.numprocs <= 1) return {s.name};
  std::vector<std::string> names;
  for (int i = 0; i < s.numprocs; ++i) {
    std::string n = s.name;
    n.append("-").append(std::to_string(i));
    names.push_back(std::move(n));
  }
  return names;
}

namespace {

using std::chrono::milliseconds;
namespace fs = std::filesystem;

std::string join(const std::string& a, std::string_view b) {
  std::string s = a;
  if (!s.empty()) s.append(".");
  s.append(b);
  return s;
}

// The state of one parse: the file name for positions, its directory for relative paths.
struct Parser {
  std::string file;
  fs::path dir;

  SourcePosition at(const toml::source_region& r) const {
    return SourcePosition{file, static_cast<int>(r.begin.line), static_cast<int>(r.begin.column)};
  }
  SourcePosition at(const toml::node& n) const { return at(n.source()); }
  [[noreturn]] void fail(const toml::node& n, const std::string& key, const std::string& msg) const {
    throw ConfigError(at(n), key, msg);
  }

  // Refuses any key of `t` outside `valid`, listing the valid ones.
  void check_keys(const toml::table& t, const std::string& where, std::initializer_list<std::string_view> valid) const {
    for (auto&& [k, v] : t) {
      if (std::find(valid.begin(), valid.end(), k.str()) != valid.end()) continue;
      std::string msg = "unknown key; valid keys: ";
      bool first = true;
      for (auto name : valid) {
        if (!first) msg.append(", ");
        msg.append(name);
        first = false;
      }
      throw ConfigError(at(k.source()), join(where, k.str()), msg);
    }
  }

  const toml::table& table(const toml::node& n, const std::string& key) const {
    if (auto* t = n.as_table()) return *t;
    fail(n, key, "must be a table");
  }

  std::string string(const toml::node& n, const std::string& key) const {
    if (auto* s = n.as_string()) return s->get();
    fail(n, key, "must be a string");
  }

  bool boolean(const toml::node& n, const std::string& key) const {
    if (auto* b = n.as_boolean()) return b->get();
    fail(n, key, "must be true or false");
  }

  int integer(const toml::node& n, const std::string& key, std::int64_t min, std::int64_t max) const {
    auto* i = n.as_integer();
    if (i == nullptr) fail(n, key, "must be an integer");
    std::int64_t v = i->get();
    if (v < min || v > max) {
      std::string msg = "must be between ";
      msg.append(std::to_string(min)).append(" and ").append(std::to_string(max));
      fail(n, key, msg);
    }
    return static_cast<int>(v);
  }

  // "100ms", "10s", "1.5s", "2m", "1h", or a number of seconds.
  milliseconds duration(const toml::node& n, const std::string& key) const {
    static const std::string allowed = R"(must be a duration: "100ms", "10s", "1.5s", "2m", "1h" or a number of seconds (not negative))";
    double seconds = 0;
    if (auto* i = n.as_integer()) {
      seconds = static_cast<double>(i->get());
    } else if (auto* f = n.as_floating_point()) {
      seconds = f->get();
    } else if (auto* s = n.as_string()) {
      const std::string& text = s->get();
      std::size_t used = 0;
      double number = 0;
      try {
        if (text.empty() || !(std::isdigit(static_cast<unsigned char>(text[0])) || text[0] == '.')) fail(n, key, allowed);
        number = std::stod(text, &used);
      } catch (const std::logic_error&) {
        fail(n, key, allowed);
      }
      std::string unit = text.substr(used);
      double scale = 0;
      if (unit == "ms") scale = 0.001;
      else if (unit == "s" || unit.empty()) scale = 1;
      else if (unit == "m" || unit == "min") scale = 60;
      else if (unit == "h") scale = 3600;
      else fail(n, key, allowed);
      seconds = number * scale;
    } else {
      fail(n, key, allowed);
    }
    if (!std::isfinite(seconds) || seconds < 0 || seconds > 1e9) fail(n, key, allowed);
    return milliseconds{static_cast<std::int64_t>(std::llround(seconds * 1000.0))};
  }

  // "10MB", "512KiB", "1G", or bytes. K/M/G are powers of 1024 with or without B / iB.
  std::uint64_t size(const toml::node& n, const std::string& key) const {
    static const std::string allowed = R"(must be a size: bytes as an integer, or "512KB", "512KiB", "10MB", "1G" (K, M, G are powers of 1024))";
    if (auto* i = n.as_integer()) {
      if (i->get() < 0) fail(n, key, allowed);
      return static_cast<std::uint64_t>(i->get());
    }
    auto* s = n.as_string();
    if (s == nullptr) fail(n, key, allowed);
    const std::string& text = s->get();
    std::size_t digits = 0;
    while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
    if (digits == 0 || digits > 15) fail(n, key, allowed);
    std::uint64_t number = std::stoull(text.substr(0, digits));
    std::string unit = text.substr(digits);
    if (!unit.empty() && unit.front() == ' ') unit.erase(0, 1);
    for (auto& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    std::uint64_t scale = 0;
    if (unit.empty() || unit == "B") scale = 1;
    else if (unit == "K" || unit == "KB" || unit == "KIB") scale = 1ull << 10;
    else if (unit == "M" || unit == "MB" || unit == "MIB") scale = 1ull << 20;
    else if (unit == "G" || unit == "GB" || unit == "GIB") scale = 1ull << 30;
    else fail(n, key, allowed);
    return number * scale;
  }

  int signal(const toml::node& n, const std::string& key) const {
    static const std::string allowed = R"(must be a signal: a name ("TERM", "SIGTERM", "term") or a number 1-64)";
    if (n.is_integer()) {
      auto* i = n.as_integer();
      if (i->get() < 1 || i->get() > 64) fail(n, key, allowed);
      return static_cast<int>(i->get());
    }
    auto* s = n.as_string();
    if (s == nullptr) fail(n, key, allowed);
    std::string name = s->get();
    for (auto& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (name.rfind("SIG", 0) == 0) name.erase(0, 3);
    static const std::pair<const char*, int> names[] = {
        {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"KILL", SIGKILL}, {"USR1", SIGUSR1},
        {"USR2", SIGUSR2}, {"TERM", SIGTERM}, {"ALRM", SIGALRM}, {"CONT", SIGCONT}, {"STOP", SIGSTOP},
        {"TSTP", SIGTSTP}, {"WINCH", SIGWINCH}, {"ABRT", SIGABRT}, {"PIPE", SIGPIPE}, {"PWR", SIGPWR}};
    for (auto& [nm, value] : names)
      if (name == nm) return value;
    fail(n, key, allowed);
  }

  std::vector<std::string> strings(const toml::node& n, const std::string& key) const {
    std::vector<std::string> out;
    if (auto* s = n.as_string()) {
      out.push_back(s->get());
      return out;
    }
    auto* a = n.as_array();
    if (a == nullptr) fail(n, key, "must be a string or an array of strings");
    for (auto& e : *a) out.push_back(string(e, key));
    return out;
  }

  std::vector<std::string> command(const toml::node& n, const std::string& key) const {
    std::vector<std::string> argv;
    if (auto* s = n.as_string()) {
      argv = split(s->get(), n, key);
    } else if (auto* a = n.as_array()) {
      for (auto& e : *a) argv.push_back(string(e, key));
    } else {
      fail(n, key, "must be a string (split like a shell would) or an array of strings");
    }
    if (argv.empty() || argv[0].empty()) fail(n, key, "must not be empty");
    return argv;
  }

  // Shell-like word splitting: blanks separate, '...' is literal, "..." keeps blanks and takes
  // \" \\ \$ \` escapes, a backslash outside quotes escapes the next character. No expansion.
  std::vector<std::string> split(const std::string& text, const toml::node& n, const std::string& key) const {
    std::vector<std::string> words;
    std::string word;
    bool in_word = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
      char c = text[i];
      if (c == ' ' || c == '\t' || c == '\n') {
        if (in_word) words.push_back(std::move(word));
        word.clear();
        in_word = false;
      } else if (c == '\'') {
        std::size_t end = text.find('\'', i + 1);
        if (end == std::string::npos) fail(n, key, "unterminated ' quote");
        word.append(text, i + 1, end - i - 1);
        i = end;
        in_word = true;
      } else if (c == '"') {
        ++i;
        for (; i < text.size() && text[i] != '"'; ++i) {
          if (text[i] == '\\' && i + 1 < text.size() && std::strchr("\"\\$`", text[i + 1]) != nullptr) ++i;
          word.push_back(text[i]);
        }
        if (i >= text.size()) fail(n, key, "unterminated \" quote");
        in_word = true;
      } else if (c == '\\') {
        if (i + 1 >= text.size()) fail(n, key, "a trailing backslash escapes nothing");
        word.push_back(text[++i]);
        in_word = true;
      } else {
        word.push_back(c);
        in_word = true;
      }
    }
    if (in_word) words.push_back(std::move(word));
    return words;
  }

  std::string path(const toml::node& n, const std::string& key) const {
    std::string p = string(n, key);
    if (p.empty()) fail(n, key, "must not be empty");
    fs::path fp{p};
    if (fp.is_relative()) fp = dir / fp;
    return fp.lexically_normal().string();
  }

  static bool valid_name(std::string_view s) {
    if (s.empty()) return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
    });
  }

  static bool loopback(const std::string& host) {
    return host == "localhost" || host == "::1" || host == "[::1]" || host.rfind("127.", 0) == 0;
  }

  static int port_of(const std::string& text) {
    if (text.empty() || text.size() > 5 || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return -1;
    int p = std::stoi(text);
    return p >= 1 && p <= 65535 ? p : -1;
  }

  ReadyConfig ready(const toml::node& n, const std::string& key, ReadyConfig r) const {
    static const std::string allowed =
        R"(must be "none", "notify", "fd:N", "tcp:HOST:PORT", "tcp:PORT", "http://127.0.0.1:PORT/path" (loopback only) or "exec:COMMAND")";
    auto* s = n.as_string();
    if (s == nullptr) fail(n, key, allowed);
    const std::string& v = s->get();
    r.host.clear();
    r.port = 0;
    r.url.clear();
    r.probe.clear();
    if (v == "none") {
      r.by = ReadyConfig::By::none;
    } else if (v == "notify") {
      r.by = ReadyConfig::By::notify;
    } else if (v.rfind("fd:", 0) == 0) {
      int fd = port_of(v.substr(3));
      if (fd < 3 || fd > 1023) fail(n, key, "fd:N needs a descriptor between 3 and 1023");
      r.by = ReadyConfig::By::fd;
      r.fd = fd;
    } else if (v.rfind("tcp:", 0) == 0) {
      std::string rest = v.substr(4);
      std::size_t colon = rest.rfind(':');
      std::string host = colon == std::string::npos ? "127.0.0.1" : rest.substr(0, colon);
      if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
      int port = port_of(colon == std::string::npos ? rest : rest.substr(colon + 1));
      if (port < 0 || host.empty()) fail(n, key, "tcp: needs tcp:HOST:PORT or tcp:PORT with a port 1-65535");
      r.by = ReadyConfig::By::tcp;
      r.host = host;
      r.port = port;
    } else if (v.rfind("http://", 0) == 0) {
      std::string rest = v.substr(7);
      std::string authority = rest.substr(0, rest.find('/'));
      std::string host = authority;
      std::string port;
      if (!authority.empty() && authority.front() == '[') {
        std::size_t close = authority.find(']');
        if (close == std::string::npos) fail(n, key, allowed);
        host = authority.substr(0, close + 1);
        if (close + 1 < authority.size()) {
          if (authority[close + 1] != ':') fail(n, key, allowed);
          port = authority.substr(close + 2);
        }
      } else if (std::size_t colon = authority.find(':'); colon != std::string::npos) {
        host = authority.substr(0, colon);
        port = authority.substr(colon + 1);
      }
      if (!loopback(host)) fail(n, key, "http: readiness probes only loopback hosts (127.x.x.x, ::1, localhost)");
      if (!port.empty() && port_of(port) < 0) fail(n, key, "http: the port must be 1-65535");
      r.by = ReadyConfig::By::http;
      r.url = v;
    } else if (v.rfind("exec:", 0) == 0) {
      r.probe = split(v.substr(5), n, key);
      if (r.probe.empty()) fail(n, key, "exec: needs a command");
      r.by = ReadyConfig::By::exec;
    } else {
      fail(n, key, allowed);
    }
    return r;
  }

  RestartPolicy restart(const toml::node& n, const std::string& key) const {
    static const std::string allowed =
        R"(must be "always", "on-failure" or "never" (also true = always, false = never, "unexpected" = on-failure))";
    if (auto* b = n.as_boolean()) return b->get() ? RestartPolicy::always : RestartPolicy::never;
    auto* s = n.as_string();
    if (s == nullptr) fail(n, key, allowed);
    const std::string& v = s->get();
    if (v == "always") return RestartPolicy::always;
    if (v == "on-failure" || v == "on_failure" || v == "unexpected") return RestartPolicy::on_failure;
    if (v == "never") return RestartPolicy::never;
    fail(n, key, allowed);
  }

  kin::Strategy strategy(const toml::node& n, const std::string& key) const {
    static const std::string allowed = R"(must be "one_for_one", "one_for_all" or "rest_for_one")";
    auto* s = n.as_string();
    if (s == nullptr) fail(n, key, allowed);
    const std::string& v = s->get();
    if (v == "one_for_one") return kin::Strategy::one_for_one;
    if (v == "one_for_all") return kin::Strategy::one_for_all;
    if (v == "rest_for_one") return kin::Strategy::rest_for_one;
    fail(n, key, allowed);
  }

  void backoff(const toml::node& n, const std::string& key, kin::Backoff& b) const {
    const auto& t = table(n, key);
    check_keys(t, key, {"initial", "max", "factor", "reset_after"});
    for (auto&& [k, v] : t) {
      std::string kk = join(key, k.str());
      if (k == "initial") b.initial = duration(v, kk);
      else if (k == "max") b.max = duration(v, kk);
      else if (k == "reset_after") b.reset_after = duration(v, kk);
      else if (k == "factor") {
        double f = 0;
        if (auto* i = v.as_integer()) f = static_cast<double>(i->get());
        else if (auto* d = v.as_floating_point()) f = d->get();
        else fail(v, kk, "must be a number >= 1");
        if (!(f >= 1.0) || !std::isfinite(f)) fail(v, kk, "must be a number >= 1");
        b.factor = f;
      }
    }
  }

  void log(const toml::node& n, const std::string& key, LogConfig& l) const {
    const auto& t = table(n, key);
    check_keys(t, key, {"stdout", "stderr", "max_size", "backups"});
    for (auto&& [k, v] : t) {
      std::string kk = join(key, k.str());
      if (k == "stdout") {
        l.stdout_path = string(v, kk) == "none" ? std::string{"none"} : path(v, kk);
      } else if (k == "stderr") {
        std::string s = string(v, kk);
        l.stderr_path = (s == "none" || s == "merge") ? s : path(v, kk);
      } else if (k == "max_size") {
        l.max_bytes = size(v, kk);
      } else if (k == "backups") {
        l.backups = integer(v, kk, 0, 1000);
      }
    }
  }

  std::string env_value(const toml::node& n, const std::string& key) const {
    if (auto* s = n.as_string()) return s->get();
    if (auto* i = n.as_integer()) return std::to_string(i->get());
    if (auto* b = n.as_boolean()) return b->get() ? "true" : "false";
    if (auto* f = n.as_floating_point()) {
      std::ostringstream o;
      o << f->get();
      return o.str();
    }
    fail(n, key, "must be a string, a number or a boolean");
  }

  // One [services.NAME] (or [defaults]) table over `s`, which holds the defaults.
  void service(const toml::table& t, const std::string& where, ServiceConfig& s) const {
    check_keys(t, where,
               {"command", "env", "cwd", "numprocs", "instances", "autostart", "restart", "success_exit_codes",
                "backoff", "max_restarts", "within", "stop_signal", "stop_timeout", "depends_on", "ready",
                "ready_timeout", "log"});
    if (t.contains("numprocs") && t.contains("instances"))
      fail(*t.get("instances"), join(where, "instances"), "numprocs and instances are the same key; give one");
    for (auto&& [k, v] : t) {
      std::string kk = join(where, k.str());
      if (k == "command") s.command = command(v, kk);
      else if (k == "env") {
        for (auto&& [ek, ev] : table(v, kk)) s.env[std::string{ek.str()}] = env_value(ev, join(kk, ek.str()));
      } else if (k == "cwd") s.cwd = path(v, kk);
      else if (k == "numprocs" || k == "instances") s.numprocs = integer(v, kk, 1, 10000);
      else if (k == "autostart") s.autostart = boolean(v, kk);
      else if (k == "restart") s.restart = restart(v, kk);
      else if (k == "success_exit_codes") {
        s.success_exit_codes.clear();
        if (v.is_integer()) s.success_exit_codes.push_back(integer(v, kk, 0, 255));
        else if (auto* a = v.as_array()) {
          for (auto& e : *a) s.success_exit_codes.push_back(integer(e, kk, 0, 255));
        } else fail(v, kk, "must be an exit code 0-255 or an array of them");
      } else if (k == "backoff") backoff(v, kk, s.backoff);
      else if (k == "max_restarts") s.max_restarts = integer(v, kk, 0, 1000000);
      else if (k == "within") s.within = duration(v, kk);
      else if (k == "stop_signal") s.stop_signal = signal(v, kk);
      else if (k == "stop_timeout") s.stop_timeout = duration(v, kk);
      else if (k == "depends_on") {
        s.depends_on = strings(v, kk);
        for (auto& d : s.depends_on)
          if (!valid_name(d)) fail(v, kk, "names must be [A-Za-z0-9_.-]+");
      } else if (k == "ready") s.ready = ready(v, kk, s.ready);
      else if (k == "ready_timeout") s.ready.timeout = duration(v, kk);
      else if (k == "log") log(v, kk, s.log);
    }
  }
};

}  // namespace

Config parse_config(std::string_view text, const std::string& path) {
  Config config;
  std::error_code ec;
  fs::path abs = fs::absolute(fs::path{path}, ec);
  config.path = (ec ? fs::path{path} : abs).lexically_normal().string();
  Parser p{path, fs::path{config.path}.parent_path()};

  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    throw ConfigError(p.at(e.source()), "", std::string{e.description()});
  }
  p.check_keys(root, "", {"supervisor", "defaults", "services", "groups"});

  if (auto* n = root.get("supervisor")) {
    const auto& t = p.table(*n, "supervisor");
    p.check_keys(t, "supervisor",
                 {"name", "runtime_dir", "socket", "key_file", "log_dir", "max_restarts", "within",
                  "shutdown_timeout", "http", "token_file"});
    auto& s = config.supervisor;
    for (auto&& [k, v] : t) {
      std::string kk = join("supervisor", k.str());
      if (k == "name") {
        s.name = p.string(v, kk);
        if (!Parser::valid_name(s.name)) p.fail(v, kk, "must be [A-Za-z0-9_.-]+");
      } else if (k == "runtime_dir") s.runtime_dir = p.path(v, kk);
      else if (k == "socket") s.socket = p.path(v, kk);
      else if (k == "key_file") s.key_file = p.path(v, kk);
      else if (k == "log_dir") s.log_dir = p.path(v, kk);
      else if (k == "token_file") s.token_file = p.path(v, kk);
      else if (k == "max_restarts") s.max_restarts = p.integer(v, kk, 0, 1000000);
      else if (k == "within") s.within = p.duration(v, kk);
      else if (k == "shutdown_timeout") s.shutdown_timeout = p.duration(v, kk);
      else if (k == "http") {
        std::string h = p.string(v, kk);
        std::size_t colon = h.rfind(':');
        if (colon == std::string::npos || colon == 0 || Parser::port_of(h.substr(colon + 1)) < 0)
          p.fail(v, kk, R"(must be "HOST:PORT", e.g. "127.0.0.1:8080" (port 1-65535))");
        s.http = h;
      }
    }
  }

  ServiceConfig defaults;
  if (auto* n = root.get("defaults")) {
    const auto& t = p.table(*n, "defaults");
    p.service(t, "defaults", defaults);
  }

  std::vector<ServiceConfig> in_file;
  if (auto* n = root.get("services")) {
    for (auto&& [k, v] : p.table(*n, "services")) {
      std::string where = join("services", k.str());
      if (!Parser::valid_name(k.str())) throw ConfigError(p.at(k.source()), where, "service names must be [A-Za-z0-9_.-]+");
      ServiceConfig s = defaults;
      s.name = std::string{k.str()};
      s.where = p.at(v);
      const auto& t = p.table(v, where);
      p.service(t, where, s);
      if (s.command.empty()) throw ConfigError(s.where, where, "has no command (command = \"prog args\" or [\"prog\", \"args\"])");
      in_file.push_back(std::move(s));
    }
  }
  // toml++ keeps a table's keys sorted, not in file order: restore the file order.
  std::stable_sort(in_file.begin(), in_file.end(), [](const ServiceConfig& a, const ServiceConfig& b) {
    return std::pair{a.where.line, a.where.column} < std::pair{b.where.line, b.where.column};
  });

  auto find_service = [&](const std::string& name) -> ServiceConfig* {
    for (auto& s : in_file)
      if (s.name == name) return &s;
    return nullptr;
  };

  if (auto* n = root.get("groups")) {
    for (auto&& [k, v] : p.table(*n, "groups")) {
      std::string where = join("groups", k.str());
      if (!Parser::valid_name(k.str())) throw ConfigError(p.at(k.source()), where, "group names must be [A-Za-z0-9_.-]+");
      GroupConfig g;
      g.name = std::string{k.str()};
      g.where = p.at(v);
      const auto& t = p.table(v, where);
      p.check_keys(t, where, {"services", "strategy", "max_restarts", "within"});
      if (find_service(g.name) != nullptr) throw ConfigError(g.where, where, "a service has the same name; depends_on could not tell them apart");
      for (auto&& [gk, gv] : t) {
        std::string kk = join(where, gk.str());
        if (gk == "services") {
          g.services = p.strings(gv, kk);
          for (auto& name : g.services) {
            ServiceConfig* s = find_service(name);
            if (s == nullptr) p.fail(gv, kk, std::string{"no service named "}.append(name));
            if (!s->group.empty() && s->group != g.name) {
              std::string msg = "service ";
              msg.append(name).append(" is already in group ").append(s->group).append(" (a service is in at most one group)");
              p.fail(gv, kk, msg);
            }
            if (s->group == g.name) p.fail(gv, kk, std::string{"lists "}.append(name).append(" twice"));
            s->group = g.name;
          }
        } else if (gk == "strategy") g.strategy = p.strategy(gv, kk);
        else if (gk == "max_restarts") g.max_restarts = p.integer(gv, kk, 0, 1000000);
        else if (gk == "within") g.within = p.duration(gv, kk);
      }
      if (g.services.empty()) throw ConfigError(g.where, where, "lists no services (services = [\"a\", \"b\"])");
      // One restart budget per supervisor: the group's, for every instance of its services.
      for (auto& name : g.services)
        for (const char* key : {"max_restarts", "within"})
          if (const toml::node* own = root.at_path(std::string{"services."}.append(name).append(".").append(key)).node()) {
            std::string msg = "service ";
            msg.append(name).append(" is in group ").append(g.name).append(", whose ").append(key);
            msg.append(" applies to all its services; set it in [groups.").append(g.name).append("]");
            throw ConfigError(p.at(*own), join(join("services", name), key), msg);
          }
      config.groups.push_back(std::move(g));
    }
    std::stable_sort(config.groups.begin(), config.groups.end(), [](const GroupConfig& a, const GroupConfig& b) {
      return std::pair{a.where.line, a.where.column} < std::pair{b.where.line, b.where.column};
    });
  }

  auto find_group = [&](const std::string& name) -> const GroupConfig* {
    for (auto& g : config.groups)
      if (g.name == name) return &g;
    return nullptr;
  };

  // Instance names share one namespace (kin ctl addresses them): "a" x2 makes a-0, a-1.
  {
    std::map<std::string, const ServiceConfig*> owner;
    for (auto& s : in_file)
      for (auto& inst : instance_names(s)) {
        auto [it, fresh] = owner.emplace(inst, &s);
        if (!fresh) {
          std::string msg = "instance name ";
          msg.append(inst).append(" collides with an instance of service ").append(it->second->name);
          throw ConfigError(s.where, join("services", s.name), msg);
        }
      }
  }

  // Dependencies as indices into in_file (a group stands for all its services).
  const std::size_t n = in_file.size();
  std::vector<std::vector<std::size_t>> deps(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto& s = in_file[i];
    std::string kk = join(join("services", s.name), "depends_on");
    const toml::node* node = root.at_path(std::string{"services."}.append(s.name).append(".depends_on")).node();
    if (node == nullptr) node = root.at_path("defaults.depends_on").node();
    SourcePosition pos = node != nullptr ? p.at(*node) : s.where;
    for (auto& d : s.depends_on) {
      if (d == s.name) throw ConfigError(pos, kk, "a service cannot depend on itself");
      auto add = [&](const std::string& name) {
        for (std::size_t j = 0; j < n; ++j)
          if (in_file[j].name == name && j != i) deps[i].push_back(j);
      };
      if (find_service(d) != nullptr) add(d);
      else if (const GroupConfig* g = find_group(d)) {
        if (g->name == s.group) throw ConfigError(pos, kk, std::string{"depends on its own group "}.append(d));
        for (auto& member : g->services) add(member);
      } else {
        throw ConfigError(pos, kk, std::string{"no service or group named "}.append(d));
      }
    }
  }

  // Cycles: a depth-first search names the first one it meets.
  {
    std::vector<int> state(n, 0);  // 0 unvisited, 1 on the stack, 2 done
    std::vector<std::size_t> stack;
    std::function<void(std::size_t)> visit = [&](std::size_t i) {
      state[i] = 1;
      stack.push_back(i);
      for (std::size_t j : deps[i]) {
        if (state[j] == 1) {
          std::string cycle;
          auto from = std::find(stack.begin(), stack.end(), j);
          for (auto it = from; it != stack.end(); ++it) cycle.append(in_file[*it].name).append(" -> ");
          cycle.append(in_file[j].name);
          auto& s = in_file[j];
          throw ConfigError(s.where, join(join("services", s.name), "depends_on"), std::string{"dependency cycle: "}.append(cycle));
        }
        if (state[j] == 0) visit(j);
      }
      stack.pop_back();
      state[i] = 2;
    };
    for (std::size_t i = 0; i < n; ++i)
      if (state[i] == 0) visit(i);
  }

  // Start order: repeatedly the first service in file order whose dependencies are all placed.
  std::vector<bool> placed(n, false);
  for (std::size_t round = 0; round < n; ++round) {
    for (std::size_t i = 0; i < n; ++i) {
      if (placed[i]) continue;
      if (std::all_of(deps[i].begin(), deps[i].end(), [&](std::size_t j) { return placed[j]; })) {
        placed[i] = true;
        config.services.push_back(in_file[i]);
        break;
      }
    }
  }
  return config;
}

Config load_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    throw ConfigError(SourcePosition{path, 0, 0}, "", std::string{"cannot read: "}.append(std::strerror(err)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    int err = errno;
    throw ConfigError(SourcePosition{path, 0, 0}, "", std::string{"cannot read: "}.append(std::strerror(err)));
  }
  return parse_config(text.str(), path);
}

std::string runtime_dir(const SupervisorConfig& s) {
  if (!s.runtime_dir.empty()) return s.runtime_dir;
  if (const char* x = std::getenv("XDG_RUNTIME_DIR"); x != nullptr && *x != '\0') return std::string(x) + "/kin";
  return "/tmp/kin-" + std::to_string(::geteuid());
}

std::string socket_path(const SupervisorConfig& s) {
  return s.socket.empty() ? runtime_dir(s) + "/" + s.name + ".sock" : s.socket;
}

std::string key_path(const SupervisorConfig& s) {
  return s.key_file.empty() ? runtime_dir(s) + "/" + s.name + ".key" : s.key_file;
}

std::string log_dir(const SupervisorConfig& s) {
  return s.log_dir.empty() ? runtime_dir(s) + "/logs/" + s.name : s.log_dir;
}

}  // namespace kin::services
