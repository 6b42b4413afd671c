// The reaper: every child process kin starts is tracked here by a pidfd until it is reaped
// with waitid(P_PIDFD) — never waitpid(-1), so children started by other code are never
// stolen. Any kin call that touches processes first reaps what has finished
// (reap_finished()), so no zombie outlives the next kin call. A reaped child's leftover named
// shared-memory segments are reclaimed at once (shm_registry.hpp).
#pragma once

#include <kin/runtime/unique_fd.hpp>

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace kin::detail {

/// One child process started by kin, shared by its Process object and the reaper.
struct ChildState {
  std::mutex mu;
  pid_t pid = 0;
  unique_fd pidfd;                 // readable once the child has ended; open while this lives
  // A child forked by the forkserver is the server's child, not ours: the server reaps it and
  // writes its exit code (int32) here. When valid, this replaces waitid().
  unique_fd status_fd;
  std::optional<int> exitcode;     // set when reaped: exit code, or -signal
  bool daemon = false;
  bool own_group = false;          // the child leads its own process group
  std::string name;
};

/// pidfd_open(2).
unique_fd open_pidfd(pid_t pid);
/// pidfd_send_signal(2): no pid-reuse race. Does nothing once the child is reaped.
void signal_child(ChildState& c, int sig);

/// Starts tracking `c` (its pid and pidfd are set).
void track_child(std::shared_ptr<ChildState> c);
/// Reaps `c` if it has ended (never blocks). True when its exit code is known.
bool try_reap(ChildState& c);
/// Waits for `c` to end, at most `timeout` (none = forever), then reaps it.
bool wait_child(ChildState& c, std::optional<std::chrono::milliseconds> timeout);
/// Reaps every tracked child that has ended and stops tracking it.
void reap_finished();
/// The tracked children that are still running (after reaping the finished ones).
std::vector<std::shared_ptr<ChildState>> running_children();
/// In a freshly forked child: the parent's children are not ours.
void forget_children_after_fork();

}  // namespace kin::detail
