#include <kin/process_info.hpp>

#include "process_globals.hpp"

#include <kin/errors.hpp>
#include <kin/runtime/deadline.hpp>
#include <kin/runtime/process_table.hpp>
#include <kin/runtime/reaper.hpp>
#include <kin/runtime/syscall.hpp>

#include <poll.h>
#include <unistd.h>

#include <cerrno>

namespace kin {

namespace {
// This process's kin parent: it is our OS parent for as long as it lives (forkserver children
// are cloned as the program's own), so getppid() tells without a pid-reuse race.
bool is_kin_parent(pid_t pid) {
  const auto& parent = detail::process_globals().parent;
  return parent && parent->pid == pid;
}
}  // namespace

bool ProcessInfo::is_alive() const {
  if (pid <= 0) return false;
  if (pid == ::getpid()) return true;
  if (is_kin_parent(pid)) return ::getppid() == pid;
  return !detail::process_is_dead(pid);
}

bool ProcessInfo::join_for(std::optional<std::chrono::milliseconds> timeout) const {
  if (pid == ::getpid()) throw ValueError("kin::ProcessInfo::join: a process cannot join itself");
  if (pid <= 0) throw ValueError("kin::ProcessInfo::join: no process (pid 0)");
  const auto deadline = timeout ? detail::Deadline::after(*timeout) : detail::Deadline::never();
  unique_fd fd;
  try {
    fd = detail::open_pidfd(pid);
  } catch (const OSError& e) {
    if (e.error_code() == ESRCH) return true;  // already gone
    throw;
  }
  // Opened after the check that it is our parent still: the pid cannot have been reused.
  if (is_kin_parent(pid) && ::getppid() != pid) return true;
  for (;;) {
    pollfd p{fd.get(), POLLIN, 0};
    int n = ::poll(&p, 1, deadline.poll_ms());
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) detail::throw_errno("poll");
  }
}

}  // namespace kin
