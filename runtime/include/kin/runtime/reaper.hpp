// The child tracker: every child process kin starts — Process (all three start methods),
// Popen, process actors — is held by a pidfd and watched on the runtime thread
// (runtime.hpp), which reaps it with waitid(P_PIDFD) within milliseconds of its exit, whether
// or not the program calls kin again. waitpid(-1) is never used, so children started by other
// code are never stolen. A reaped child's leftover named shared-memory segments are reclaimed
// at once (shm_registry.hpp).
//
//   auto c = std::make_shared<ChildState>(); c->pid = pid; c->pidfd = std::move(pidfd);
//   watch_child(c);                                   // or track_child(c) for a kin::Process
//   on_child_exit(c, [](const kin::ExitStatus& s) { ... });   // on the runtime thread
//
// Callers may also reap on their own thread (try_reap, wait_child): whoever comes first sets
// the status under the state's mutex; the exit callbacks still run once, on the runtime
// thread. A fork child forgets its parent's children (their pidfds are closed in the child).
#pragma once

#include <kin/exit_status.hpp>
#include <kin/runtime/deadline.hpp>
#include <kin/runtime/unique_fd.hpp>

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace kin::detail {

/// One child process started by kin, shared by its owner (Process, Popen, a process actor)
/// and the tracker.
struct ChildState {
  std::mutex mu;
  pid_t pid = 0;
  unique_fd pidfd;                 // readable once the child has ended; open while this lives
  std::optional<kin::ExitStatus> status;  // set when reaped
  std::optional<int> exitcode;     // the same, in Python's form: exit code, or -signal
  bool daemon = false;
  bool own_group = false;          // the child leads its own process group
  std::string name;
  // Run once on the runtime thread after the reap (on_child_exit). Guarded by mu.
  std::vector<std::function<void(const kin::ExitStatus&)>> on_exit;
};

/// pidfd_open(2).
unique_fd open_pidfd(pid_t pid);
/// pidfd_send_signal(2): no pid-reuse race. Does nothing once the child is reaped.
void signal_child(ChildState& c, int sig);

/// Starts tracking a kin::Process child (pid and pidfd set): it is watched and reaped on the
/// runtime thread, listed by running_children() (active_children(), the exit-time join).
void track_child(std::shared_ptr<ChildState> c);
/// Starts watching any other child (Popen, process actor): reaped on the runtime thread, but
/// not listed by running_children().
void watch_child(std::shared_ptr<ChildState> c);
/// Runs `cb` once on the runtime thread after `c` is reaped (at once, through post, when it
/// already has been). `c` must be watched (track_child/watch_child) or reaped by its owner.
void on_child_exit(const std::shared_ptr<ChildState>& c, std::function<void(const kin::ExitStatus&)> cb);

/// Reaps `c` if it has ended (never blocks). True when its exit status is known.
bool try_reap(ChildState& c);
/// Waits for `c` to end, until `deadline`, then reaps it. True when it has ended.
bool wait_child(ChildState& c, Deadline deadline);
/// Stops listing reaped children (and reaps any that ended, should the runtime be behind).
void reap_finished();
/// The tracked kin::Process children that are still running.
std::vector<std::shared_ptr<ChildState>> running_children();
/// In a freshly forked child: the parent's children are not ours (also run by the fork hook).
void forget_children_after_fork();

}  // namespace kin::detail
