#include <kin/runtime/reaper.hpp>
#include <kin/runtime/shm_registry.hpp>
#include <kin/runtime/syscall.hpp>

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace kin::detail {

namespace {

struct Registry {
  std::mutex mu;
  std::vector<std::shared_ptr<ChildState>> children;
};

void forget_in_child() { forget_children_after_fork(); }

Registry& registry() {
  static auto* r = [] {
    auto* reg = new Registry;  // never destroyed: used from atexit handlers
    // A child forked by any means (kin, Popen, raw fork) does not own its parent's children.
    ::pthread_atfork(nullptr, nullptr, forget_in_child);
    return reg;
  }();
  return *r;
}

int exitcode_of(const siginfo_t& info) {
  if (info.si_code == CLD_EXITED) return info.si_status;
  return -info.si_status;  // CLD_KILLED / CLD_DUMPED: -signal, as Python
}

}  // namespace

unique_fd open_pidfd(pid_t pid) {
  return unique_fd{static_cast<int>(check(::syscall(SYS_pidfd_open, pid, 0), "pidfd_open"))};
}

void signal_child(ChildState& c, int sig) {
  std::lock_guard g{c.mu};
  if (c.exitcode || !c.pidfd) return;
  if (::syscall(SYS_pidfd_send_signal, c.pidfd.get(), sig, nullptr, 0) < 0 && errno != ESRCH)
    throw_errno("pidfd_send_signal");
  // A daemon child leads its own group, so its own children go with it.
  if (c.own_group && (sig == SIGTERM || sig == SIGKILL)) ::kill(-c.pid, sig);
}

void track_child(std::shared_ptr<ChildState> c) {
  std::lock_guard g{registry().mu};
  registry().children.push_back(std::move(c));
}

bool try_reap(ChildState& c) {
  std::lock_guard g{c.mu};
  if (c.exitcode) return true;
  if (c.status_fd) {
    if (poll_fd(c.status_fd.get(), POLLIN, std::chrono::milliseconds{0}) == 0) return false;
    std::int32_t code = 0;
    ssize_t n = retry_eintr([&] { return ::read(c.status_fd.get(), &code, sizeof code); });
    c.exitcode = n == static_cast<ssize_t>(sizeof code) ? code : 255;  // server gone: status lost
    reclaim_segments_of(c.pid);
    return true;
  }
  siginfo_t info{};
  int rc = retry_eintr([&] { return ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(c.pidfd.get()), &info, WEXITED | WNOHANG); });
  if (rc < 0) {
    if (errno == ECHILD) {  // reaped elsewhere (e.g. by a foreign waitpid(-1)): status lost
      c.exitcode = 255;
      return true;
    }
    throw_errno("waitid");
  }
  if (info.si_pid == 0) return false;  // still running
  c.exitcode = exitcode_of(info);
  reclaim_segments_of(c.pid);
  return true;
}

bool wait_child(ChildState& c, std::optional<std::chrono::milliseconds> timeout) {
  int fd;
  {
    std::lock_guard g{c.mu};
    if (c.exitcode) return true;
    fd = c.status_fd ? c.status_fd.get() : c.pidfd.get();
  }
  // poll() outside the lock so other threads can query the same child meanwhile; the pidfd
  // stays open as long as the ChildState lives.
  if (poll_fd(fd, POLLIN, timeout ? *timeout : std::chrono::milliseconds{-1}) == 0) return try_reap(c);
  while (!try_reap(c)) poll_fd(fd, POLLIN, std::chrono::milliseconds{10});
  return true;
}

void reap_finished() {
  std::vector<std::shared_ptr<ChildState>> snapshot;
  {
    std::lock_guard g{registry().mu};
    snapshot = registry().children;
  }
  bool any = false;
  for (auto& c : snapshot) any |= try_reap(*c);
  if (!any) return;
  std::lock_guard g{registry().mu};
  auto& v = registry().children;
  v.erase(std::remove_if(v.begin(), v.end(), [](const auto& c) {
            std::lock_guard cg{c->mu};
            return c->exitcode.has_value();
          }),
          v.end());
}

std::vector<std::shared_ptr<ChildState>> running_children() {
  reap_finished();
  std::lock_guard g{registry().mu};
  return registry().children;
}

void forget_children_after_fork() {
  // Only this thread exists in the child; the registry's mutex may have been copied locked.
  auto* r = &registry();
  new (&r->mu) std::mutex;
  for (auto& c : r->children) {
    new (&c->mu) std::mutex;
    c->pidfd.reset();
    c->status_fd.reset();
  }
  r->children.clear();
}

}  // namespace kin::detail
