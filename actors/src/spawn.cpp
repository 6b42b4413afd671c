// The spawn start method: fork + exec of /proc/self/exe with a control socket on fd 3. The
// parent sends one frame — who the child is, where its target and the target's invoker live
// (runtime/code_address.hpp), and the encoded arguments — with the fds of any kin objects among
// the arguments attached (SCM_RIGHTS, runtime/handover.hpp). kin::init in the new image sees
// `--kin-spawn`, reads the frame, runs the target and exits; it never returns to main.
#include <kin/init.hpp>
#include <kin/process.hpp>

#include "process_globals.hpp"

#include <kin/runtime/code_address.hpp>
#include <kin/runtime/framing.hpp>
#include <kin/runtime/handover.hpp>
#include <kin/runtime/reaper.hpp>
#include <kin/runtime/syscall.hpp>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>

#ifndef CLOSE_RANGE_UNSHARE
#include <linux/close_range.h>
#endif
#include <sys/syscall.h>

namespace kin {

namespace {

constexpr int kControlFd = 3;
constexpr const char* kSpawnFlag = "--kin-spawn";

// name, daemon, parent name, parent pid, fn object, fn offset, invoker object, invoker offset, args
using SpawnRequest = std::tuple<std::string, bool, std::string, std::int32_t, std::string, std::uint64_t,
                                std::string, std::uint64_t, Bytes>;

[[noreturn]] void run_spawned_child() {
  std::vector<unique_fd> fds;
  SpawnRequest req;
  try {
    std::byte header[detail::kFrameHeaderSize];
    detail::recv_with_fds(kControlFd, header, fds);
    auto len = detail::parse_frame_header(std::span<const std::byte, detail::kFrameHeaderSize>(header),
                                          detail::kDefaultMaxFrame);
    Bytes payload(len);
    detail::recv_with_fds(kControlFd, payload, fds);
    ::close(kControlFd);
    req = decode<SpawnRequest>(payload);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kin: spawned child could not read its start request: %s\n", e.what());
    ::_exit(1);
  }
  auto& [name, daemon, parent_name, parent_pid, fn_obj, fn_off, inv_obj, inv_off, args] = req;
  detail::become_child(ProcessInfo{name, ::getpid(), daemon}, ProcessInfo{parent_name, parent_pid, false});
  int code = detail::run_child_body(name, [&] {
    auto fn = reinterpret_cast<std::uintptr_t>(detail::resolve_code_ref({fn_obj, fn_off}));
    auto invoker = reinterpret_cast<detail::SpawnTarget::Invoker>(detail::resolve_code_ref({inv_obj, inv_off}));
    detail::HandoverImport scope{fds};
    return invoker(fn, args);
  });
  detail::leave_child(code);
}

}  // namespace

void init(int argc, char** argv) {
  auto& g = detail::process_globals();
  g.argv.assign(argv, argv + argc);
  g.current.pid = ::getpid();
  if (argc >= 2 && std::strcmp(argv[1], kSpawnFlag) == 0) run_spawned_child();
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
  auto fn = detail::code_ref_of(reinterpret_cast<const void*>(spawn_->fn));
  auto inv = detail::code_ref_of(reinterpret_cast<const void*>(spawn_->invoker));
  auto& g = detail::process_globals();
  SpawnRequest req{options_.name, options_.daemon, g.current.name, static_cast<std::int32_t>(::getpid()),
                   fn.object, fn.offset, inv.object, inv.offset, std::move(args)};
  Bytes frame(detail::kFrameHeaderSize);
  encode_into(frame, req);
  detail::fill_frame_header(std::span<std::byte, detail::kFrameHeaderSize>(frame.data(), detail::kFrameHeaderSize),
                            frame.size() - detail::kFrameHeaderSize);
  std::vector<int> handed_fds;
  for (auto& f : handed) handed_fds.push_back(f.get());

  auto [mine, theirs] = detail::make_socketpair();
  std::string argv0 = g.argv.empty() ? std::string("kin-child") : g.argv[0];
  char* child_argv[] = {argv0.data(), const_cast<char*>(kSpawnFlag), nullptr};
  const int their_fd = theirs.get();
  const bool daemon = options_.daemon;
  detail::flush_std_streams();
  pid_t pid = ::fork();
  if (pid < 0) detail::throw_errno("fork");
  if (pid == 0) {  // async-signal-safe calls only until exec
    if (their_fd == kControlFd)
      ::fcntl(kControlFd, F_SETFD, 0);
    else if (::dup2(their_fd, kControlFd) < 0)
      ::_exit(127);
    // The child gets stdio and its control socket, nothing else (handed fds come over it).
    ::syscall(SYS_close_range, kControlFd + 1, ~0U, 0);
    if (daemon) ::setpgid(0, 0);
    ::execv("/proc/self/exe", child_argv);
    ::_exit(127);
  }
  theirs.reset();
  auto st = std::make_shared<detail::ChildState>();
  st->name = options_.name;
  st->daemon = daemon;
  st->own_group = daemon;
  if (daemon) ::setpgid(pid, pid);
  st->pid = pid;
  st->pidfd = detail::open_pidfd(pid);
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
