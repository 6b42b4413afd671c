// The forkserver start method's two halves: the client in the program (ForkServer: launches one
// server per process, restarts it when it dies — bpo-31308) and the server's loop. See
// start_request.hpp for the protocol.
#include "start_request.hpp"

#include <kin/errors.hpp>
#include <kin/exit_status.hpp>
#include <kin/runtime/framing.hpp>
#include <kin/runtime/reaper.hpp>
#include <kin/runtime/runtime.hpp>
#include <kin/runtime/runtime_resources.hpp>
#include <kin/runtime/syscall.hpp>

#include <poll.h>
#include <sched.h>
#if !defined(__x86_64__)
#include <linux/sched.h>
#endif
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <new>

namespace kin::detail {

namespace {

// Where glibc keeps this thread's tid (struct pthread's tid field: the kernel was told it at
// thread creation as the clear-child-tid address), and this thread's robust-mutex list.
struct ThreadIdentity {
  int* tid = nullptr;
  void* robust_head = nullptr;
  std::size_t robust_len = 0;
};

ThreadIdentity thread_identity() {
  ThreadIdentity t;
  if (::prctl(PR_GET_TID_ADDRESS, &t.tid) != 0) t.tid = nullptr;
  if (::syscall(SYS_get_robust_list, 0, &t.robust_head, &t.robust_len) != 0) t.robust_head = nullptr;
  return t;
}

// A fork whose child is the *requester's* child (CLONE_PARENT), with a pidfd (CLONE_PIDFD).
// The raw clone skips what glibc's fork does for the child, so this redoes it: the tid glibc
// caches (CLONE_CHILD_SETTID onto its own field — robust and error-checking mutexes compare
// owners by it), the robust-mutex list (the kernel clears it in a new process) and kin's fork
// hooks. The server is single-threaded, so no lock can be held across the clone.
pid_t clone_as_sibling(const ThreadIdentity& me, int* pidfd) {
  unsigned long flags = CLONE_PARENT | CLONE_PIDFD;
  if (me.tid != nullptr) flags |= CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID;
  Runtime::fork_prepare();
#if defined(__x86_64__)
  long rc = ::syscall(SYS_clone, flags, nullptr, pidfd, me.tid, nullptr);
#else
  struct clone_args args{};
  args.flags = flags;
  args.pidfd = reinterpret_cast<std::uint64_t>(pidfd);
  args.child_tid = reinterpret_cast<std::uint64_t>(me.tid);
  long rc = ::syscall(SYS_clone3, &args, sizeof args);
#endif
  if (rc == 0) {
    if (me.robust_head != nullptr) ::syscall(SYS_set_robust_list, me.robust_head, me.robust_len);
    Runtime::fork_child();
    return 0;
  }
  int saved = errno;
  Runtime::fork_parent();
  errno = saved;
  return static_cast<pid_t>(rc);
}

struct ForkServer {
  std::mutex mu;

  // Sends a request; returns the new child's pid and a pidfd for it. The child is the
  // program's own child.
  std::pair<pid_t, unique_fd> start(Bytes& frame, std::vector<int> fds) {
    std::lock_guard g{mu};
    fds.insert(fds.end(), {0, 1, 2});
    for (int attempt = 0;; ++attempt) {
      if (!alive()) launch();
      try {
        send_with_fds(sock.get(), frame, fds);
      } catch (const OSError& e) {
        // The server died before it could read the request (bpo-31308): start a new one.
        if (attempt == 0 && (e.error_code() == EPIPE || e.error_code() == ECONNRESET)) {
          drop();
          continue;
        }
        throw;
      }
      std::int32_t reply = 0;
      std::vector<unique_fd> got;
      try {
        recv_with_fds(sock.get(), std::span<std::byte>(reinterpret_cast<std::byte*>(&reply), sizeof reply), got);
      } catch (const Error& e) {
        drop();
        throw ProcessError(std::string("kin forkserver: the server died while starting the child: ") + e.what());
      }
      if (reply <= 0) throw OSError(-reply, "kin forkserver: clone");
      if (got.size() != 1) throw ProtocolError("kin forkserver: reply without the child's pidfd");
      return {reply, std::move(got[0])};
    }
  }

 private:
  unique_fd sock;
  std::shared_ptr<ChildState> server;  // reaped by the runtime when it dies
  pid_t owner = 0;

  bool alive() {
    if (!sock || !server || owner != ::getpid()) return false;
    std::lock_guard g{server->mu};
    if (server->status) return false;
    // Dead but not yet reaped: its pidfd is readable already.
    return poll_fd(server->pidfd.get(), POLLIN, std::chrono::milliseconds{0}) == 0;
  }

  // Forgets the current server. If it is still running (a fork child's inherited one, or a
  // server that broke its socket) it is not ours to stop; a dead one is reaped by the runtime.
  void drop() {
    if (sock) {
      forget_runtime_fd(sock.get());
      sock.reset();
    }
    if (server && owner == ::getpid()) {
      signal_child(*server, SIGKILL);  // a server that broke the protocol is useless
      forget_runtime_pid(server->pid);
      forget_runtime_fd(server->pidfd.get());  // closes when the reaper lets go
    }
    server.reset();
  }

  void launch() {
    if (owner != ::getpid()) {  // inherited from a parent through fork: not ours to use
      if (sock) forget_runtime_fd(sock.get());
      sock.reset();              // our copy of the parent's socket
      server.reset();
      owner = ::getpid();
    }
    drop();
    auto pair = make_socketpair();
    unique_fd mine = std::move(pair.a);
    auto st = std::make_shared<ChildState>();
    st->name = "kin-forkserver";
    sigset_t mask;
    sigemptyset(&mask);  // the server's loop expects the default: nothing blocked
    on_process_lifetime_thread([&] {
      auto [pid, pidfd] = exec_self(kForkserverFlag, std::move(pair.b), false, mask);
      st->pid = pid;
      st->pidfd = std::move(pidfd);
    });
    note_runtime_pid(st->pid);
    note_runtime_fd(st->pidfd.get());
    note_runtime_fd(mine.get());
    const pid_t pid = st->pid;
    on_child_exit(st, [pid](const ExitStatus&) { forget_runtime_pid(pid); });
    watch_child(st);
    sock = std::move(mine);
    server = std::move(st);
    owner = ::getpid();
  }
};

ForkServer& forkserver() {
  static auto* s = new ForkServer;  // never destroyed: its socket closes with the program
  return *s;
}

// A fork child may have copied the server's lock while another thread held it.
void forkserver_after_fork() { new (&forkserver().mu) std::mutex; }
[[maybe_unused]] const int g_fork_hook = at_fork(nullptr, nullptr, forkserver_after_fork);

}  // namespace

std::pair<pid_t, unique_fd> start_in_forkserver(Bytes& frame, std::vector<int> fds) {
  return forkserver().start(frame, std::move(fds));
}

// The forkserver's loop: one request on fd 3 at a time. Each child is created as a sibling
// of the server — a child of the program that asked for it — and its pidfd goes back with the
// reply, so the program tracks, signals and reaps it itself and loses nothing when the
// server dies. The server therefore has no children to reap.
[[noreturn]] void run_forkserver() {
  const pid_t client = ::getppid();
  // The server never outlives the program: the program launches it from its runtime thread,
  // which lives as long as the program, so this is tied to the process, not to a thread.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != client) ::_exit(0);
  const ThreadIdentity me = thread_identity();
  for (;;) {
    std::vector<unique_fd> fds;
    StartRequest req;
    try {
      req = read_request(kControlFd, fds);
    } catch (const EOFError&) {
      ::_exit(0);  // the program closed its end: it is exiting
    } catch (const std::exception& e) {
      std::fprintf(stderr, "kin forkserver: bad request: %s\n", e.what());
      ::_exit(3);
    }
    if (fds.size() < 3) ::_exit(3);  // the requester's stdio always comes last
    unique_fd stdio[3] = {std::move(fds[fds.size() - 3]), std::move(fds[fds.size() - 2]),
                          std::move(fds[fds.size() - 1])};
    fds.resize(fds.size() - 3);
    int pidfd = -1;
    pid_t pid = clone_as_sibling(me, &pidfd);
    if (pid == 0) {
      ::close(kControlFd);
      for (int i = 0; i < 3; ++i) ::dup2(stdio[i].get(), i);  // the requester's current stdio
      for (auto& f : stdio) f.reset();
      run_request(req, fds, ::getppid(), StartMethod::forkserver);  // getppid(): the program (CLONE_PARENT)
    }
    std::int32_t reply = pid > 0 ? pid : -errno;
    unique_fd child_pidfd{pid > 0 ? pidfd : -1};
    std::vector<int> reply_fds;
    if (child_pidfd) reply_fds.push_back(child_pidfd.get());
    try {
      send_with_fds(kControlFd, std::span<const std::byte>(reinterpret_cast<std::byte*>(&reply), sizeof reply),
                            reply_fds);
    } catch (const std::exception&) {
      // The program is gone; the child (its child, not ours) carries on or dies with it.
      ::_exit(4);
    }
  }
}

}  // namespace kin::detail
