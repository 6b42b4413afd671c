// kin::ChildSpec: what a kin::Supervisor (supervisor.hpp) starts, when it restarts it, and how
// it stops it — Erlang/OTP's child specification, plus what the OS supervisors add (backoff,
// readiness, process groups).
//
//   kin::ChildSpec{.id = "db", .start = kin::program({"postgres", "-D", dir}), .restart = kin::permanent,
//                  .shutdown = 5s};
//   kin::ChildSpec{.id = "worker", .start = kin::process(work, 3), .restart = kin::transient,
//                  .backoff = kin::Backoff{.initial = 100ms, .max = 5s, .reset_after = 30s},
//                  .readiness = kin::Readiness{.by = kin::ReadyBy::notify, .timeout = 2s}};
//   kin::ChildSpec{.id = "calc", .start = kin::process_actor(calculator, 10)};
//   kin::ChildSpec{.id = "log", .start = kin::thread_actor(logger)};
//   kin::ChildSpec{.id = "tree", .start = kin::supervisor(options, {spec1, spec2})};
//
// Kinds of start: kin::process(fn, args...) runs fn in a kin::Process; kin::program(argv,
// ProgramOptions) execs an external program; kin::process_actor(fn, args...) is
// kin::spawn_process; kin::thread_actor(fn, args...) is sys.spawn(fn, args...);
// kin::supervisor(options, specs) is a nested supervisor. Every OS process a supervisor starts
// leads its own process group (shutdown signals the whole group) and is killed by the kernel
// when the supervising process dies, even by SIGKILL (PR_SET_PDEATHSIG). A start that cannot
// succeed (no such program, empty argv, a throwing start) is an error of start_child, never a
// crash of the supervisor.
//
// Readiness beyond OTP: ReadyBy::notify (sd_notify), ReadyBy::fd (s6), and ReadyBy::tcp /
// ReadyBy::http, polled by the supervisor every Readiness::interval with non-blocking sockets
// (never blocking the supervisor): tcp until connect(host, port) succeeds, http until a
// "GET path HTTP/1.0" to a loopback url answers 2xx; ReadyBy::exec runs a probe command every
// interval until it exits 0 (a probe still running at the deadline is killed). ChildSpec::success_exit_codes lists the
// exit codes a transient child may end with without being restarted.
#pragma once

#include <kin/actor_system.hpp>
#include <kin/exit_status.hpp>
#include <kin/process.hpp>
#include <kin/spawn_process.hpp>

#include <caf/actor.hpp>

#include <signal.h>
#include <sys/types.h>

#include <any>
#include <cstdint>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace kin {

/// When a child that ended is started again (OTP's restart types).
enum class Restart {
  permanent,  // always
  transient,  // only after an abnormal exit (not exit 0, not a normal or shutdown actor exit)
  temporary,  // never; the child is removed from the supervisor when it ends
};
inline constexpr Restart permanent = Restart::permanent;
inline constexpr Restart transient = Restart::transient;
inline constexpr Restart temporary = Restart::temporary;

/// A worker or a supervisor (OTP's child type). kin::supervisor(...) starts set it by
/// themselves; it decides the default shutdown (5 s for a worker, infinity for a supervisor).
enum class ChildType { worker, supervisor };
inline constexpr ChildType worker = ChildType::worker;

struct BrutalKill {};
struct Infinity {};
/// Stop with SIGKILL (an actor: exit_reason::kill) at once.
inline constexpr BrutalKill brutal_kill{};
/// Stop with the stop signal and wait as long as it takes.
inline constexpr Infinity infinity{};

/// How a child is stopped: the stop signal to its process group (an actor child: an exit
/// message user_shutdown), then after `timeout` SIGKILL (exit_reason::kill).
class Shutdown {
 public:
  enum class Kind { by_type, brutal_kill, timeout, infinity };
  /// 5 s for a worker, infinity for a supervisor.
  constexpr Shutdown() = default;
  constexpr Shutdown(BrutalKill) : kind_(Kind::brutal_kill) {}
  constexpr Shutdown(Infinity) : kind_(Kind::infinity) {}
  template <class Rep, class Period>
  constexpr Shutdown(std::chrono::duration<Rep, Period> d)
      : kind_(Kind::timeout), timeout_(std::chrono::ceil<std::chrono::milliseconds>(d)) {}
  [[nodiscard]] constexpr Kind kind() const noexcept { return kind_; }
  [[nodiscard]] constexpr std::chrono::milliseconds timeout() const noexcept { return timeout_; }

 private:
  Kind kind_ = Kind::by_type;
  std::chrono::milliseconds timeout_{0};
};

/// Exponential backoff between restarts of one child (beyond OTP; off while `initial` is 0):
/// the first restart waits `initial`, each next one `factor` times longer, at most `max`; a
/// child that ran for `reset_after` without ending starts again from `initial`.
struct Backoff {
  std::chrono::milliseconds initial{0};
  std::chrono::milliseconds max{30000};
  double factor = 2.0;
  std::chrono::milliseconds reset_after{10000};
  bool operator==(const Backoff&) const = default;
};

/// How a child says it is ready (beyond OTP). A child that is not ready within `timeout` is
/// killed, and its start fails. The next child in order starts only after this one is ready.
enum class ReadyBy {
  started,  // ready as soon as it runs (OTP)
  notify,   // an sd_notify datagram "READY=1" on $NOTIFY_SOCKET; kin::notify_ready() sends it
  fd,       // a program writes anything on fd `Readiness::fd` (s6's notification-fd)
  tcp,      // connect(host, port) succeeds, tried every `interval` by the supervisor
  http,     // GET `url` (http://127.0.0.1:PORT/path, loopback only) answers 2xx, tried every `interval`
  exec,     // the command `Readiness::probe` (argv) exits 0, run every `interval` (killed at the deadline)
};
struct Readiness {
  ReadyBy by = ReadyBy::started;
  int fd = 3;                                // ReadyBy::fd: the fd number in the program
  std::string host = "127.0.0.1";            // ReadyBy::tcp: a numeric IPv4 or IPv6 address
  int port = 0;                              // ReadyBy::tcp
  std::string url{};                         // ReadyBy::http: http://HOST:PORT/PATH, HOST a loopback address
  std::vector<std::string> probe{};          // ReadyBy::exec: argv, argv[0] looked up in $PATH
  std::chrono::milliseconds interval{100};   // tcp/http/exec: between attempts
  std::chrono::milliseconds timeout{10000};  // start timeout
};

/// Size-based rotation of a program's output files: the program writes into a pipe that the
/// supervising process reads (on kin's runtime thread) and appends to the file; a write that
/// would make it exceed `max_bytes` first renames FILE to FILE.1 (FILE.1 to FILE.2, ... up to
/// FILE.<backups>, the oldest removed). The reader drains the pipe until EOF, past the
/// supervisor's shutdown if a grandchild holds it.
struct LogRotation {
  std::uint64_t max_bytes = 10u * 1024u * 1024u;
  int backups = 10;
};

/// An external program's environment and files (kin::program).
struct ProgramOptions {
  /// The whole environment; unset: the supervising process's own.
  std::optional<std::map<std::string, std::string>> env{};
  std::optional<std::string> cwd{};
  /// Files that stdout/stderr append to (created 0644); unset: inherited.
  std::optional<std::string> stdout_file{};
  std::optional<std::string> stderr_file{};
  /// stderr goes where stdout goes (supervisord's redirect_stderr); stderr_file is then ignored.
  bool stderr_to_stdout = false;
  /// With stdout_file/stderr_file: rotate them (see LogRotation).
  std::optional<LogRotation> rotation{};
};

class ChildStart;
struct ChildSpec;
struct SupervisorOptions;

namespace detail {

/// What a supervisor hands a starting child.
struct StartContext {
  ActorSystem* sys = nullptr;
  caf::actor supervisor;         // where the child's exit and readiness messages go
  std::string id;
  std::uint64_t generation = 0;  // tells this run's messages from an earlier run's
  std::string notify_socket;     // ReadyBy::notify: $NOTIFY_SOCKET for the child ("@name")
  int ready_fd = -1;             // ReadyBy::fd: the write end, to become Readiness::fd
  int ready_fd_number = -1;
  bool probe = false;            // ReadyBy::exec's probe: its exit is (probe_done_atom, id, generation)
};

/// One run of a child, owned by the supervisor's actor. Destroying a run whose child still
/// lives kills it (SIGKILL to its group; an actor: exit_reason::kill).
class ChildRun {
 public:
  ChildRun() = default;
  ChildRun(const ChildRun&) = delete;
  ChildRun& operator=(const ChildRun&) = delete;
  virtual ~ChildRun() = default;
  /// The OS process, 0 for an actor on a thread or a nested supervisor.
  [[nodiscard]] virtual pid_t pid() const { return 0; }
  /// The actor the supervisor monitors (actor kinds); an invalid handle for processes, which
  /// report their end as (exited_atom, id, generation, ExitStatus) instead.
  [[nodiscard]] virtual caf::actor actor() const { return {}; }
  /// Sends `sig` to the child's process group; actors get user_shutdown, or kill for SIGKILL.
  virtual void signal(int sig) = 0;
  /// After the exit message: the exit status (the process is reaped by then).
  virtual std::optional<ExitStatus> collect() { return std::nullopt; }
  /// A nested supervisor reports (ready_atom, id, generation) once its children are up.
  [[nodiscard]] virtual bool reports_ready() const { return false; }
};

using Starter = std::function<std::unique_ptr<ChildRun>(StartContext&)>;
/// simple_one_for_one: the template's start with start_child(args...)'s arguments appended
/// (a std::tuple of the decayed arguments, in a std::any).
using Extender = std::function<ChildStart(std::any&)>;

std::unique_ptr<ChildRun> start_process_run(StartContext& ctx, Process p);
std::unique_ptr<ChildRun> start_program_run(StartContext& ctx, const std::vector<std::string>& argv,
                                            const ProgramOptions& options);
std::unique_ptr<ChildRun> start_actor_run(StartContext& ctx, caf::actor a, pid_t pid);
std::unique_ptr<ChildRun> start_supervisor_run(StartContext& ctx, const SupervisorOptions& options,
                                               const std::vector<ChildSpec>& children);
/// The start of a function given fewer arguments than it takes: a simple_one_for_one
/// template, complete only with start_child(args...)'s.
std::unique_ptr<ChildRun> needs_more_arguments(StartContext& ctx);
/// The PATH lookup execvp would do; empty when there is no such executable.
std::string find_program(const std::string& argv0);

template <class... T>
struct type_list {};
template <std::size_t N, class L>
struct drop;
template <class L>
struct drop<0, L> {
  using type = L;
};
template <std::size_t N, class T, class... R>
  requires(N > 0)
struct drop<N, type_list<T, R...>> {
  using type = typename drop<N - 1, type_list<R...>>::type;
};
template <class Fp>
struct params;
template <class R, class... A>
struct params<R (*)(A...)> {
  using type = type_list<std::decay_t<A>...>;
  static constexpr std::size_t size = sizeof...(A);
};
// A string literal given to start_child(args...) travels as a std::string.
template <class A>
using extra_arg_t = std::conditional_t<std::is_convertible_v<std::decay_t<A>, std::string> &&
                                           !std::is_same_v<std::decay_t<A>, std::string>,
                                       std::string, std::decay_t<A>>;

}  // namespace detail

/// How a child starts: made by kin::process, kin::program, kin::process_actor,
/// kin::thread_actor or kin::supervisor.
class ChildStart {
 public:
  enum class Kind { none, process, program, process_actor, thread_actor, supervisor };
  ChildStart() = default;
  ChildStart(Kind kind, detail::Starter starter, detail::Extender extender = nullptr,
             std::vector<std::string> argv = {})
      : kind_(kind), starter_(std::move(starter)), extender_(std::move(extender)), argv_(std::move(argv)) {}
  [[nodiscard]] Kind kind() const noexcept { return kind_; }
  [[nodiscard]] const detail::Starter& starter() const noexcept { return starter_; }
  [[nodiscard]] const detail::Extender& extender() const noexcept { return extender_; }
  /// kin::program: the command line.
  [[nodiscard]] const std::vector<std::string>& argv() const noexcept { return argv_; }

 private:
  Kind kind_ = Kind::none;
  detail::Starter starter_;
  detail::Extender extender_;
  std::vector<std::string> argv_;
};

namespace detail {

/// For simple_one_for_one: when `F` is a plain function (or captureless lambda) taking more
/// parameters than `skip` + the bound arguments, an Extender that takes the rest as a tuple.
template <std::size_t Skip, class F, class Make, class... Bound>
Extender make_extender(const F& f, const std::tuple<Bound...>& bound, Make make) {
  using Fp = typename function_pointer_of<F>::type;
  if constexpr (std::is_void_v<Fp>) {
    return nullptr;
  } else if constexpr (params<Fp>::size < Skip + sizeof...(Bound)) {
    return nullptr;
  } else {
    using Rest = typename drop<Skip + sizeof...(Bound), typename params<Fp>::type>::type;
    return [fp = static_cast<Fp>(f), bound, make](std::any& extra) -> ChildStart {
      return [&]<class... R>(type_list<R...>) -> ChildStart {
        auto* t = std::any_cast<std::tuple<R...>>(&extra);
        if (!t)
          throw ValueError("kin::Supervisor::start_child: the arguments do not match the template's function");
        return std::apply([&](auto&... b) { return std::apply([&](auto&... r) { return make(fp, b..., r...); }, *t); },
                          const_cast<std::tuple<Bound...>&>(bound));
      }(Rest{});
    };
  }
}

}  // namespace detail

/// "process", "program", "process_actor", "thread_actor", "supervisor".
std::string to_string(ChildStart::Kind kind);

struct ChildSpec {
  std::string id{};
  ChildStart start{};
  Restart restart = Restart::permanent;
  Shutdown shutdown{};
  ChildType type = ChildType::worker;
  int stop_signal = SIGTERM;  // what shutdown sends first (to the whole process group)
  Backoff backoff{};
  Readiness readiness{};
  /// Restart::transient: the exit codes that count as a normal end (not restarted).
  std::vector<int> success_exit_codes{0};
};

/// Runs `fn(args...)` in a kin::Process (a daemon leading its own process group). With
/// ReadyBy::notify the process is forked (the fork start method) with $NOTIFY_SOCKET set;
/// otherwise it uses the program's start method, whose rules apply to fn and args.
template <class F, class... Args>
ChildStart process(F&& fn, Args&&... args) {
  auto make = [](auto f, auto... a) -> ChildStart {
    if constexpr (!std::is_invocable_v<decltype(f)&, decltype(a)&...>)
      return ChildStart(ChildStart::Kind::process, detail::needs_more_arguments);
    else
    return ChildStart(ChildStart::Kind::process, [f, a...](detail::StartContext& ctx) {
      ProcessOptions po{.name = ctx.id, .daemon = true, .start_method = std::nullopt};
      if (ctx.notify_socket.empty()) return detail::start_process_run(ctx, Process(po, f, a...));
      po.start_method = StartMethod::fork;
      return detail::start_process_run(ctx, Process(po, [f, a..., sock = ctx.notify_socket]() mutable {
                                         ::setenv("NOTIFY_SOCKET", sock.c_str(), 1);
                                         return std::invoke(f, a...);
                                       }));
    });
  };
  auto bound = std::make_tuple(std::decay_t<Args>(std::forward<Args>(args))...);
  auto f = std::decay_t<F>(std::forward<F>(fn));
  ChildStart s = std::apply([&](auto&... a) { return make(f, a...); }, bound);
  return ChildStart(s.kind(), s.starter(), detail::make_extender<0>(f, bound, make));
}

/// Execs `argv` (argv[0] looked up in $PATH) in a child leading its own process group, with
/// `options`' environment, directory and output files. start_child fails when argv is empty
/// or names no executable program.
ChildStart program(std::vector<std::string> argv, ProgramOptions options = {});

/// kin::spawn_process(sys, fn, args...) as a child (a daemon process).
template <class F, class... Args>
ChildStart process_actor(F&& fn, Args&&... args) {
  auto make = [](auto f, auto... a) -> ChildStart {
    if constexpr (!std::is_invocable_v<decltype(f)&, caf::event_based_actor*, decltype(a)&...>)
      return ChildStart(ChildStart::Kind::process_actor, detail::needs_more_arguments);
    else
    return ChildStart(ChildStart::Kind::process_actor, [f, a...](detail::StartContext& ctx) {
      ProcessOptions po{.name = ctx.id, .daemon = true, .start_method = std::nullopt};
      return detail::start_actor_run(ctx, spawn_process(*ctx.sys, po, f, a...), 0);
    });
  };
  auto bound = std::make_tuple(std::decay_t<Args>(std::forward<Args>(args))...);
  auto f = std::decay_t<F>(std::forward<F>(fn));
  ChildStart s = std::apply([&](auto&... a) { return make(f, a...); }, bound);
  return ChildStart(s.kind(), s.starter(), detail::make_extender<1>(f, bound, make));
}

/// sys.spawn(fn, args...) as a child: a CAF actor on the system's threads.
template <class F, class... Args>
ChildStart thread_actor(F&& fn, Args&&... args) {
  auto make = [](auto f, auto... a) -> ChildStart {
    if constexpr (!std::is_invocable_v<decltype(f)&, caf::event_based_actor*, decltype(a)&...>)
      return ChildStart(ChildStart::Kind::thread_actor, detail::needs_more_arguments);
    else
    return ChildStart(ChildStart::Kind::thread_actor, [f, a...](detail::StartContext& ctx) {
      return detail::start_actor_run(ctx, ctx.sys->spawn(f, a...), 0);
    });
  };
  auto bound = std::make_tuple(std::decay_t<Args>(std::forward<Args>(args))...);
  auto f = std::decay_t<F>(std::forward<F>(fn));
  ChildStart s = std::apply([&](auto&... a) { return make(f, a...); }, bound);
  return ChildStart(s.kind(), s.starter(), detail::make_extender<1>(f, bound, make));
}

/// A nested supervisor with `options` and `children`: it counts as started when all its
/// children are, and when it gives up, its own supervisor sees that as this child's exit.
ChildStart supervisor(SupervisorOptions options, std::vector<ChildSpec> children);

}  // namespace kin
