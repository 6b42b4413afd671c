#include <kin/runtime/reaper.hpp>
#include <kin/runtime/runtime.hpp>
#include <kin/runtime/shm_registry.hpp>
#include <kin/runtime/syscall.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <new>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace kin::detail {

namespace {

struct Registry {
  std::mutex mu;
  std::vector<std::shared_ptr<ChildState>> children;  // kin::Process children, until reaped
  std::vector<std::weak_ptr<ChildState>> watched;     // every watched child, until reaped
};

Registry& registry() {
  static auto* r = new Registry;  // never destroyed: used from atexit handlers
  return *r;
}

void forget_in_child() { forget_children_after_fork(); }
// A child forked by any means (kin, Popen's clone excepted, raw fork) does not own its
// parent's children.
[[maybe_unused]] const int g_fork_hook = at_fork(nullptr, nullptr, forget_in_child);

using Callbacks = std::vector<std::function<void(const kin::ExitStatus&)>>;

void dispatch(Callbacks cbs, kin::ExitStatus s) {
  if (cbs.empty()) return;
  auto run = [cbs = std::move(cbs), s] {
    for (auto& cb : cbs) {
      try {
        cb(s);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "kin: a child-exit callback threw %s\n", e.what());
      } catch (...) {
        std::fprintf(stderr, "kin: a child-exit callback threw an unknown exception\n");
      }
    }
  };
  if (Runtime::get().on_runtime_thread()) run();
  else post(std::move(run));
}

// Records the status; returns the callbacks to dispatch. Called with c.mu held.
Callbacks set_status(ChildState& c, kin::ExitStatus s) {
  c.status = s;
  c.exitcode = s.exitcode();
  return std::move(c.on_exit);
}

void forget_reaped() {
  auto& r = registry();
  std::lock_guard g{r.mu};
  std::erase_if(r.children, [](const auto& c) {
    std::lock_guard cg{c->mu};
    return c->status.has_value();
  });
  std::erase_if(r.watched, [](const auto& w) {
    auto c = w.lock();
    if (!c) return true;
    std::lock_guard cg{c->mu};
    return c->status.has_value();
  });
}

void watch(const std::shared_ptr<ChildState>& c);

void on_ready(const std::shared_ptr<ChildState>& c) {
  bool done = false;
  try {
    done = try_reap(*c);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kin: reaping child %d failed: %s\n", static_cast<int>(c->pid), e.what());
    return;
  }
  if (done) forget_reaped();
  else watch(c);  // readable but not yet waitable: look again
}

void watch(const std::shared_ptr<ChildState>& c) {
  int fd;
  {
    std::lock_guard g{c->mu};
    if (c->status || !c->pidfd) return;
    fd = c->pidfd.get();
  }
  // The callback holds `c`, so the pidfd stays open until the watch has fired.
  Runtime::get().watch_fd(fd, Readiness::read, [c] { on_ready(c); });
}

}  // namespace

unique_fd open_pidfd(pid_t pid) {
  return unique_fd{static_cast<int>(check(::syscall(SYS_pidfd_open, pid, 0), "pidfd_open"))};
}

void signal_child(ChildState& c, int sig) {
  std::lock_guard g{c.mu};
  if (c.status || !c.pidfd) return;
  if (::syscall(SYS_pidfd_send_signal, c.pidfd.get(), sig, nullptr, 0) < 0 && errno != ESRCH)
    throw_errno("pidfd_send_signal");
  // A daemon child leads its own group, so its own children go with it. The child is not
  // reaped (we hold its mutex), so its pid, which leads the group, cannot have been reused.
  // pid > 0 always holds for a started child; the check keeps a bug elsewhere from turning this
  // into kill(0, sig), which would signal the caller's own group.
  if (c.own_group && c.pid > 0 && (sig == SIGTERM || sig == SIGKILL)) ::kill(-c.pid, sig);
}

void track_child(std::shared_ptr<ChildState> c) {
  {
    auto& r = registry();
    std::lock_guard g{r.mu};
    r.children.push_back(c);
    r.watched.push_back(c);
  }
  watch(c);
}

void watch_child(std::shared_ptr<ChildState> c) {
  {
    auto& r = registry();
    std::lock_guard g{r.mu};
    r.watched.push_back(c);
  }
  watch(c);
}

void on_child_exit(const std::shared_ptr<ChildState>& c, std::function<void(const kin::ExitStatus&)> cb) {
  std::unique_lock g{c->mu};
  if (!c->status) {
    c->on_exit.push_back(std::move(cb));
    return;
  }
  kin::ExitStatus s = *c->status;
  g.unlock();
  Callbacks one;
  one.push_back(std::move(cb));
  // Always through post, never inline, so the caller never runs its own callback re-entrantly.
  post([one = std::move(one), s] {
    for (auto& f : one) f(s);
  });
}

bool try_reap(ChildState& c) {
  Callbacks cbs;
  kin::ExitStatus s;
  {
    std::lock_guard g{c.mu};
    if (c.status) return true;
    siginfo_t info{};
    int rc = retry_eintr([&] {
      return ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(c.pidfd.get()), &info, WEXITED | WNOHANG);
    });
    if (rc < 0) {
      if (errno != ECHILD) throw_errno("waitid");
      // Reaped elsewhere (a foreign waitpid(-1)): the status is lost.
      s = kin::ExitStatus::exited(255);
    } else {
      if (info.si_pid == 0) return false;  // still running
      s = kin::ExitStatus::from_siginfo(info.si_code, info.si_status);
    }
    cbs = set_status(c, s);
  }
  reclaim_segments_of(c.pid);
  dispatch(std::move(cbs), s);
  return true;
}

bool wait_child(ChildState& c, Deadline deadline) {
  int fd;
  {
    std::lock_guard g{c.mu};
    if (c.status) return true;
    fd = c.pidfd.get();
  }
  // poll() outside the lock so other threads (the runtime's reaper among them) can reach the
  // same child meanwhile; the pidfd stays open as long as the ChildState lives, and stays
  // readable after the reap.
  for (;;) {
    int ms = deadline.poll_ms();
    if (poll_fd(fd, POLLIN, std::chrono::milliseconds{ms}) != 0) {
      // Exited: the status is a waitid away (or being set by the reaper right now).
      while (!try_reap(c)) poll_fd(fd, POLLIN, std::chrono::milliseconds{1});
      return true;
    }
    if (deadline.expired()) return try_reap(c);
  }
}

void reap_finished() {
  std::vector<std::shared_ptr<ChildState>> snapshot;
  {
    std::lock_guard g{registry().mu};
    snapshot = registry().children;
  }
  for (auto& c : snapshot) {
    try {
      try_reap(*c);
    } catch (const std::exception&) {
    }
  }
  forget_reaped();
}

std::vector<std::shared_ptr<ChildState>> running_children() {
  reap_finished();
  std::lock_guard g{registry().mu};
  return registry().children;
}

void forget_children_after_fork() {
  // Only this thread exists in the child; the registry's and the children's mutexes may have
  // been copied locked (the runtime thread reaps under them).
  auto* r = &registry();
  new (&r->mu) std::mutex;
  for (auto& w : r->watched) {
    if (auto c = w.lock()) {
      new (&c->mu) std::mutex;
      c->pidfd.reset();
      // Leaked, not destroyed: the callbacks may hold handles into the parent's actor system,
      // which a child must never touch (caf-0.17-cheatsheet G11).
      new (&c->on_exit) Callbacks;
    }
  }
  r->children.clear();
  r->watched.clear();
}

}  // namespace kin::detail
