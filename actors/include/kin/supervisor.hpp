// kin::Supervisor: an Erlang/OTP supervisor as an event-based CAF actor, over OS processes
// (functions and external programs), process actors, thread actors and nested supervisors,
// with what the OS supervisors add: backoff, readiness, process-group shutdown, reaping of
// orphaned grandchildren, and an event for every transition.
//
//   kin::ActorSystem sys;
//   kin::Supervisor sup{sys, kin::SupervisorOptions{.strategy = kin::one_for_one, .intensity = 3, .period = 5s}};
//   sup.start_child({.id = "web", .start = kin::program({"nginx", "-g", "daemon off;"})});
//   sup.start_child({.id = "job", .start = kin::process(work, 7), .restart = kin::transient});
//   for (auto& c : sup.which_children()) std::cout << c.id << " " << c.pid << "\n";
//   sup.terminate_child("job"); sup.restart_child("job"); sup.delete_child("job");
//   caf::actor a = sup.actor();   // the same operations as messages (supervisor_atoms below)
//
// Children start in order (each one after the previous is ready) and stop in reverse order.
// A child that ends is restarted by its restart type and the strategy: one_for_one restarts
// it alone, one_for_all stops the others and restarts all, rest_for_one restarts it and those
// started after it, simple_one_for_one makes every child from one template
// (start_child(args...)). More than `intensity` restarts within `period` make the supervisor
// stop all children and end with exit_reason::user_shutdown ("shutdown"); its own supervisor
// sees that as a child's exit (escalation). The C++ calls are requests to the actor bounded
// by `call_timeout` (kin::TimeoutError); a bad spec is kin::ValueError (an absent program:
// kin::OSError with ENOENT) and the supervisor keeps its other children. Destroying a
// Supervisor stops its children in reverse order and waits for them. If the supervising
// process is killed, even by SIGKILL, the kernel kills its child processes.
#pragma once

#include <kin/actor_system.hpp>
#include <kin/child_spec.hpp>
#include <kin/exit_status.hpp>

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>

#include <sys/types.h>

#include <any>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace kin {

enum class Strategy { one_for_one, one_for_all, rest_for_one, simple_one_for_one };
inline constexpr Strategy one_for_one = Strategy::one_for_one;
inline constexpr Strategy one_for_all = Strategy::one_for_all;
inline constexpr Strategy rest_for_one = Strategy::rest_for_one;
inline constexpr Strategy simple_one_for_one = Strategy::simple_one_for_one;

/// What happened to a child (or to the supervisor: gave_up; or to an orphaned grandchild the
/// supervisor reaped: reaped_orphan, with SupervisorOptions::reap_orphans). output_lost: a
/// program's rotated log could not be written (ENOSPC, EFBIG, EACCES...) and its output is
/// being dropped; a second output_lost says writing works again and how much was lost.
enum class EventKind { started, ready, exited, restarting, backoff, start_failed, gave_up, reaped_orphan, output_lost };
/// "started", "ready", "exited", ...
std::string to_string(EventKind kind);

struct SupervisorEvent {
  EventKind kind = EventKind::started;
  std::string supervisor{};            // SupervisorOptions::name
  std::string child{};                 // empty for gave_up and reaped_orphan
  pid_t pid = 0;
  std::optional<ExitStatus> status{};  // exited, reaped_orphan: how the process ended
  std::string reason{};                // exited, start_failed, gave_up, output_lost: in words
  int restarts = 0;                    // of this child so far
  std::chrono::milliseconds delay{0};  // backoff: the wait before the next start
  pid_t group = 0;                     // reaped_orphan: the child's process group it was in
};
/// The event as one logfmt line: `kin.supervisor sup=... event=exited child=db pid=7 status="exit 3"`.
std::string to_string(const SupervisorEvent& e);

struct SupervisorOptions {
  Strategy strategy = Strategy::one_for_one;
  int intensity = 3;                                  // restarts allowed within `period` (>= 0)
  std::chrono::milliseconds period{5000};
  std::string name = "supervisor";
  /// Receives every event's log line; unset: stderr. `[](const std::string&) {}` silences it.
  std::function<void(const std::string&)> log{};
  /// Makes the process a child subreaper (PR_SET_CHILD_SUBREAPER) and reaps the orphans a
  /// dying child leaves in its process group (beyond OTP, off by default).
  bool reap_orphans = false;
  /// Bound of each C++ call (start_child waits for readiness within this too).
  std::chrono::milliseconds call_timeout{60000};
};

enum class ChildState { starting, running, stopping, backoff, stopped };
std::string to_string(ChildState s);

struct ChildInfo {
  std::string id{};
  ChildStart::Kind kind = ChildStart::Kind::none;
  ChildType type = ChildType::worker;
  ChildState state = ChildState::stopped;
  pid_t pid = 0;                          // 0: no OS process (a thread actor, or not running)
  caf::actor actor{};                     // actor kinds while running
  int restarts = 0;
  std::optional<ExitStatus> last_exit{};  // how its process last ended
  std::string last_reason{};              // the same in words (an actor's exit reason too)
};

/// OTP's count_children.
struct ChildCounts {
  int specs = 0;
  int active = 0;
  int supervisors = 0;
  int workers = 0;
};

// The messages sup.actor() accepts; each is answered like the C++ call of the same name (an
// error reply carries the message the C++ call would throw).
//   (start_atom, ChildSpec) -> std::string id       (start_args_atom, std::any tuple) -> id
//   (restart_atom, id) -> id                        (terminate_atom, id) / (delete_atom, id) -> ok_atom
//   (which_atom) -> std::vector<ChildInfo>          (count_atom) -> ChildCounts
//   (subscribe_atom, caf::actor) / (unsubscribe_atom, caf::actor): SupervisorEvent messages
namespace supervisor_atoms {
using start_atom = caf::atom_constant<caf::atom("kstart")>;
using start_args_atom = caf::atom_constant<caf::atom("kstartargs")>;
using terminate_atom = caf::atom_constant<caf::atom("kterm")>;
using restart_atom = caf::atom_constant<caf::atom("krestart")>;
using delete_atom = caf::atom_constant<caf::atom("kdelete")>;
using which_atom = caf::atom_constant<caf::atom("kwhich")>;
using count_atom = caf::atom_constant<caf::atom("kcount")>;
using subscribe_atom = caf::atom_constant<caf::atom("ksub")>;
using unsubscribe_atom = caf::atom_constant<caf::atom("kunsub")>;
}  // namespace supervisor_atoms

namespace detail {
caf::actor spawn_supervisor_actor(ActorSystem& sys, SupervisorOptions options, std::vector<ChildSpec> children,
                                  caf::actor parent, std::string id_in_parent, std::uint64_t generation);
}

class Supervisor {
 public:
  /// Starts the supervisor and then `children` in order (for simple_one_for_one: exactly one,
  /// the template). Throws ValueError for bad options or specs, and what start_child throws.
  Supervisor(ActorSystem& sys, SupervisorOptions options, std::vector<ChildSpec> children = {});
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;
  /// Stops every child in reverse order (each by its shutdown) and waits for the actor.
  ~Supervisor();

  /// Starts `spec` after the existing children and returns its id once it is ready.
  std::string start_child(ChildSpec spec);
  /// simple_one_for_one: a child from the template with `args` appended to its function's
  /// arguments (a program's argv); returns its id ("<template id>-<n>").
  template <class... A>
  std::string start_child(A&&... args)
    requires(sizeof...(A) != 1 || !(std::is_convertible_v<A, ChildSpec> && ...))
  {
    return start_with(std::any(std::tuple<detail::extra_arg_t<A>...>(std::forward<A>(args)...)));
  }
  /// Stops the child (it stays listed, stopped; a simple_one_for_one child is removed).
  void terminate_child(const std::string& id);
  /// Starts a stopped child again; a running one is stopped first.
  void restart_child(const std::string& id);
  /// Removes a stopped child's spec (ValueError while it runs).
  void delete_child(const std::string& id);
  [[nodiscard]] std::vector<ChildInfo> which_children();
  [[nodiscard]] ChildCounts count_children();
  /// `subscriber` receives a SupervisorEvent message for every event from now on.
  void subscribe(const caf::actor& subscriber);
  void unsubscribe(const caf::actor& subscriber);

  /// The supervisor's actor: takes the supervisor_atoms messages; monitor it to see it end.
  [[nodiscard]] const caf::actor& actor() const noexcept { return actor_; }
  [[nodiscard]] const SupervisorOptions& options() const noexcept { return options_; }

 private:
  std::string start_with(std::any args);
  void stop() noexcept;
  ActorSystem& sys_;
  SupervisorOptions options_;
  caf::actor actor_;
};

}  // namespace kin

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(kin::ChildSpec)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(kin::ChildInfo)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<kin::ChildInfo>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(kin::ChildCounts)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(kin::SupervisorEvent)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::any)
