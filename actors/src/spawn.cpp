// The spawn and forkserver start methods: the target runs in a fresh image of this program.
//
// spawn: fork + exec of /proc/self/exe with a control socket on fd 3. The parent sends one
// frame — who the child is, where its target and the target's invoker live
// (runtime/code_address.hpp), and the encoded arguments — with the fds of any kin objects among
// the arguments attached (SCM_RIGHTS, runtime/handover.hpp). kin::init in the new image sees
// `--kin-spawn`, reads the frame, runs the target and exits; it never returns to main.
//
// forkserver: the first forkserver start execs one server the same way (`--kin-forkserver`),
// so it is single-threaded whatever the parent runs. Each start sends it the same request plus
// the write end of a status pipe; the server forks (safe: it has one thread), the child runs
// the request, and the server answers with the child's pid. The child is the server's child,
// so the server reaps it and writes its exit code into the status pipe; the parent watches it
// through pidfd_open() (signals, sentinel) and the pipe (exit code) — see runtime/reaper.hpp.
#include <kin/init.hpp>
#include <kin/process.hpp>

#include "process_globals.hpp"

#include <kin/runtime/code_address.hpp>
#include <kin/runtime/entry_registry.hpp>
#include <kin/runtime/framing.hpp>
#include <kin/runtime/handover.hpp>
#include <kin/runtime/reaper.hpp>
#include <kin/runtime/runtime.hpp>
#include <kin/runtime/runtime_resources.hpp>
#include <kin/runtime/syscall.hpp>

#include <fcntl.h>
#include <sched.h>
#if !defined(__x86_64__)
#include <linux/sched.h>
#endif
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <mutex>
#include <new>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace kin {

namespace {

constexpr int kControlFd = 3;
constexpr const char* kSpawnFlag = "--kin-spawn";
constexpr const char* kForkserverFlag = "--kin-forkserver";
constexpr const char* kEntryPrefix = "kin-entry:";

// name, daemon, parent name, parent pid, fn object, fn offset, invoker object, invoker offset, args,
// authkey
using StartRequest = std::tuple<std::string, bool, std::string, std::int32_t, std::string, std::uint64_t,
                                std::string, std::uint64_t, Bytes, std::string>;

// Reads one request frame and the fds that came with it. EOFError at a clean EOF.
StartRequest read_request(int fd, std::vector<unique_fd>& fds) {
  std::byte header[detail::kFrameHeaderSize];
  detail::recv_with_fds(fd, header, fds);
  auto len = detail::parse_frame_header(std::span<const std::byte, detail::kFrameHeaderSize>(header),
                                        detail::kDefaultMaxFrame);
  Bytes payload(len);
  if (len > 0) detail::recv_with_fds(fd, payload, fds);
  return decode<StartRequest>(payload);
}

// Runs a decoded request as this process's target; never returns.
[[noreturn]] void run_request(StartRequest& req, std::vector<unique_fd>& fds, pid_t os_parent, StartMethod method) {
  // Plain references, not a structured binding: lambdas may not capture those before C++20
  // in clang 14 (the fuzz build).
  const std::string& name = std::get<0>(req);
  const bool daemon = std::get<1>(req);
  const std::string& parent_name = std::get<2>(req);
  const std::int32_t parent_pid = std::get<3>(req);
  const std::string& fn_obj = std::get<4>(req);
  const std::uint64_t fn_off = std::get<5>(req);
  const std::string& inv_obj = std::get<6>(req);
  const std::uint64_t inv_off = std::get<7>(req);
  const Bytes& args = std::get<8>(req);
  detail::become_child(ProcessInfo{name, ::getpid(), daemon, std::get<9>(req)},
                       ProcessInfo{parent_name, parent_pid, false, {}}, os_parent, method);
  int code = detail::run_child_body(name, [&] {
    std::uintptr_t fn = 0;
    if (fn_obj.rfind(kEntryPrefix, 0) == 0) {  // a KIN_ENTRY function, sent by name
      auto named = detail::entry_named(fn_obj.substr(std::strlen(kEntryPrefix)));
      if (!named) throw ProtocolError("kin: no KIN_ENTRY named " + fn_obj.substr(std::strlen(kEntryPrefix)) + " in this program");
      fn = *named;
    } else {
      fn = reinterpret_cast<std::uintptr_t>(detail::resolve_code_ref({fn_obj, fn_off}));
    }
    auto invoker = reinterpret_cast<detail::SpawnTarget::Invoker>(detail::resolve_code_ref({inv_obj, inv_off}));
    detail::HandoverImport scope{fds};
    return invoker(fn, args);
  });
  detail::leave_child(code);
}

[[noreturn]] void run_spawned_child() {
  std::vector<unique_fd> fds;
  StartRequest req;
  try {
    req = read_request(kControlFd, fds);
    ::close(kControlFd);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kin: spawned child could not read its start request: %s\n", e.what());
    ::_exit(1);
  }
  run_request(req, fds, ::getppid(), StartMethod::spawn);
}

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
  detail::Runtime::fork_prepare();
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
    detail::Runtime::fork_child();
    return 0;
  }
  int saved = errno;
  detail::Runtime::fork_parent();
  errno = saved;
  return static_cast<pid_t>(rc);
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
      detail::send_with_fds(kControlFd, std::span<const std::byte>(reinterpret_cast<std::byte*>(&reply), sizeof reply),
                            reply_fds);
    } catch (const std::exception&) {
      // The program is gone; the child (its child, not ours) carries on or dies with it.
      ::_exit(4);
    }
  }
}

// fork + exec of this program with `flag`; `child_end` becomes the child's fd 3 and the child
// gets nothing but stdio besides it. A raw clone with CLONE_PIDFD hands back the pidfd with the
// pid, so no child can exist that kin does not hold (nothing to allocate after the fork); the
// child makes only system calls until exec.
std::pair<pid_t, unique_fd> exec_self(const char* flag, unique_fd child_end, bool own_group, const sigset_t& mask) {
  auto& g = detail::process_globals();
  std::string argv0 = g.argv.empty() ? std::string("kin-child") : g.argv[0];
  char* child_argv[] = {argv0.data(), const_cast<char*>(flag), nullptr};
  const int their_fd = child_end.get();
  detail::flush_std_streams();
  int pidfd = -1;
  long rc = ::syscall(SYS_clone, static_cast<unsigned long>(CLONE_PIDFD | SIGCHLD), nullptr, &pidfd, nullptr, nullptr);
  if (rc < 0) detail::throw_errno("clone(CLONE_PIDFD)");
  if (rc == 0) {
    if (their_fd == kControlFd) {
      ::syscall(SYS_fcntl, kControlFd, F_SETFD, 0);
    } else if (::syscall(SYS_dup3, their_fd, kControlFd, 0) < 0) {
      ::syscall(SYS_exit_group, 127);
    }
    ::syscall(SYS_close_range, kControlFd + 1, ~0U, 0);
    // The program's signal mask, not the forking thread's (the runtime thread blocks all).
    ::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &mask, nullptr, sizeof(std::uint64_t));
    if (own_group) ::syscall(SYS_setpgid, 0, 0);
    ::syscall(SYS_execve, "/proc/self/exe", child_argv, environ);
    ::syscall(SYS_exit_group, 127);
  }
  const pid_t pid = static_cast<pid_t>(rc);
  if (own_group) ::setpgid(pid, pid);
  return {pid, unique_fd{pidfd}};
}

// Runs `fn` where a child's parent-death signal is tied to the process, not to a thread:
// PR_SET_PDEATHSIG fires when the *thread* that forked the child ends, so children that
// must die with the program (daemons, the forkserver) are forked by the runtime thread,
// which lives as long as the program.
void on_process_lifetime_thread(const std::function<void()>& fn) {
  auto& rt = detail::Runtime::get();
  if (rt.on_runtime_thread()) return fn();
  rt.run(fn);
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
        detail::send_with_fds(sock.get(), frame, fds);
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
        detail::recv_with_fds(sock.get(), std::span<std::byte>(reinterpret_cast<std::byte*>(&reply), sizeof reply), got);
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
  std::shared_ptr<detail::ChildState> server;  // reaped by the runtime when it dies
  pid_t owner = 0;

  bool alive() {
    if (!sock || !server || owner != ::getpid()) return false;
    std::lock_guard g{server->mu};
    if (server->status) return false;
    // Dead but not yet reaped: its pidfd is readable already.
    return detail::poll_fd(server->pidfd.get(), POLLIN, std::chrono::milliseconds{0}) == 0;
  }

  // Forgets the current server. If it is still running (a fork child's inherited one, or a
  // server that broke its socket) it is not ours to stop; a dead one is reaped by the runtime.
  void drop() {
    if (sock) {
      detail::forget_runtime_fd(sock.get());
      sock.reset();
    }
    if (server && owner == ::getpid()) {
      detail::signal_child(*server, SIGKILL);  // a server that broke the protocol is useless
      detail::forget_runtime_pid(server->pid);
      detail::forget_runtime_fd(server->pidfd.get());  // closes when the reaper lets go
    }
    server.reset();
  }

  void launch() {
    if (owner != ::getpid()) {  // inherited from a parent through fork: not ours to use
      if (sock) detail::forget_runtime_fd(sock.get());
      sock.reset();              // our copy of the parent's socket
      server.reset();
      owner = ::getpid();
    }
    drop();
    auto pair = detail::make_socketpair();
    unique_fd mine = std::move(pair.a);
    auto st = std::make_shared<detail::ChildState>();
    st->name = "kin-forkserver";
    sigset_t mask;
    sigemptyset(&mask);  // the server's loop expects the default: nothing blocked
    on_process_lifetime_thread([&] {
      auto [pid, pidfd] = exec_self(kForkserverFlag, std::move(pair.b), false, mask);
      st->pid = pid;
      st->pidfd = std::move(pidfd);
    });
    detail::note_runtime_pid(st->pid);
    detail::note_runtime_fd(st->pidfd.get());
    detail::note_runtime_fd(mine.get());
    const pid_t pid = st->pid;
    detail::on_child_exit(st, [pid](const ExitStatus&) { detail::forget_runtime_pid(pid); });
    detail::watch_child(st);
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
[[maybe_unused]] const int g_fork_hook = detail::at_fork(nullptr, nullptr, forkserver_after_fork);

}  // namespace

void init(int argc, char** argv) {
  auto& g = detail::process_globals();
  g.argv.assign(argv, argv + argc);
  g.current.pid = ::getpid();
  if (argc >= 2 && std::strcmp(argv[1], kSpawnFlag) == 0) run_spawned_child();
  if (argc >= 2 && std::strcmp(argv[1], kForkserverFlag) == 0) run_forkserver();
}

void Process::start_spawn() {
  if (!spawn_)
    throw StartMethodError(
        "kin::Process::start: the " + std::string(to_string(start_method())) +
        " start method runs the target in a fresh program image, so it needs a plain function "
        "(or a captureless lambda) and arguments kin can serialize; this Process has a closure, a "
        "run() override or an argument that cannot travel. Pass a free function and its "
        "arguments, or use StartMethod::fork.");
  // Encode first: an argument that cannot travel fails here, before any child exists.
  std::vector<unique_fd> handed;
  Bytes args;
  {
    detail::HandoverExport scope{handed};
    args = spawn_->encode_args();
  }
  auto entry = detail::entry_name_of(spawn_->fn);
  auto fn = entry ? detail::CodeRef{kEntryPrefix + *entry, 0} : detail::code_ref_of(reinterpret_cast<const void*>(spawn_->fn));
  auto inv = detail::code_ref_of(reinterpret_cast<const void*>(spawn_->invoker));
  auto& g = detail::process_globals();
  StartRequest req{options_.name, options_.daemon, g.current.name, static_cast<std::int32_t>(::getpid()),
                   fn.object, fn.offset, inv.object, inv.offset, std::move(args), authkey_};
  Bytes frame(detail::kFrameHeaderSize);
  encode_into(frame, req);
  detail::fill_frame_header(std::span<std::byte, detail::kFrameHeaderSize>(frame.data(), detail::kFrameHeaderSize),
                            frame.size() - detail::kFrameHeaderSize);
  std::vector<int> handed_fds;
  for (auto& f : handed) handed_fds.push_back(f.get());

  auto st = std::make_shared<detail::ChildState>();
  st->name = options_.name;
  st->daemon = options_.daemon;
  st->own_group = options_.daemon;
  detail::Runtime::get().ensure_started();  // it will reap the child: it must exist first
  if (start_method() == StartMethod::forkserver) {
    auto [pid, pidfd] = forkserver().start(frame, std::move(handed_fds));
    st->pid = pid;
    st->pidfd = std::move(pidfd);
    if (options_.daemon) ::setpgid(pid, pid);  // also done by the child itself
    detail::track_child(st);
    state_ = std::move(st);
    return;
  }
  auto pair = detail::make_socketpair();
  unique_fd& mine = pair.a;
  sigset_t mask;  // the child gets the starting thread's mask, as with a plain fork
  pthread_sigmask(SIG_SETMASK, nullptr, &mask);
  auto launch = [&] {
    auto [pid, pidfd] = exec_self(kSpawnFlag, std::move(pair.b), options_.daemon, mask);
    st->pid = pid;
    st->pidfd = std::move(pidfd);
  };
  // A daemon dies with the program (PR_SET_PDEATHSIG in the child): fork it from the thread
  // that lives as long as the program.
  if (options_.daemon) on_process_lifetime_thread(launch);
  else launch();
  detail::track_child(st);
  state_ = st;
  try {
    detail::send_with_fds(mine.get(), frame, handed_fds);
  } catch (const Error& e) {  // the child died before reading: its exit status tells why
    detail::signal_child(*st, SIGKILL);
    throw ProcessError(std::string("kin::Process::start: could not hand the start request to the child: ") + e.what());
  }
}

}  // namespace kin
