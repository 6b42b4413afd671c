// kin::Supervisor's actor: one queue of operations (start, stop, remove, delay, quit) run one
// at a time, so children start in order, each after the previous is ready, and stop in
// reverse order; everything else (exits, readiness, timers, calls) arrives as messages. The
// actor never blocks waiting for a child: the runtime thread and CAF's monitors tell it.
#include <kin/errors.hpp>
#include <kin/runtime/runtime.hpp>
#include <kin/runtime/unique_fd.hpp>
#include <kin/supervisor.hpp>

#include "supervisor_internal.hpp"

#include <caf/all.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <deque>
#include <mutex>
#include <set>
#include <sstream>

namespace kin {

std::string to_string(EventKind kind) {
  switch (kind) {
    case EventKind::started: return "started";
    case EventKind::ready: return "ready";
    case EventKind::exited: return "exited";
    case EventKind::restarting: return "restarting";
    case EventKind::backoff: return "backoff";
    case EventKind::start_failed: return "start_failed";
    case EventKind::gave_up: return "gave_up";
    case EventKind::reaped_orphan: return "reaped_orphan";
    case EventKind::output_lost: return "output_lost";
  }
  return "?";
}

std::string to_string(ChildState s) {
  switch (s) {
    case ChildState::starting: return "starting";
    case ChildState::running: return "running";
    case ChildState::stopping: return "stopping";
    case ChildState::backoff: return "backoff";
    case ChildState::stopped: return "stopped";
  }
  return "?";
}

namespace {
std::string quoted(const std::string& s) {
  if (!s.empty() && s.find_first_of(" \"=\\") == std::string::npos) return s;
  std::string r = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') r += '\\';
    r += c;
  }
  return r + "\"";
}
}  // namespace

std::string to_string(const SupervisorEvent& e) {
  std::ostringstream o;
  o << "kin.supervisor sup=" << quoted(e.supervisor) << " event=" << to_string(e.kind);
  if (!e.child.empty()) o << " child=" << quoted(e.child);
  if (e.pid) o << " pid=" << e.pid;
  if (e.status) o << " status=" << quoted(e.status->str());
  if (!e.reason.empty() && (!e.status || e.reason != e.status->str())) o << " reason=" << quoted(e.reason);
  if (e.kind != EventKind::started && e.kind != EventKind::ready && e.kind != EventKind::reaped_orphan &&
      e.kind != EventKind::output_lost)
    o << " restarts=" << e.restarts;
  if (e.kind == EventKind::backoff) o << " delay_ms=" << e.delay.count();
  if (e.group) o << " group=" << e.group;
  return o.str();
}

namespace detail {
namespace {

using namespace supervisor_atoms;
using clock = std::chrono::steady_clock;
using State = ::kin::ChildState;
using std::chrono::milliseconds;

caf::error error_reply(const std::string& kind, int err, const std::string& what) {
  return caf::make_error(caf::sec::runtime_error, kind, static_cast<std::int32_t>(err), what);
}
caf::error value_error(const std::string& what) { return error_reply("ValueError", 0, what); }

// An actor's exit reason in words; an error_reply (a nested supervisor that could not start
// its children ends with one) by its message alone.
std::string reason_text(const caf::error& reason) {
  const caf::message& ctx = reason.context();
  if (reason == caf::sec::runtime_error && ctx.match_elements<std::string, std::int32_t, std::string>())
    return ctx.get_as<std::string>(2);
  return describe(reason);
}

// The number of supervisors that want the process to be a subreaper.
std::mutex subreaper_mu;
int subreaper_users = 0;

struct Child {
  ChildSpec spec;
  State state = State::stopped;
  std::uint64_t gen = 0;
  std::unique_ptr<ChildRun> run;
  pid_t pid = 0;
  int restarts = 0;
  std::optional<ExitStatus> last_exit;
  std::string last_reason;
  std::string fail_reason;  // why kin ended it (start timeout, shutdown timeout)
  clock::time_point started_at{};
  milliseconds next_delay{0};
  unique_fd ready_fd;       // our end of the notify socket or readiness pipe
  Runtime::Id ready_watch = 0;
  unique_fd probe_fd;       // ReadyBy::tcp/http: the socket of the current attempt
  std::unique_ptr<ChildRun> probe_run;  // ReadyBy::exec: the running probe (destroying it kills it)
  bool probe_sent = false;  // ReadyBy::http: the request went out; reading the status line
  std::string probe_buf;
  bool dynamic = false;     // made from the simple_one_for_one template
};

struct Op {
  enum class Kind { start, stop, remove, delay, quit, parent_ready };
  Kind kind = Kind::start;
  std::string id{};
  std::optional<caf::response_promise> rp{};
  bool initial = false;  // the child's first start: a failure deletes it and is the reply
  milliseconds delay{0};
};

struct SupState {
  static inline const char* name = "kin.supervisor";
  SupervisorOptions opt;
  ActorSystem* sys = nullptr;
  caf::actor parent;  // a nested supervisor's supervisor
  std::string id_in_parent;
  std::uint64_t parent_gen = 0;
  std::vector<std::unique_ptr<Child>> children;  // in start order
  std::optional<ChildSpec> templ;                // simple_one_for_one
  std::uint64_t dyn_counter = 0;
  std::deque<Op> ops;
  std::optional<Op> waiting;  // the op in progress (a start awaiting ready, a stop awaiting exit)
  std::uint64_t waiting_gen = 0;
  std::uint64_t delay_token = 0;
  std::deque<clock::time_point> restart_times;
  std::vector<caf::actor> subscribers;
  bool shutting_down = false;
  caf::error quit_reason;
  std::set<pid_t> groups;  // process groups of our children, for orphan reaping
  bool reap_armed = false;
  bool subreaper = false;
  std::uint64_t notify_counter = 0;

  ~SupState() {
    // The actor ended without stopping its children (exit_reason::kill): the runs' destructors
    // kill them.
    for (auto& c : children)
      if (c->ready_watch) Runtime::get().unwatch_fd(c->ready_watch);
    children.clear();
    if (subreaper) {
      std::lock_guard lk(subreaper_mu);
      if (--subreaper_users == 0) ::prctl(PR_SET_CHILD_SUBREAPER, 0);
    }
  }
};

using Self = caf::stateful_actor<SupState>;

std::atomic<std::uint64_t> notify_names{0};

// Where ReadyBy::tcp/http connect: a numeric address (no resolver, which could block).
struct ProbeTarget {
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::string host;  // for the Host header
  std::string path = "/";
};

bool numeric_address(const std::string& host, int port, ProbeTarget& t) {
  if (port <= 0 || port > 65535) return false;
  auto* a4 = reinterpret_cast<sockaddr_in*>(&t.addr);
  auto* a6 = reinterpret_cast<sockaddr_in6*>(&t.addr);
  if (::inet_pton(AF_INET, host.c_str(), &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(static_cast<std::uint16_t>(port));
    t.len = sizeof(sockaddr_in);
    return true;
  }
  if (::inet_pton(AF_INET6, host.c_str(), &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(static_cast<std::uint16_t>(port));
    t.len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

// http://HOST[:PORT][/PATH] with HOST localhost, 127.x.y.z or [::1]; nullopt otherwise.
std::optional<ProbeTarget> parse_loopback_url(const std::string& url) {
  const std::string scheme = "http://";
  if (url.compare(0, scheme.size(), scheme) != 0) return std::nullopt;
  std::string rest = url.substr(scheme.size());
  ProbeTarget t;
  auto slash = rest.find('/');
  if (slash != std::string::npos) {
    t.path = rest.substr(slash);
    rest.resize(slash);
  }
  std::string host;
  std::string port = "80";
  if (!rest.empty() && rest[0] == '[') {
    auto close = rest.find(']');
    if (close == std::string::npos) return std::nullopt;
    host = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') return std::nullopt;
      port = rest.substr(close + 2);
    }
  } else {
    auto colon = rest.find(':');
    host = rest.substr(0, colon);
    if (colon != std::string::npos) port = rest.substr(colon + 1);
  }
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  t.host = host;
  if (host == "localhost") host = "127.0.0.1";
  if (!numeric_address(host, std::stoi(port), t)) return std::nullopt;
  if (t.addr.ss_family == AF_INET) {
    auto a = ntohl(reinterpret_cast<sockaddr_in*>(&t.addr)->sin_addr.s_addr);
    if ((a >> 24) != 127) return std::nullopt;
  } else if (!IN6_IS_ADDR_LOOPBACK(&reinterpret_cast<sockaddr_in6*>(&t.addr)->sin6_addr)) {
    return std::nullopt;
  }
  if (t.host.find(':') != std::string::npos) t.host = "[" + t.host + "]";
  return t;
}

std::optional<ProbeTarget> probe_target(const kin::Readiness& rd) {
  if (rd.by == ReadyBy::http) return parse_loopback_url(rd.url);
  ProbeTarget t;
  if (!numeric_address(rd.host, rd.port, t)) return std::nullopt;
  return t;
}

class Sup {
 public:
  explicit Sup(Self* self) : self_(self), st_(self->state) {}

  Child* find(const std::string& id) {
    for (auto& c : st_.children)
      if (c->spec.id == id) return c.get();
    return nullptr;
  }
  std::size_t index_of(const Child* c) {
    for (std::size_t i = 0; i < st_.children.size(); ++i)
      if (st_.children[i].get() == c) return i;
    return st_.children.size();
  }
  Child* find_actor(const caf::actor_addr& a) {
    for (auto& c : st_.children)
      if (c->run && c->run->actor() && c->run->actor().address() == a) return c.get();
    return nullptr;
  }

  void emit(EventKind kind, const Child* c, std::string reason = {}, milliseconds delay = milliseconds{0}) {
    SupervisorEvent e;
    e.kind = kind;
    e.supervisor = st_.opt.name;
    if (c) {
      e.child = c->spec.id;
      e.pid = c->pid;
      e.restarts = c->restarts;
      if (kind == EventKind::exited) e.status = c->last_exit;
    }
    e.reason = std::move(reason);
    e.delay = delay;
    publish(e);
  }

  // A log pump's report (runtime thread): the child may have been deleted since.
  void output_lost(const std::string& id, const std::string& reason) {
    if (Child* c = find(id)) return emit(EventKind::output_lost, c, reason);
    SupervisorEvent e;
    e.kind = EventKind::output_lost;
    e.supervisor = st_.opt.name;
    e.child = id;
    e.reason = reason;
    publish(e);
  }

  // The one way out for every event: a message to each subscriber and a log line.
  // The line goes first, so a subscriber that got the message can rely on the log having it.
  void publish(const SupervisorEvent& e) {
    const std::string line = to_string(e);
    if (st_.opt.log)
      st_.opt.log(line);
    else
      std::fprintf(stderr, "%s\n", line.c_str());
    for (auto& s : st_.subscribers) caf::anon_send(s, e);
  }

  // ---- validation ----
  std::optional<caf::error> check_spec(const ChildSpec& s, bool is_template = false) {
    if (s.id.empty()) return value_error("kin::ChildSpec: empty id");
    if (!is_template && find(s.id)) return value_error("kin::ChildSpec: duplicate id \"" + s.id + "\"");
    if (s.start.kind() == ChildStart::Kind::none) return value_error("kin::ChildSpec \"" + s.id + "\": no .start");
    if (s.start.kind() == ChildStart::Kind::program) {
      if (s.start.argv().empty()) return value_error("kin::ChildSpec \"" + s.id + "\": empty argv");
      if (find_program(s.start.argv()[0]).empty())
        return error_reply("OSError", ENOENT,
                           "kin::ChildSpec \"" + s.id + "\": no executable program \"" + s.start.argv()[0] + "\"");
    }
    if (s.shutdown.kind() == Shutdown::Kind::timeout && s.shutdown.timeout() < milliseconds{0})
      return value_error("kin::ChildSpec \"" + s.id + "\": negative shutdown");
    if (s.stop_signal <= 0 || s.stop_signal >= NSIG)
      return value_error("kin::ChildSpec \"" + s.id + "\": bad stop_signal");
    if (s.backoff.initial < milliseconds{0} || s.backoff.factor < 1.0 || s.backoff.max < s.backoff.initial)
      return value_error("kin::ChildSpec \"" + s.id + "\": bad backoff (initial >= 0, max >= initial, factor >= 1)");
    if (s.readiness.by != ReadyBy::started) {
      const auto k = s.start.kind();
      if (k != ChildStart::Kind::process && k != ChildStart::Kind::program)
        return value_error("kin::ChildSpec \"" + s.id + "\": readiness needs a process or program child");
      if (s.readiness.by == ReadyBy::fd && (k != ChildStart::Kind::program || s.readiness.fd < 3))
        return value_error("kin::ChildSpec \"" + s.id + "\": fd readiness needs a program and an fd >= 3");
      if (s.readiness.timeout <= milliseconds{0})
        return value_error("kin::ChildSpec \"" + s.id + "\": readiness timeout must be positive");
      if (s.readiness.by == ReadyBy::exec &&
          (s.readiness.probe.empty() || find_program(s.readiness.probe[0]).empty()))
        return value_error("kin::ChildSpec \"" + s.id + "\": exec readiness needs a probe command that exists");
      if (s.readiness.by == ReadyBy::tcp && !probe_target(s.readiness))
        return value_error("kin::ChildSpec \"" + s.id + "\": tcp readiness needs a numeric host and a port in 1..65535");
      if (s.readiness.by == ReadyBy::http && !probe_target(s.readiness))
        return value_error("kin::ChildSpec \"" + s.id +
                           "\": http readiness needs a url http://HOST:PORT/PATH with a loopback HOST, not \"" +
                           s.readiness.url + "\"");
      if (s.readiness.by >= ReadyBy::tcp && s.readiness.interval <= milliseconds{0})
        return value_error("kin::ChildSpec \"" + s.id + "\": readiness interval must be positive");
    }
    return std::nullopt;
  }

  // ---- the op queue ----
  void push(Op op) { st_.ops.push_back(std::move(op)); }
  void pump() {
    while (!st_.waiting && !st_.ops.empty()) {
      Op op = std::move(st_.ops.front());
      st_.ops.pop_front();
      exec(std::move(op));
    }
  }
  void wait_for(Op op, std::uint64_t gen) {
    st_.waiting = std::move(op);
    st_.waiting_gen = gen;
  }
  bool waiting_on(const Child* c, Op::Kind k) {
    return st_.waiting && st_.waiting->kind == k && st_.waiting->id == c->spec.id && st_.waiting_gen == c->gen;
  }
  void done() {
    st_.waiting.reset();
    pump();
  }

  void exec(Op op) {
    switch (op.kind) {
      case Op::Kind::start: return exec_start(std::move(op));
      case Op::Kind::stop: return exec_stop(std::move(op));
      case Op::Kind::remove:
        if (Child* c = find(op.id); c && c->state == State::stopped) erase(c);
        if (op.rp) op.rp->deliver(caf::ok_atom::value);
        return;
      case Op::Kind::delay: {
        auto token = ++st_.delay_token;
        self_->delayed_send(self_, op.delay, delay_atom::value, token);
        wait_for(std::move(op), token);
        return;
      }
      case Op::Kind::parent_ready:
        caf::anon_send(st_.parent, ready_atom::value, st_.id_in_parent, st_.parent_gen);
        return;
      case Op::Kind::quit:
        reap_orphans();
        self_->quit(st_.quit_reason);
        return;
    }
  }

  void erase(Child* c) {
    if (c->ready_watch) Runtime::get().unwatch_fd(c->ready_watch);
    auto i = index_of(c);
    if (i < st_.children.size()) st_.children.erase(st_.children.begin() + static_cast<std::ptrdiff_t>(i));
  }

  void stop_ready_watch(Child* c) {
    if (c->ready_watch) Runtime::get().unwatch_fd(c->ready_watch);
    c->ready_watch = 0;
    c->ready_fd.reset();
    c->probe_fd.reset();
    c->probe_sent = false;
    c->probe_buf.clear();
    c->probe_run.reset();
  }

  void watch_ready(Child* c, bool notify) {
    caf::actor me = caf::actor_cast<caf::actor>(self_);
    std::string id = c->spec.id;
    std::uint64_t gen = c->gen;
    c->ready_watch = Runtime::get().watch_fd(c->ready_fd.get(), Readiness::read, [me, id, gen, notify] {
      if (notify)
        caf::anon_send(me, notify_atom::value, id, gen);
      else
        caf::anon_send(me, ready_fd_atom::value, id, gen);
    });
  }

  void exec_start(Op op) {
    Child* c = find(op.id);
    if (!c) {
      if (op.rp) op.rp->deliver(value_error("kin::Supervisor: no child \"" + op.id + "\""));
      return;
    }
    if (c->state == State::running || c->state == State::starting) {
      if (op.rp) op.rp->deliver(c->spec.id);
      return;
    }
    ++c->gen;
    c->fail_reason.clear();
    StartContext ctx;
    ctx.sys = st_.sys;
    ctx.supervisor = caf::actor_cast<caf::actor>(self_);
    ctx.id = c->spec.id;
    ctx.generation = c->gen;
    unique_fd child_end;
    const auto& rd = c->spec.readiness;
    try {
      if (rd.by == ReadyBy::notify) {
        unique_fd s(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
        if (!s) throw OSError(errno, "socket");
        std::string name = "kin-notify-" + std::to_string(::getpid()) + "-" + std::to_string(++notify_names);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::memcpy(addr.sun_path + 1, name.data(), name.size());
        if (::bind(s.get(), reinterpret_cast<const sockaddr*>(&addr),
                   static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size())) != 0)
          throw OSError(errno, "bind " + name);
        c->ready_fd = std::move(s);
        ctx.notify_socket = "@" + name;
      } else if (rd.by == ReadyBy::fd) {
        int p[2];
        if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) throw OSError(errno, "pipe2");
        c->ready_fd = unique_fd(p[0]);
        child_end = unique_fd(p[1]);
        int fl = ::fcntl(child_end.get(), F_GETFL);
        ::fcntl(child_end.get(), F_SETFL, fl & ~O_NONBLOCK);
        ctx.ready_fd = child_end.get();
        ctx.ready_fd_number = rd.fd;
      }
      c->run = c->spec.start.starter()(ctx);
    } catch (const OSError& e) {
      c->ready_fd.reset();
      return start_failed(c, std::move(op), e.what(), error_reply("OSError", e.error_code(), e.what()));
    } catch (const std::exception& e) {
      c->ready_fd.reset();
      return start_failed(c, std::move(op), e.what(), value_error(e.what()));
    }
    child_end.reset();
    c->pid = c->run->pid();
    if (c->pid > 0 && st_.opt.reap_orphans) {
      st_.groups.insert(c->pid);
      arm_reap();
    }
    if (auto a = c->run->actor()) self_->monitor(a);
    c->started_at = clock::now();
    emit(EventKind::started, c);
    if (rd.by != ReadyBy::started || c->run->reports_ready()) {
      c->state = State::starting;
      if (c->ready_fd) watch_ready(c, rd.by == ReadyBy::notify);
      if (rd.by != ReadyBy::started)
        self_->delayed_send(self_, rd.timeout, ready_timeout_atom::value, c->spec.id, c->gen);
      if (rd.by >= ReadyBy::tcp) self_->send(self_, probe_atom::value, c->spec.id, c->gen);
      wait_for(std::move(op), c->gen);
      return;
    }
    c->state = State::running;
    if (op.rp) op.rp->deliver(c->spec.id);
  }

  // A start that threw, or a child that ended before it was ready.
  void start_failed(Child* c, Op op, const std::string& why, caf::error err) {
    c->state = State::stopped;
    c->last_reason = why;
    stop_ready_watch(c);
    emit(EventKind::start_failed, c, why);
    if (op.initial) {
      if (op.rp) op.rp->deliver(std::move(err));
      erase(c);
      if (!st_.parent || st_.shutting_down) return;
      // A nested supervisor whose initial children cannot start fails its own start.
      begin_shutdown(caf::make_error(caf::sec::runtime_error, "child " + op.id + ": " + why));
      return;
    }
    if (op.rp) op.rp->deliver(std::move(err));
    child_ended(c, true);
  }

  void became_ready(Child* c) {
    if (c->state != State::starting) return;
    stop_ready_watch(c);
    c->state = State::running;
    emit(EventKind::ready, c);
    if (waiting_on(c, Op::Kind::start)) {
      if (st_.waiting->rp) st_.waiting->rp->deliver(c->spec.id);
      done();
    }
  }

  void exec_stop(Op op) {
    Child* c = find(op.id);
    if (!c) {
      if (op.rp) op.rp->deliver(value_error("kin::Supervisor: no child \"" + op.id + "\""));
      return;
    }
    switch (c->state) {
      case State::stopped:
      case State::backoff:
        c->state = State::stopped;
        ++c->gen;  // a pending backoff timer is stale now
        if (op.rp) op.rp->deliver(caf::ok_atom::value);
        if (c->dynamic) erase(c);
        return;
      case State::stopping:
        break;  // already signalled: just wait for the exit
      case State::running:
      case State::starting: {
        auto kind = c->spec.shutdown.kind();
        if (kind == Shutdown::Kind::by_type)
          kind = c->spec.type == ChildType::supervisor ? Shutdown::Kind::infinity : Shutdown::Kind::timeout;
        if (kind == Shutdown::Kind::brutal_kill) {
          c->run->signal(SIGKILL);
        } else {
          c->run->signal(c->spec.type == ChildType::supervisor ? SIGTERM : c->spec.stop_signal);
          if (kind == Shutdown::Kind::timeout) {
            milliseconds t = c->spec.shutdown.kind() == Shutdown::Kind::by_type ? milliseconds{5000}
                                                                                 : c->spec.shutdown.timeout();
            self_->delayed_send(self_, t, kill_timeout_atom::value, c->spec.id, c->gen);
          }
        }
        c->state = State::stopping;
        break;
      }
    }
    wait_for(std::move(op), c->gen);
  }

  // ---- a child ended ----
  void on_exit(Child* c, std::optional<ExitStatus> status, std::string reason, bool abnormal) {
    const State prev = c->state;
    c->run.reset();
    stop_ready_watch(c);
    c->last_exit = status;
    if (!c->fail_reason.empty()) reason += " (" + c->fail_reason + ")";
    c->last_reason = reason;
    emit(EventKind::exited, c, reason);
    c->pid = 0;
    c->state = State::stopped;
    if (waiting_on(c, Op::Kind::stop)) {
      Op op = std::move(*st_.waiting);
      if (op.rp) op.rp->deliver(caf::ok_atom::value);
      if (c->dynamic || c->spec.restart == Restart::temporary) erase(c);
      return done();
    }
    if (prev == State::starting && waiting_on(c, Op::Kind::start)) {
      Op op = std::move(*st_.waiting);
      st_.waiting.reset();
      start_failed(c, std::move(op), "ended before it was ready: " + reason,
                   value_error("kin::Supervisor: child \"" + c->spec.id + "\" ended before it was ready: " + reason));
      return pump();
    }
    if (prev == State::stopping) return pump();
    child_ended(c, abnormal);
    pump();
  }

  // OTP's restart decision for a child that ended on its own.
  void child_ended(Child* c, bool abnormal) {
    if (st_.shutting_down) return;
    const auto r = c->spec.restart;
    if (r == Restart::temporary) {
      erase(c);
      return;
    }
    if (r == Restart::transient && !abnormal) {
      if (c->dynamic) erase(c);
      return;
    }
    const auto now = clock::now();
    st_.restart_times.push_back(now);
    while (!st_.restart_times.empty() && st_.restart_times.front() < now - st_.opt.period)
      st_.restart_times.pop_front();
    if (static_cast<int>(st_.restart_times.size()) > st_.opt.intensity) {
      emit(EventKind::gave_up, nullptr,
           "more than " + std::to_string(st_.opt.intensity) + " restarts in " +
               std::to_string(st_.opt.period.count()) + " ms (last: " + c->spec.id + ")");
      begin_shutdown(caf::exit_reason::user_shutdown);
      return;
    }
    ++c->restarts;
    const milliseconds delay = next_delay(c, now);
    emit(EventKind::restarting, c);
    const std::string id = c->spec.id;
    if (st_.opt.strategy == Strategy::one_for_one || st_.opt.strategy == Strategy::simple_one_for_one) {
      if (delay > milliseconds{0}) {
        c->state = State::backoff;
        emit(EventKind::backoff, c, {}, delay);
        self_->delayed_send(self_, delay, backoff_atom::value, id, c->gen);
      } else {
        push(Op{.kind = Op::Kind::start, .id = id});
      }
      return;
    }
    // one_for_all: every child; rest_for_one: this one and those started after it.
    std::size_t first = st_.opt.strategy == Strategy::one_for_all ? 0 : index_of(c);
    std::vector<std::string> group;
    std::vector<bool> restart;
    for (std::size_t i = first; i < st_.children.size(); ++i) {
      Child* o = st_.children[i].get();
      const bool live = o->state != State::stopped || o == c;
      group.push_back(o->spec.id);
      restart.push_back(live && (o == c || o->spec.restart != Restart::temporary));
    }
    for (std::size_t i = group.size(); i-- > 0;)
      if (group[i] != id) push(Op{.kind = Op::Kind::stop, .id = group[i]});
    if (delay > milliseconds{0}) {
      emit(EventKind::backoff, c, {}, delay);
      push(Op{.kind = Op::Kind::delay, .delay = delay});
    }
    for (std::size_t i = 0; i < group.size(); ++i) {
      Child* o = find(group[i]);
      if (o && o->spec.restart == Restart::temporary && group[i] != id)
        push(Op{.kind = Op::Kind::remove, .id = group[i]});
      else if (restart[i])
        push(Op{.kind = Op::Kind::start, .id = group[i]});
    }
  }

  milliseconds next_delay(Child* c, clock::time_point now) {
    const Backoff& b = c->spec.backoff;
    if (b.initial <= milliseconds{0}) return milliseconds{0};
    if (c->next_delay <= milliseconds{0} || now - c->started_at >= b.reset_after) c->next_delay = b.initial;
    milliseconds d = c->next_delay;
    auto grown = static_cast<std::int64_t>(std::ceil(static_cast<double>(d.count()) * b.factor));
    c->next_delay = std::min(b.max, milliseconds{grown});
    return d;
  }

  // Stop everything in reverse order, then end with `reason`.
  void begin_shutdown(caf::error reason) {
    if (st_.shutting_down) return;
    st_.shutting_down = true;
    st_.quit_reason = std::move(reason);
    auto gone = value_error("kin::Supervisor: the supervisor is shutting down");
    for (auto& op : st_.ops)
      if (op.rp) op.rp->deliver(gone);
    st_.ops.clear();
    if (st_.waiting && st_.waiting->kind != Op::Kind::stop) {
      if (st_.waiting->rp) st_.waiting->rp->deliver(gone);
      st_.waiting.reset();
    }
    for (std::size_t i = st_.children.size(); i-- > 0;)
      if (st_.children[i]->state != State::stopped) push(Op{.kind = Op::Kind::stop, .id = st_.children[i]->spec.id});
    push(Op{.kind = Op::Kind::quit});
    pump();
  }

  // ---- orphans (subreaper) ----
  void arm_reap() {
    if (st_.reap_armed || st_.groups.empty()) return;
    st_.reap_armed = true;
    self_->delayed_send(self_, milliseconds{100}, reap_atom::value);
  }
  bool is_live_child(pid_t pid) {
    for (auto& c : st_.children)
      if (c->run && c->pid == pid) return true;
    return false;
  }
  // Reaps the zombies in our children's process groups that are not the children themselves:
  // grandchildren orphaned by a dying child (the subreaper made them ours). WNOWAIT first, so
  // a child kin tracks is never reaped here.
  void reap_orphans() {
    for (auto it = st_.groups.begin(); it != st_.groups.end();) {
      const pid_t g = *it;
      for (;;) {
        siginfo_t si{};
        if (::waitid(P_PGID, static_cast<id_t>(g), &si, WEXITED | WNOHANG | WNOWAIT) != 0 || si.si_pid == 0) break;
        if (is_live_child(si.si_pid)) break;
        siginfo_t done{};
        if (::waitid(P_PID, static_cast<id_t>(si.si_pid), &done, WEXITED | WNOHANG) != 0) break;
        SupervisorEvent e;
        e.kind = EventKind::reaped_orphan;
        e.supervisor = st_.opt.name;
        e.pid = si.si_pid;
        e.group = g;
        e.status = ExitStatus::from_siginfo(done.si_code, done.si_status);
        publish(e);
      }
      const bool leader_alive = is_live_child(g);
      if (!leader_alive && ::kill(-g, 0) != 0 && errno == ESRCH)
        it = st_.groups.erase(it);
      else
        ++it;
    }
  }

  // ---- the calls ----
  void call_start(ChildSpec spec) {
    auto rp = self_->make_response_promise();
    if (st_.shutting_down) return void(rp.deliver(value_error("kin::Supervisor: the supervisor is shutting down")));
    if (st_.opt.strategy == Strategy::simple_one_for_one)
      return void(rp.deliver(value_error("kin::Supervisor: simple_one_for_one takes start_child(args...)")));
    if (auto err = check_spec(spec)) return void(rp.deliver(std::move(*err)));
    if (spec.start.kind() == ChildStart::Kind::supervisor) spec.type = ChildType::supervisor;
    auto c = std::make_unique<Child>();
    c->spec = std::move(spec);
    const std::string id = c->spec.id;
    st_.children.push_back(std::move(c));
    push(Op{.kind = Op::Kind::start, .id = id, .rp = rp, .initial = true});
    pump();
  }

  void call_start_args(std::any& args) {
    auto rp = self_->make_response_promise();
    if (st_.shutting_down) return void(rp.deliver(value_error("kin::Supervisor: the supervisor is shutting down")));
    if (!st_.templ) return void(rp.deliver(value_error("kin::Supervisor: start_child(args...) needs simple_one_for_one")));
    ChildSpec spec = *st_.templ;
    spec.id = st_.templ->id + "-" + std::to_string(++st_.dyn_counter);
    try {
      // No arguments: the template's start as it is (a nested supervisor, a closure).
      if (!st_.templ->start.extender() && !std::any_cast<std::tuple<>>(&args))
        throw ValueError("kin::Supervisor: the template's start cannot take arguments (a closure, or too few parameters)");
      if (st_.templ->start.extender()) spec.start = st_.templ->start.extender()(args);
    } catch (const std::exception& e) {
      return void(rp.deliver(value_error(e.what())));
    }
    if (auto err = check_spec(spec)) return void(rp.deliver(std::move(*err)));
    if (spec.start.kind() == ChildStart::Kind::supervisor) spec.type = ChildType::supervisor;
    auto c = std::make_unique<Child>();
    c->spec = std::move(spec);
    c->dynamic = true;
    const std::string id = c->spec.id;
    st_.children.push_back(std::move(c));
    push(Op{.kind = Op::Kind::start, .id = id, .rp = rp, .initial = true});
    pump();
  }

  void call_simple(Op::Kind kind, const std::string& id) {
    auto rp = self_->make_response_promise();
    Child* c = find(id);
    if (!c) return void(rp.deliver(value_error("kin::Supervisor: no child \"" + id + "\"")));
    if (st_.shutting_down) return void(rp.deliver(value_error("kin::Supervisor: the supervisor is shutting down")));
    if (kind == Op::Kind::remove) {
      if (c->state != State::stopped)
        return void(rp.deliver(value_error("kin::Supervisor::delete_child: \"" + id + "\" is running")));
      erase(c);
      return void(rp.deliver(caf::ok_atom::value));
    }
    if (kind == Op::Kind::stop) {
      push(Op{.kind = Op::Kind::stop, .id = id, .rp = rp});
    } else {  // restart
      if (c->state != State::stopped && c->state != State::backoff)
        push(Op{.kind = Op::Kind::stop, .id = id});
      if (c->state == State::backoff) {
        c->state = State::stopped;
        ++c->gen;
      }
      push(Op{.kind = Op::Kind::start, .id = id, .rp = rp});
    }
    pump();
  }

  std::vector<ChildInfo> which() {
    std::vector<ChildInfo> r;
    for (auto& c : st_.children) {
      ChildInfo i;
      i.id = c->spec.id;
      i.kind = c->spec.start.kind();
      i.type = c->spec.type;
      i.state = c->state;
      i.pid = c->pid;
      if (c->run) i.actor = c->run->actor();
      i.restarts = c->restarts;
      i.last_exit = c->last_exit;
      i.last_reason = c->last_reason;
      r.push_back(std::move(i));
    }
    return r;
  }

  ChildCounts count() {
    ChildCounts n;
    for (auto& c : st_.children) {
      ++n.specs;
      if (c->state == State::running || c->state == State::starting) ++n.active;
      if (c->spec.type == ChildType::supervisor)
        ++n.supervisors;
      else
        ++n.workers;
    }
    return n;
  }

  // ---- readiness messages ----
  void on_notify(const std::string& id, std::uint64_t gen) {
    Child* c = find(id);
    if (!c || c->gen != gen || !c->ready_fd) return;
    c->ready_watch = 0;  // the watch fired
    char buf[4096];
    bool ready = false;
    for (;;) {
      auto n = ::recv(c->ready_fd.get(), buf, sizeof buf - 1, MSG_DONTWAIT);
      if (n < 0) break;
      std::string_view msg(buf, static_cast<std::size_t>(n));
      std::size_t pos = 0;
      while (pos <= msg.size()) {
        auto end = msg.find('\n', pos);
        if (end == std::string_view::npos) end = msg.size();
        if (msg.substr(pos, end - pos) == "READY=1") ready = true;
        pos = end + 1;
      }
    }
    if (ready) return became_ready(c);
    watch_ready(c, true);
  }

  // One step of a tcp/http readiness attempt. Every call is non-blocking; a step that cannot
  // finish yet (connect in progress, no answer yet) is taken again after `interval`.
  void on_probe(const std::string& id, std::uint64_t gen) {
    Child* c = find(id);
    if (!c || c->gen != gen || c->state != State::starting) return;
    const auto& rd = c->spec.readiness;
    auto again = [&] { self_->delayed_send(self_, rd.interval, probe_atom::value, id, gen); };
    auto retry = [&] {
      c->probe_fd.reset();
      c->probe_sent = false;
      c->probe_buf.clear();
      again();
    };
    if (rd.by == ReadyBy::exec) {
      if (c->probe_run) return;  // one probe at a time
      StartContext ctx;
      ctx.sys = st_.sys;
      ctx.supervisor = caf::actor_cast<caf::actor>(self_);
      ctx.id = id;
      ctx.generation = gen;
      ctx.probe = true;
      try {
        c->probe_run = start_program_run(ctx, rd.probe, {});
      } catch (const std::exception&) {
        return again();  // the probe could not start this time (fork, exec)
      }
      return;
    }
    auto target = probe_target(rd);
    if (!target) return;  // check_spec refused it
    if (!c->probe_fd) {
      unique_fd s(::socket(target->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
      if (!s) return again();
      int r = ::connect(s.get(), reinterpret_cast<const sockaddr*>(&target->addr), target->len);
      if (r != 0 && errno != EINPROGRESS) return again();
      c->probe_fd = std::move(s);
    }
    if (!c->probe_sent) {
      pollfd p{c->probe_fd.get(), POLLOUT, 0};
      if (::poll(&p, 1, 0) == 0) return again();  // still connecting
      int err = 0;
      socklen_t len = sizeof err;
      if (::getsockopt(c->probe_fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) return retry();
      if (rd.by == ReadyBy::tcp) return became_ready(c);
      const std::string req = "GET " + target->path + " HTTP/1.0\r\nHost: " + target->host + "\r\n\r\n";
      if (::send(c->probe_fd.get(), req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()))
        return retry();
      c->probe_sent = true;
    }
    char buf[512];
    for (;;) {
      auto n = ::recv(c->probe_fd.get(), buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        c->probe_buf.append(buf, static_cast<std::size_t>(n));
        if (c->probe_buf.find('\n') != std::string::npos || c->probe_buf.size() > 4096) break;
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return again();
      break;  // EOF or an error: judge what came
    }
    // "HTTP/1.x NNN ..."
    const auto& b = c->probe_buf;
    auto sp = b.find(' ');
    if (b.compare(0, 5, "HTTP/") == 0 && sp != std::string::npos && sp + 3 < b.size() && b[sp + 1] == '2' &&
        std::isdigit(static_cast<unsigned char>(b[sp + 2])) && std::isdigit(static_cast<unsigned char>(b[sp + 3])))
      return became_ready(c);
    retry();
  }

  void on_probe_done(const std::string& id, std::uint64_t gen) {
    Child* c = find(id);
    if (!c || c->gen != gen || !c->probe_run) return;
    auto status = c->probe_run->collect();
    c->probe_run.reset();
    if (c->state != State::starting) return;
    if (status && status->success()) return became_ready(c);
    self_->delayed_send(self_, c->spec.readiness.interval, probe_atom::value, id, gen);
  }

  void on_ready_fd(const std::string& id, std::uint64_t gen) {
    Child* c = find(id);
    if (!c || c->gen != gen || !c->ready_fd) return;
    c->ready_watch = 0;
    char buf[256];
    auto n = ::read(c->ready_fd.get(), buf, sizeof buf);
    if (n > 0) return became_ready(c);
    if (n == 0) {  // closed without a word: it is not ready; the timeout or its exit decides
      c->ready_fd.reset();
      return;
    }
    watch_ready(c, false);
  }

 private:
  Self* self_;
  SupState& st_;
};

caf::behavior supervisor_actor(Self* self, SupervisorOptions opt, std::vector<ChildSpec> initial, ActorSystem* sys,
                               caf::actor parent, std::string id_in_parent, std::uint64_t parent_gen) {
  auto& st = self->state;
  st.opt = std::move(opt);
  st.sys = sys;
  st.parent = std::move(parent);
  st.id_in_parent = std::move(id_in_parent);
  st.parent_gen = parent_gen;
  if (st.opt.reap_orphans) {
    std::lock_guard lk(subreaper_mu);
    if (subreaper_users++ == 0) ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    st.subreaper = true;
  }
  Sup sup(self);
  if (st.opt.strategy == Strategy::simple_one_for_one) {
    if (!initial.empty()) st.templ = initial.front();
  } else {
    for (auto& spec : initial) {
      if (auto err = sup.check_spec(spec)) {
        sup.begin_shutdown(std::move(*err));
        break;
      }
      if (spec.start.kind() == ChildStart::Kind::supervisor) spec.type = ChildType::supervisor;
      auto c = std::make_unique<Child>();
      c->spec = std::move(spec);
      const std::string id = c->spec.id;
      st.children.push_back(std::move(c));
      sup.push(Op{.kind = Op::Kind::start, .id = id, .initial = true});
    }
  }
  if (st.parent && !st.shutting_down) sup.push(Op{.kind = Op::Kind::parent_ready});
  sup.pump();

  self->set_exit_handler([self](caf::exit_msg& em) { Sup(self).begin_shutdown(em.reason); });
  self->set_down_handler([self](caf::down_msg& dm) {
    Sup s(self);
    Child* c = s.find_actor(dm.source);
    if (!c) return;
    const bool normal = !dm.reason || dm.reason == caf::exit_reason::user_shutdown;
    std::optional<ExitStatus> status;
    if (c->spec.start.kind() == ChildStart::Kind::process_actor) status = exit_status(dm.reason);
    std::string why = !dm.reason ? std::string("normal") : reason_text(dm.reason);
    if (dm.reason == caf::exit_reason::user_shutdown) why = "shutdown";
    s.on_exit(c, status, why, !normal);
  });
  return {
      [self](start_atom, ChildSpec& spec) { Sup(self).call_start(std::move(spec)); },
      [self](start_args_atom, std::any& args) { Sup(self).call_start_args(args); },
      [self](terminate_atom, const std::string& id) { Sup(self).call_simple(Op::Kind::stop, id); },
      [self](restart_atom, const std::string& id) { Sup(self).call_simple(Op::Kind::start, id); },
      [self](delete_atom, const std::string& id) { Sup(self).call_simple(Op::Kind::remove, id); },
      [self](which_atom) { return Sup(self).which(); },
      [self](count_atom) { return Sup(self).count(); },
      [self](subscribe_atom, const caf::actor& a) { self->state.subscribers.push_back(a); },
      [self](unsubscribe_atom, const caf::actor& a) { std::erase(self->state.subscribers, a); },
      [self](exited_atom, const std::string& id, std::uint64_t gen) {
        Sup s(self);
        Child* c = s.find(id);
        if (!c || c->gen != gen || !c->run) return;
        auto status = c->run->collect();
        const auto& ok = c->spec.success_exit_codes;
        const bool abnormal =
            !status || !status->code() || std::find(ok.begin(), ok.end(), *status->code()) == ok.end();
        s.on_exit(c, status, status ? status->str() : std::string("ended"), abnormal);
      },
      [self](output_lost_atom, const std::string& id, const std::string& reason) {
        Sup(self).output_lost(id, reason);
      },
      [self](ready_atom, const std::string& id, std::uint64_t gen) {
        Sup s(self);
        if (Child* c = s.find(id); c && c->gen == gen) s.became_ready(c);
      },
      [self](notify_atom, const std::string& id, std::uint64_t gen) { Sup(self).on_notify(id, gen); },
      [self](ready_fd_atom, const std::string& id, std::uint64_t gen) { Sup(self).on_ready_fd(id, gen); },
      [self](probe_atom, const std::string& id, std::uint64_t gen) { Sup(self).on_probe(id, gen); },
      [self](probe_done_atom, const std::string& id, std::uint64_t gen) { Sup(self).on_probe_done(id, gen); },
      [self](ready_timeout_atom, const std::string& id, std::uint64_t gen) {
        Sup s(self);
        Child* c = s.find(id);
        if (!c || c->gen != gen || c->state != State::starting || !c->run) return;
        c->fail_reason = "not ready within " + std::to_string(c->spec.readiness.timeout.count()) + " ms";
        c->run->signal(SIGKILL);
      },
      [self](kill_timeout_atom, const std::string& id, std::uint64_t gen) {
        Sup s(self);
        Child* c = s.find(id);
        if (!c || c->gen != gen || c->state != State::stopping || !c->run) return;
        c->fail_reason = "killed: still running " + std::to_string(c->spec.shutdown.kind() == Shutdown::Kind::timeout
                                                                        ? c->spec.shutdown.timeout().count()
                                                                        : 5000) +
                         " ms after the stop signal";
        c->run->signal(SIGKILL);
      },
      [self](backoff_atom, const std::string& id, std::uint64_t gen) {
        Sup s(self);
        Child* c = s.find(id);
        if (!c || c->gen != gen || c->state != State::backoff) return;
        c->state = State::stopped;
        s.push(Op{.kind = Op::Kind::start, .id = id});
        s.pump();
      },
      [self](delay_atom, std::uint64_t token) {
        auto& state = self->state;
        if (!state.waiting || state.waiting->kind != Op::Kind::delay || state.waiting_gen != token) return;
        Sup(self).done();
      },
      [self](reap_atom) {
        Sup s(self);
        self->state.reap_armed = false;
        s.reap_orphans();
        s.arm_reap();
      },
  };
}

std::optional<std::string> check_options(const SupervisorOptions& o) {
  if (o.intensity < 0) return "kin::SupervisorOptions: negative intensity";
  if (o.period <= milliseconds{0}) return "kin::SupervisorOptions: period must be positive";
  if (o.call_timeout <= milliseconds{0}) return "kin::SupervisorOptions: call_timeout must be positive";
  return std::nullopt;
}

[[noreturn]] void throw_reply(ActorSystem& sys, const caf::error& err) {
  const caf::message& ctx = err.context();
  if (ctx.match_elements<std::string, std::int32_t, std::string>()) {
    const auto& kind = ctx.get_as<std::string>(0);
    const auto& what = ctx.get_as<std::string>(2);
    if (kind == "OSError") throw OSError(ctx.get_as<std::int32_t>(1), what);
    throw ValueError(what);
  }
  if (err == caf::sec::request_timeout) throw TimeoutError("kin::Supervisor: no reply within call_timeout");
  throw ValueError("kin::Supervisor: " + sys.render(err));
}

}  // namespace

caf::actor spawn_supervisor_actor(ActorSystem& sys, SupervisorOptions options, std::vector<ChildSpec> children,
                                  caf::actor parent, std::string id_in_parent, std::uint64_t generation) {
  return sys.spawn(supervisor_actor, std::move(options), std::move(children), &sys, std::move(parent),
                   std::move(id_in_parent), generation);
}

}  // namespace detail

ChildStart supervisor(SupervisorOptions options, std::vector<ChildSpec> children) {
  if (auto err = detail::check_options(options)) throw ValueError(*err);
  return ChildStart(ChildStart::Kind::supervisor, [options, children](detail::StartContext& ctx) {
    return detail::start_supervisor_run(ctx, options, children);
  });
}

Supervisor::Supervisor(ActorSystem& sys, SupervisorOptions options, std::vector<ChildSpec> children)
    : sys_(sys), options_(std::move(options)) {
  if (auto err = detail::check_options(options_)) throw ValueError(*err);
  std::vector<ChildSpec> templ;
  if (options_.strategy == Strategy::simple_one_for_one) {
    if (children.size() != 1) throw ValueError("kin::Supervisor: simple_one_for_one needs exactly one child spec (the template)");
    if (children[0].id.empty() || children[0].start.kind() == ChildStart::Kind::none)
      throw ValueError("kin::Supervisor: the template needs an id and a start");
    templ = std::move(children);
    children.clear();
  }
  actor_ = detail::spawn_supervisor_actor(sys_, options_, std::move(templ), caf::actor{}, {}, 0);
  try {
    for (auto& spec : children) start_child(std::move(spec));
  } catch (...) {
    stop();
    throw;
  }
}

Supervisor::~Supervisor() { stop(); }

void Supervisor::stop() noexcept {
  if (!actor_) return;
  caf::scoped_actor self{sys_};
  self->monitor(actor_);
  caf::anon_send_exit(actor_, caf::exit_reason::user_shutdown);
  bool down = false;
  self->receive([&](const caf::down_msg&) { down = true; }, caf::after(options_.call_timeout) >> [] {});
  if (!down) {
    caf::anon_send_exit(actor_, caf::exit_reason::kill);
    self->receive([&](const caf::down_msg&) {}, caf::after(std::chrono::seconds(5)) >> [] {});
  }
  actor_ = caf::actor{};
}

namespace {
template <class T, class... Ts>
T call(ActorSystem& sys, const caf::actor& a, std::chrono::milliseconds timeout, Ts&&... xs) {
  caf::scoped_actor self{sys};
  std::optional<T> out;
  caf::error err;
  self->request(a, timeout, std::forward<Ts>(xs)...)
      .receive([&](T& v) { out = std::move(v); }, [&](caf::error& e) { err = std::move(e); });
  if (!out) detail::throw_reply(sys, err);
  return std::move(*out);
}
}  // namespace

std::string Supervisor::start_child(ChildSpec spec) {
  return call<std::string>(sys_, actor_, options_.call_timeout, supervisor_atoms::start_atom::value, std::move(spec));
}
std::string Supervisor::start_with(std::any args) {
  return call<std::string>(sys_, actor_, options_.call_timeout, supervisor_atoms::start_args_atom::value,
                           std::move(args));
}
void Supervisor::terminate_child(const std::string& id) {
  call<caf::ok_atom>(sys_, actor_, options_.call_timeout, supervisor_atoms::terminate_atom::value, id);
}
void Supervisor::restart_child(const std::string& id) {
  call<std::string>(sys_, actor_, options_.call_timeout, supervisor_atoms::restart_atom::value, id);
}
void Supervisor::delete_child(const std::string& id) {
  call<caf::ok_atom>(sys_, actor_, options_.call_timeout, supervisor_atoms::delete_atom::value, id);
}
std::vector<ChildInfo> Supervisor::which_children() {
  return call<std::vector<ChildInfo>>(sys_, actor_, options_.call_timeout, supervisor_atoms::which_atom::value);
}
ChildCounts Supervisor::count_children() {
  return call<ChildCounts>(sys_, actor_, options_.call_timeout, supervisor_atoms::count_atom::value);
}
void Supervisor::subscribe(const caf::actor& subscriber) {
  caf::anon_send(actor_, supervisor_atoms::subscribe_atom::value, subscriber);
}
void Supervisor::unsubscribe(const caf::actor& subscriber) {
  caf::anon_send(actor_, supervisor_atoms::unsubscribe_atom::value, subscriber);
}

}  // namespace kin
