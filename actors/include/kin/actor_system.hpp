// kin::ActorSystem: a caf::actor_system configured in code — no CAF_MAIN, no config file, no
// command-line parsing (a caf-application.ini in the working directory changes nothing) — with
// an explicit scheduler policy and thread count, kin's error category (process exit reasons),
// and a destructor that never hangs.
//
//   kin::ActorSystem sys;                                          // 2 threads, work stealing
//   kin::ActorSystem small{kin::ActorSystemOptions{.threads = 1, .policy = kin::SchedulerPolicy::sharing}};
//   caf::scoped_actor self{sys};                                   // public base: plain CAF works
//   auto worker = sys.spawn(fn);                                   // a thread actor
//   auto child = kin::spawn_process(sys, fn);                      // a process actor (spawn_process.hpp)
//
// Destruction is bounded: first every process actor the system started is stopped, newest
// first (SIGTERM, up to `process_stop_timeout`, then SIGKILL, then reaped); then the system
// waits up to `shutdown_timeout` for its remaining actors, and after that stops the scheduler
// without waiting for them. A thread that CAF cannot stop at all (a blocking actor stuck in a
// receive that ignores exit_msg, pitfall G7) would hang any CAF program; kin prints what is
// still running and ends the program with std::_Exit(70) instead, `shutdown_timeout` later.
// Keep no actor handle beyond the system's lifetime (G8).
#pragma once

#include <kin/exit_status.hpp>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/error.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace kin {

enum class SchedulerPolicy { sharing, stealing };

struct ActorSystemOptions {
  std::size_t threads = 2;                                  // scheduler worker threads (>= 1)
  SchedulerPolicy policy = SchedulerPolicy::stealing;       // stealing: lower latency; sharing: ~0 CPU idle
  std::chrono::milliseconds shutdown_timeout{5000};         // wait for actors at destruction
  std::chrono::milliseconds process_stop_timeout{1000};     // SIGTERM -> SIGKILL, per process actor
  bool network = false;  // loads CAF's middleman (BASP): kin::Node, spawn_process(sys, kin::on(...), ...)
};

class ActorSystem;

namespace detail {
class ProcessActorCore;
struct ProcessActorList;

// Built before caf::actor_system (a base declared first), destroyed after it: the config the
// system keeps a reference to, and the watchdog that bounds the system's own destructor.
class ActorSystemBase {
 protected:
  explicit ActorSystemBase(const ActorSystemOptions& options,
                           caf::actor_system_config::module_factory scheduler = nullptr);
  ~ActorSystemBase();
  void arm_watchdog(caf::actor_system& sys);

  ActorSystemOptions options_;
  caf::actor_system_config config_;

 private:
  struct Watchdog;
  std::unique_ptr<Watchdog> watchdog_;
};

void adopt_process_actor(ActorSystem& sys, std::shared_ptr<ProcessActorCore> core);
ActorSystem* make_loop_actor_system(const ActorSystemOptions& options);
}  // namespace detail

class ActorSystem : private detail::ActorSystemBase, public caf::actor_system {
 public:
  ActorSystem() : ActorSystem(ActorSystemOptions{}) {}
  explicit ActorSystem(ActorSystemOptions options);
  ActorSystem(const ActorSystem&) = delete;
  ActorSystem& operator=(const ActorSystem&) = delete;
  ~ActorSystem();

  [[nodiscard]] const ActorSystemOptions& options() const noexcept { return options_; }
  /// Process actors started by this system whose child has not ended yet.
  [[nodiscard]] std::size_t running_process_actors() const;

 private:
  friend void detail::adopt_process_actor(ActorSystem&, std::shared_ptr<detail::ProcessActorCore>);
  // A process actor's child: its actors run on the channel's thread (loop_scheduler.hpp).
  friend ActorSystem* detail::make_loop_actor_system(const ActorSystemOptions&);
  ActorSystem(ActorSystemOptions options, caf::actor_system_config::module_factory scheduler);
  std::unique_ptr<detail::ProcessActorList> processes_;
};

/// kin's error codes (category atom "kin"): why a process actor went down.
enum class ActorErrc : std::uint8_t {
  exited = 1,          // the process exited with a non-zero code
  killed = 2,          // a signal ended the process
  protocol_error = 3,  // the child sent a bad frame; kin killed it
  cannot_travel = 4,   // a message element kin's codec cannot carry
};

/// The down/exit reason of a process actor whose OS process ended with `status`:
/// caf::error{} (normal) for exit 0, else a kin error carrying the status.
[[nodiscard]] caf::error make_exit_reason(const ExitStatus& status);
/// A kin protocol-error reason ("what" went wrong; the child was then ended with `status`).
[[nodiscard]] caf::error make_protocol_error(const std::string& what, const ExitStatus& status);
/// The exit status a process actor's down/exit reason carries: ExitStatus{} (exit 0) for the
/// normal reason, the status for kin's exited/killed/protocol-error reasons, else nullopt.
[[nodiscard]] std::optional<ExitStatus> exit_status(const caf::error& reason);
/// "exit 3", "killed by SIGKILL", "protocol error: ... (killed by SIGKILL)", or CAF's rendering.
[[nodiscard]] std::string describe(const caf::error& reason);

}  // namespace kin
