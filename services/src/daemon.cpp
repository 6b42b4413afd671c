// kin::services::Daemon (daemon.hpp). Each service runs under its own kin::Supervisor
// (one_for_one, the service's max_restarts/within); the daemon subscribes to each and keeps
// the status table from the events, so status() never asks the supervisors.
#include <kin/services/daemon.hpp>

#include "private_files.hpp"

#include <kin/actor_system.hpp>
#include <kin/supervisor.hpp>

#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

extern char** environ;

namespace kin::services {

namespace {

using Clock = std::chrono::steady_clock;

// A service unchanged by a reload: equal in everything but where its table sits in the file.
bool same(ServiceConfig a, ServiceConfig b) {
  a.where = b.where = {};
  return a == b;
}

// The first line of a small /proc file, read with one read(2) (status() reads two per row).
std::string read_proc(const std::string& path) {
  char buf[1024];
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string{};
}

// utime+stime in clock ticks, and RSS in bytes, from /proc.
bool proc_sample(pid_t pid, unsigned long long& ticks, std::uint64_t& rss) {
  const std::string base = "/proc/" + std::to_string(pid);
  const std::string line = read_proc(base + "/stat");
  auto close = line.rfind(')');
  if (close == std::string::npos || close + 2 >= line.size()) return false;
  std::istringstream in(line.substr(close + 2));
  std::string f;
  unsigned long long ut = 0, stt = 0;
  for (int i = 3; i <= 15 && in >> f; ++i) {
    if (i == 14) ut = std::stoull(f);
    if (i == 15) stt = std::stoull(f);
  }
  ticks = ut + stt;
  std::istringstream sm(read_proc(base + "/statm"));
  unsigned long long size = 0, res = 0;
  sm >> size >> res;
  rss = res * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  return true;
}

}  // namespace

struct Daemon::Impl {
  struct Row {
    ServiceStatus s;
    Clock::time_point started{};
    bool stopped_by_request = false;
    bool ready_on_start = true;  // ready = "none": no ready event comes
    unsigned long long last_ticks = 0;
    Clock::time_point last_sample{};
    pid_t sampled_pid = 0;
  };
  struct Svc {
    ServiceConfig cfg;
  };
  // A supervisor of the tree under the daemon: a service's own (one_for_one, the service's
  // budget), or a group's (its strategy and budget, over all its services' instances).
  struct Unit {
    std::unique_ptr<kin::Supervisor> sup;
    std::set<std::string> children;  // instances it holds a spec of
  };
  Config config;
  DaemonOptions options;
  std::string runtime_dir, log_dir;
  kin::ActorSystem sys;
  caf::actor listener;
  mutable std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> order;  // instance names, start order
  std::map<std::string, Row> rows;
  std::vector<std::unique_ptr<Svc>> svcs;
  std::map<std::string, Unit> units;       // by unit_of(): a service's name or a group's
  std::deque<Clock::time_point> give_ups;  // of units, for [supervisor] max_restarts/within
  std::set<std::string> dead_units;       // units that gave up, until started again
  bool gave_up_flag = false;
  std::deque<TimelineEvent> events;
  std::map<int, std::function<void(const TimelineEvent&)>> subs;
  int next_sub = 1;
  std::mutex ops;  // serialises start/stop/reload/shutdown
  bool stopping_flag = false, stopped = false;
  std::thread stopper;

  Svc* find_svc(const std::string& service) {
    for (auto& s : svcs)
      if (s->cfg.name == service) return s.get();
    return nullptr;
  }

  static std::string unit_of(const ServiceStatus& s) { return s.group.empty() ? s.service : s.group; }
  static std::string unit_of(const ServiceConfig& s) { return s.group.empty() ? s.name : s.group; }

  // OTP's escalation one level up: more than [supervisor] max_restarts units giving up within
  // `within` and the daemon itself gives up (kin supervise then exits 1). Under mu.
  bool count_give_up() {
    const auto now = Clock::now();
    give_ups.push_back(now);
    while (!give_ups.empty() && now - give_ups.front() > config.supervisor.within) give_ups.pop_front();
    if (static_cast<int>(give_ups.size()) <= config.supervisor.max_restarts || gave_up_flag) return false;
    gave_up_flag = true;
    return true;
  }

  void publish(const TimelineEvent& te) {
    std::vector<std::function<void(const TimelineEvent&)>> fns;
    {
      std::lock_guard lk(mu);
      events.push_back(te);
      if (events.size() > 1000) events.pop_front();
      for (auto& [id, fn] : subs) fns.push_back(fn);
    }
    for (auto& fn : fns) fn(te);
  }

  void on_event(const kin::SupervisorEvent& e) {
    TimelineEvent te{std::chrono::system_clock::now(), e.child, to_string(e.kind), e.pid, e.reason};
    bool escalate = false;
    {
      std::lock_guard lk(mu);
      if (e.kind == kin::EventKind::gave_up) {
        te.name = e.supervisor;
        for (auto& [n, r] : rows)
          if (unit_of(r.s) == e.supervisor) {
            r.s.state = "FATAL", r.s.pid = 0, r.s.ready = false;
            r.s.last_reason = e.reason.empty() ? "too many restarts" : e.reason;
          }
        dead_units.insert(e.supervisor);
        escalate = count_give_up();
      } else if (auto it = rows.find(e.child); it != rows.end()) {
        auto& r = it->second;
        switch (e.kind) {
          case kin::EventKind::started:
            r.s.pid = e.pid, r.started = Clock::now(), r.stopped_by_request = false;
            if (r.ready_on_start) r.s.ready = true;
            r.s.state = r.s.ready ? "RUNNING" : "STARTING";
            r.s.restarts = e.restarts;
            break;
          case kin::EventKind::ready:
            r.s.ready = true;
            if (r.s.pid != 0) r.s.state = "RUNNING";
            break;
          case kin::EventKind::exited:
            r.s.pid = 0, r.s.ready = false, r.s.last_exit = e.status, r.s.last_reason = e.reason;
            if (r.s.state != "FATAL") r.s.state = r.stopped_by_request ? "STOPPED" : "EXITED";
            if (e.status) te.detail = e.status->str();
            break;
          case kin::EventKind::restarting: r.s.restarts = e.restarts; break;
          case kin::EventKind::backoff:
            r.s.state = "BACKOFF";
            te.detail = "backoff " + std::to_string(e.delay.count()) + "ms";
            break;
          case kin::EventKind::start_failed:
            r.s.state = "BACKOFF", r.s.pid = 0, r.s.last_reason = e.reason;
            break;
          default: break;
        }
      }
    }
    if (options.log) options.log(to_string(e));
    publish(te);
    if (escalate) {
      if (options.log) options.log("kin.supervise event=gave_up reason=\"too many services gave up\"");
      shutdown_async();
    }
  }

  std::string out_path(const ServiceConfig& s, const std::string& inst, bool err) const {
    const std::string& p = err ? s.log.stderr_path : s.log.stdout_path;
    if (p == "none") return "/dev/null";
    if (err && p == "merge") return out_path(s, inst, false);
    if (!p.empty()) return p;
    return log_dir + "/" + inst + (err ? ".err.log" : ".out.log");
  }

  kin::ChildSpec spec_for(const ServiceConfig& s, int i, const std::string& inst) const {
    kin::ProgramOptions po;
    std::map<std::string, std::string> env;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
      std::string kv(*e);
      auto eq = kv.find('=');
      if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    for (auto& [k, v] : s.env) env[k] = v;
    env["KIN_INSTANCE"] = std::to_string(i);
    po.env = std::move(env);
    po.cwd = s.cwd;
    po.stdout_file = out_path(s, inst, false);
    // "merge": one writer of one file (two would interleave, and rotate it under each other).
    po.stderr_to_stdout = s.log.stderr_path == "merge";
    if (!po.stderr_to_stdout) po.stderr_file = out_path(s, inst, true);
    if (s.log.max_bytes > 0 && *po.stdout_file != "/dev/null")
      po.rotation = kin::LogRotation{.max_bytes = s.log.max_bytes, .backups = s.log.backups};
    kin::ChildSpec spec{.id = inst, .start = kin::program(s.command, po)};
    spec.success_exit_codes = s.success_exit_codes;
    spec.restart = s.restart == RestartPolicy::always       ? kin::permanent
                   : s.restart == RestartPolicy::on_failure ? kin::transient
                                                            : kin::temporary;
    spec.shutdown = s.stop_timeout;
    spec.stop_signal = s.stop_signal;
    spec.backoff = s.backoff;
    spec.readiness.timeout = s.ready.timeout;
    spec.readiness.fd = s.ready.fd;
    spec.readiness.host = s.ready.host.empty() ? std::string("127.0.0.1") : s.ready.host;
    spec.readiness.port = s.ready.port;
    spec.readiness.url = s.ready.url;
    spec.readiness.probe = s.ready.probe;
    switch (s.ready.by) {
      case ReadyConfig::By::none: spec.readiness.by = kin::ReadyBy::started; break;
      case ReadyConfig::By::notify: spec.readiness.by = kin::ReadyBy::notify; break;
      case ReadyConfig::By::fd: spec.readiness.by = kin::ReadyBy::fd; break;
      case ReadyConfig::By::tcp: spec.readiness.by = kin::ReadyBy::tcp; break;
      case ReadyConfig::By::http: spec.readiness.by = kin::ReadyBy::http; break;
      case ReadyConfig::By::exec: spec.readiness.by = kin::ReadyBy::exec; break;
    }
    return spec;
  }

  void add_rows(const ServiceConfig& s) {
    std::lock_guard lk(mu);
    for (auto& inst : instance_names(s)) {
      if (rows.count(inst) == 0) order.push_back(inst);
      Row r;
      r.s.name = inst, r.s.service = s.name, r.s.group = s.group, r.s.state = "STOPPED";
      r.s.last_reason = "not started";
      r.ready_on_start = s.ready.by == ReadyConfig::By::none;
      rows[inst] = r;
    }
  }


  // The unit's supervisor, made on first use (and afresh after it gave up).
  Unit& unit_for(const ServiceConfig& s) {
    const std::string name = unit_of(s);
    Unit& u = units[name];
    {
      std::lock_guard lk(mu);
      if (dead_units.erase(name) != 0) u.sup.reset(), u.children.clear();
    }
    if (!u.sup) {
      kin::SupervisorOptions o{.strategy = kin::one_for_one,
                               .intensity = s.max_restarts,
                               .period = s.within,
                               .name = name,
                               .log = [](const std::string&) {}};
      for (auto& g : config.groups)
        if (g.name == s.group) o.strategy = g.strategy, o.intensity = g.max_restarts, o.period = g.within;
      u.sup = std::make_unique<kin::Supervisor>(sys, std::move(o));
      u.sup->subscribe(listener);
    }
    return u;
  }

  // Takes the instance's spec out of its unit (stopping it first).
  static void remove_child(Unit& u, const std::string& inst) {
    if (u.children.erase(inst) == 0) return;
    try {
      u.sup->terminate_child(inst);  // it reports the exit (how it ended); destruction does not
      u.sup->delete_child(inst);
    } catch (const std::exception&) {
      // gone already: a temporary instance that ended, or a supervisor that gave up
    }
  }

  [[nodiscard]] bool is_up(const std::string& inst) const {
    std::lock_guard lk(mu);
    auto it = rows.find(inst);
    if (it == rows.end()) return false;
    const auto& st = it->second.s.state;
    return st == "RUNNING" || st == "STARTING" || st == "BACKOFF" || st == "STOPPING";
  }

  // Starts the service's instances that are not up, with the current settings, each after the
  // previous is ready.
  // `only`: one instance of it; "": all.
  void start_service(Svc& s, const std::string& only = {}) {
    Unit& u = unit_for(s.cfg);
    auto names = instance_names(s.cfg);
    for (int i = 0; i < static_cast<int>(names.size()); ++i) {
      const auto& inst = names[static_cast<std::size_t>(i)];
      if (!only.empty() && inst != only) continue;
      if (u.children.count(inst) != 0 && is_up(inst)) continue;
      remove_child(u, inst);
      {
        std::lock_guard lk(mu);
        auto& r = rows[inst];
        r.s.state = "STARTING", r.s.restarts = 0, r.stopped_by_request = false;
      }
      try {
        u.sup->start_child(spec_for(s.cfg, i, inst));
        u.children.insert(inst);
      } catch (const std::exception& ex) {
        std::lock_guard lk(mu);
        auto& r = rows[inst];
        r.s.state = "FATAL", r.s.last_reason = ex.what(), r.s.pid = 0;
      }
    }
  }

  // Stops the service's instances in reverse order and takes them out of their unit; a unit
  // left with nothing is dropped.
  void stop_service(Svc& s, const std::string& only = {}) {
    std::vector<std::string> was_down;
    auto mine = [&](const std::string& inst, const Row& r) {
      return r.s.service == s.cfg.name && (only.empty() || inst == only);
    };
    {
      std::lock_guard lk(mu);
      for (auto& [n, r] : rows)
        if (mine(n, r)) {
          r.stopped_by_request = true;
          if (r.s.pid != 0) r.s.state = "STOPPING";
          else if (r.s.state == "BACKOFF" || r.s.state == "STARTING") was_down.push_back(n);
        }
    }
    if (auto it = units.find(unit_of(s.cfg)); it != units.end()) {
      auto names = instance_names(s.cfg);
      for (auto n = names.rbegin(); n != names.rend(); ++n)
        if (only.empty() || *n == only) remove_child(it->second, *n);
      if (it->second.children.empty()) units.erase(it);
    }
    {
      std::lock_guard lk(mu);
      for (auto& [n, r] : rows)
        if (mine(n, r)) {
          if (r.s.state != "FATAL") r.s.state = "STOPPED";
          r.s.pid = 0, r.s.ready = false;
        }
    }
    // An instance stopped while it was down (in backoff, say) has no exit to report.
    for (auto& n : was_down) publish(TimelineEvent{std::chrono::system_clock::now(), n, "stopped", 0, "by request"});
  }

  // What a name selects: "all", a service, a group's services (each with "": all its
  // instances), or one instance (its service, and its name).
  std::vector<std::pair<Svc*, std::string>> select(const std::string& name) {
    std::vector<std::pair<Svc*, std::string>> out;
    for (auto& s : svcs) {
      if (name == "all" || s->cfg.name == name || (!s->cfg.group.empty() && s->cfg.group == name)) {
        out.emplace_back(s.get(), std::string{});
        continue;
      }
      for (auto& inst : instance_names(s->cfg))
        if (inst == name) out.emplace_back(s.get(), inst);
    }
    if (out.empty() && name != "all") throw UnknownService("no service, instance or group named '" + name + "'");
    return out;
  }

  // The rows `pick` selects, in start order, with uptime, CPU% (since the last sample of the
  // same process) and RSS from /proc for those running.
  std::vector<ServiceStatus> rows_of(const std::function<bool(const ServiceStatus&)>& pick) {
    std::lock_guard lk(mu);
    std::vector<ServiceStatus> out;
    const auto now = Clock::now();
    static const long hz = ::sysconf(_SC_CLK_TCK);
    for (auto& n : order) {
      auto it = rows.find(n);
      if (it == rows.end() || !pick(it->second.s)) continue;
      auto& r = it->second;
      ServiceStatus s = r.s;
      if (s.pid > 0) {
        s.uptime = std::chrono::duration_cast<std::chrono::milliseconds>(now - r.started);
        unsigned long long ticks = 0;
        if (proc_sample(s.pid, ticks, s.rss_bytes)) {
          // Since the last sample of this process; the first time, over its life (as ps does).
          const bool again = r.sampled_pid == s.pid;
          const double dt = std::chrono::duration<double>(now - (again ? r.last_sample : r.started)).count();
          const auto used = again ? ticks - r.last_ticks : ticks;
          if (dt > 0) s.cpu_percent = 100.0 * static_cast<double>(used) / static_cast<double>(hz) / dt;
          r.sampled_pid = s.pid, r.last_ticks = ticks, r.last_sample = now;
        }
      }
      out.push_back(std::move(s));
    }
    return out;
  }

  // Reverse start order, each service bounded by its stop_timeout; the whole by
  // shutdown_timeout, after which every instance's process group gets SIGKILL.
  void do_shutdown() {
    std::thread sweeper([this] {
      std::unique_lock lk(mu);
      if (cv.wait_for(lk, config.supervisor.shutdown_timeout, [&] { return stopped; })) return;
      for (auto& [n, r] : rows)
        if (r.s.pid > 1) ::kill(-r.s.pid, SIGKILL), ::kill(r.s.pid, SIGKILL);  // each leads its group
    });
    {
      std::lock_guard g(ops);
      for (auto it = svcs.rbegin(); it != svcs.rend(); ++it) stop_service(**it);
      units.clear();
    }
    {
      std::lock_guard lk(mu);
      stopped = true;
      cv.notify_all();
    }
    sweeper.join();
  }

  void shutdown_async() {
    std::lock_guard lk(mu);
    if (stopping_flag) return;
    stopping_flag = true;
    stopper = std::thread([this] { do_shutdown(); });
  }
};

Daemon::Daemon(Config config, DaemonOptions options) : impl_(std::make_unique<Impl>()) {
  auto& m = *impl_;
  m.config = std::move(config);
  m.options = std::move(options);
  m.runtime_dir = runtime_dir(m.config.supervisor);
  m.log_dir = log_dir(m.config.supervisor);
  detail::make_private_dir(m.runtime_dir);
  std::filesystem::create_directories(m.log_dir);
  Impl* self = impl_.get();
  m.listener = m.sys.spawn([self](caf::event_based_actor*) -> caf::behavior {
    return {[self](const kin::SupervisorEvent& e) { self->on_event(e); }};
  });
  std::lock_guard g(m.ops);
  for (auto& s : m.config.services) {
    auto svc = std::make_unique<Impl::Svc>();
    svc->cfg = s;
    m.add_rows(s);
    m.svcs.push_back(std::move(svc));
  }
  try {
    for (auto& s : m.svcs)
      if (s->cfg.autostart) m.start_service(*s);
  } catch (...) {
    m.units.clear();
    caf::scoped_actor waiter{m.sys};
    waiter->send_exit(m.listener, caf::exit_reason::user_shutdown);
    waiter->wait_for(m.listener);
    throw;
  }
}

Daemon::~Daemon() {
  shutdown();
  wait();
  if (impl_->stopper.joinable()) impl_->stopper.join();
  // The listener touches the table: it must be gone before the table is.
  caf::scoped_actor self{impl_->sys};
  self->send_exit(impl_->listener, caf::exit_reason::user_shutdown);
  self->wait_for(impl_->listener);
}

std::vector<ServiceStatus> Daemon::status() const { return impl_->rows_of([](const ServiceStatus&) { return true; }); }

std::vector<ServiceStatus> Daemon::status(const std::string& name) const {
  auto out = impl_->rows_of([&](const ServiceStatus& s) {
    return name == "all" || s.name == name || s.service == name || (!s.group.empty() && s.group == name);
  });
  if (out.empty() && name != "all") throw UnknownService("no service, instance or group named '" + name + "'");
  return out;
}

void Daemon::start(const std::string& name) {
  std::lock_guard g(impl_->ops);
  for (auto& [s, only] : impl_->select(name)) impl_->start_service(*s, only);
}

void Daemon::stop(const std::string& name) {
  std::lock_guard g(impl_->ops);
  auto sel = impl_->select(name);
  for (auto it = sel.rbegin(); it != sel.rend(); ++it) impl_->stop_service(*it->first, it->second);
}

void Daemon::restart(const std::string& name) {
  std::lock_guard g(impl_->ops);
  auto sel = impl_->select(name);
  for (auto it = sel.rbegin(); it != sel.rend(); ++it) impl_->stop_service(*it->first, it->second);
  for (auto& [s, only] : sel) impl_->start_service(*s, only);
}

ReloadResult Daemon::reload() {
  auto& m = *impl_;
  Config fresh = load_config(m.config.path);
  std::lock_guard g(m.ops);
  ReloadResult res;
  for (auto it = m.svcs.begin(); it != m.svcs.end();) {
    bool kept = false;
    for (auto& s : fresh.services) kept = kept || s.name == (*it)->cfg.name;
    if (kept) {
      ++it;
      continue;
    }
    res.removed.push_back((*it)->cfg.name);
    m.stop_service(**it);
    {
      std::lock_guard lk(m.mu);
      for (auto& inst : instance_names((*it)->cfg)) {
        m.rows.erase(inst);
        std::erase(m.order, inst);
      }
    }
    it = m.svcs.erase(it);
  }
  std::vector<std::unique_ptr<Impl::Svc>> next;
  for (auto& s : fresh.services) {
    std::unique_ptr<Impl::Svc> svc;
    for (auto& old : m.svcs)
      if (old && old->cfg.name == s.name) svc = std::move(old);
    if (!svc) {
      res.added.push_back(s.name);
      svc = std::make_unique<Impl::Svc>();
      svc->cfg = s;
      m.add_rows(s);
      if (s.autostart) m.start_service(*svc);
    } else if (!same(svc->cfg, s)) {
      res.changed.push_back(s.name);
      m.stop_service(*svc);
      {
        std::lock_guard lk(m.mu);
        for (auto& inst : instance_names(svc->cfg)) {
          m.rows.erase(inst);
          std::erase(m.order, inst);
        }
      }
      svc->cfg = s;
      m.add_rows(s);
      if (s.autostart) m.start_service(*svc);
    } else {
      res.unchanged.push_back(s.name);
    }
    next.push_back(std::move(svc));
  }
  m.svcs = std::move(next);
  m.config = std::move(fresh);
  return res;
}

std::vector<std::string> Daemon::log_tail(const std::string& instance, std::size_t n, bool err) const {
  std::ifstream in(log_path(instance, err));
  std::deque<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    lines.push_back(line);
    if (lines.size() > n) lines.pop_front();
  }
  return {lines.begin(), lines.end()};
}

std::string Daemon::log_path(const std::string& instance, bool err) const {
  for (auto& s : impl_->svcs)
    for (auto& inst : instance_names(s->cfg))
      if (inst == instance) return impl_->out_path(s->cfg, inst, err);
  throw UnknownService("no instance named '" + instance + "'");
}

std::vector<TimelineEvent> Daemon::timeline(std::size_t n) const {
  std::lock_guard lk(impl_->mu);
  auto& ev = impl_->events;
  std::size_t from = ev.size() > n ? ev.size() - n : 0;
  return {ev.begin() + static_cast<long>(from), ev.end()};
}

int Daemon::subscribe(std::function<void(const TimelineEvent&)> fn) {
  std::lock_guard lk(impl_->mu);
  int id = impl_->next_sub++;
  impl_->subs[id] = std::move(fn);
  return id;
}

void Daemon::unsubscribe(int id) {
  std::lock_guard lk(impl_->mu);
  impl_->subs.erase(id);
}

void Daemon::shutdown() { impl_->shutdown_async(); }

void Daemon::wait() {
  std::unique_lock lk(impl_->mu);
  impl_->cv.wait(lk, [&] { return impl_->stopped; });
}

bool Daemon::gave_up() const {
  std::lock_guard lk(impl_->mu);
  return impl_->gave_up_flag;
}

bool Daemon::stopping() const {
  std::lock_guard lk(impl_->mu);
  return impl_->stopping_flag;
}

const Config& Daemon::config() const { return impl_->config; }
std::string Daemon::socket_path() const { return kin::services::socket_path(impl_->config.supervisor); }
std::string Daemon::key_file() const { return key_path(impl_->config.supervisor); }

}  // namespace kin::services
