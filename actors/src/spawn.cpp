// The spawn start method (fork + exec of this program, the target run by kin::init) and the
// request code it shares with the forkserver: see start_request.hpp.
#include <kin/init.hpp>
#include <kin/process.hpp>

#include "process_globals.hpp"
#include "start_request.hpp"

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
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <functional>

namespace kin {

namespace detail {

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
  detail::become_child(ProcessInfo{req.name, ::getpid(), req.daemon, req.authkey},
                       ProcessInfo{req.parent_name, req.parent_pid, false, {}}, os_parent, method);
  int code = detail::run_child_body(req.name, [&] {
    std::uintptr_t fn = 0;
    if (req.fn_object.rfind(kEntryPrefix, 0) == 0) {  // a KIN_ENTRY function, sent by name
      const std::string entry = req.fn_object.substr(std::strlen(kEntryPrefix));
      auto named = detail::entry_named(entry);
      if (!named) throw ProtocolError("kin: no KIN_ENTRY named " + entry + " in this program");
      fn = *named;
    } else {
      fn = reinterpret_cast<std::uintptr_t>(detail::resolve_code_ref({req.fn_object, req.fn_offset}));
    }
    auto invoker = reinterpret_cast<detail::SpawnTarget::Invoker>(
        detail::resolve_code_ref({req.invoker_object, req.invoker_offset}));
    detail::HandoverImport scope{fds};
    return invoker(fn, req.args);
  });
  detail::leave_child(code);
}

}  // namespace detail

namespace {

[[noreturn]] void run_spawned_child() {
  using namespace detail;
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

}  // namespace

namespace detail {

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

}  // namespace detail

void init(int argc, char** argv) {
  auto& g = detail::process_globals();
  g.argv.assign(argv, argv + argc);
  g.current.pid = ::getpid();
  if (argc >= 2 && std::strcmp(argv[1], detail::kSpawnFlag) == 0) run_spawned_child();
  if (argc >= 2 && std::strcmp(argv[1], detail::kForkserverFlag) == 0) detail::run_forkserver();
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
  auto fn = entry ? detail::CodeRef{detail::kEntryPrefix + *entry, 0} : detail::code_ref_of(reinterpret_cast<const void*>(spawn_->fn));
  auto inv = detail::code_ref_of(reinterpret_cast<const void*>(spawn_->invoker));
  auto& g = detail::process_globals();
  detail::StartRequest req{.name = options_.name,
                   .daemon = options_.daemon,
                   .parent_name = g.current.name,
                   .parent_pid = static_cast<std::int32_t>(::getpid()),
                   .fn_object = fn.object,
                   .fn_offset = fn.offset,
                   .invoker_object = inv.object,
                   .invoker_offset = inv.offset,
                   .args = std::move(args),
                   .authkey = authkey_};
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
    auto [pid, pidfd] = detail::start_in_forkserver(frame, std::move(handed_fds));
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
    auto [pid, pidfd] = detail::exec_self(detail::kSpawnFlag, std::move(pair.b), options_.daemon, mask);
    st->pid = pid;
    st->pidfd = std::move(pidfd);
  };
  // A daemon dies with the program (PR_SET_PDEATHSIG in the child): fork it from the thread
  // that lives as long as the program.
  if (options_.daemon) detail::on_process_lifetime_thread(launch);
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
