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
#include <kin/runtime/runtime_resources.hpp>
#include <kin/runtime/syscall.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <mutex>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace kin {

namespace {

constexpr int kControlFd = 3;
constexpr const char* kSpawnFlag = "--kin-spawn";
constexpr const char* kForkserverFlag = "--kin-forkserver";
constexpr const char* kEntryPrefix = "kin-entry:";

// name, daemon, parent name, parent pid, fn object, fn offset, invoker object, invoker offset, args
using StartRequest = std::tuple<std::string, bool, std::string, std::int32_t, std::string, std::uint64_t,
                                std::string, std::uint64_t, Bytes>;

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
[[noreturn]] void run_request(StartRequest& req, std::vector<unique_fd>& fds, pid_t os_parent) {
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
  detail::become_child(ProcessInfo{name, ::getpid(), daemon}, ProcessInfo{parent_name, parent_pid, false}, os_parent);
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
  run_request(req, fds, ::getppid());
}

// The forkserver's loop: requests on fd 3, children's exits on their pidfds.
[[noreturn]] void run_forkserver() {
  const pid_t client = ::getppid();
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // the server never outlives the program that uses it
  if (::getppid() != client) ::_exit(0);
  struct Child {
    unique_fd pidfd;
    unique_fd status;  // write end of the requester's status pipe
  };
  std::map<pid_t, Child> children;
  for (;;) {
    std::vector<pollfd> pfds{{kControlFd, POLLIN, 0}};
    std::vector<pid_t> order;
    for (auto& [pid, c] : children) {
      pfds.push_back({c.pidfd.get(), POLLIN, 0});
      order.push_back(pid);
    }
    if (::poll(pfds.data(), pfds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      ::_exit(2);
    }
    for (std::size_t i = 1; i < pfds.size(); ++i) {
      if (!(pfds[i].revents & POLLIN)) continue;
      auto it = children.find(order[i - 1]);
      siginfo_t info{};
      if (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(it->second.pidfd.get()), &info, WEXITED | WNOHANG) < 0 ||
          info.si_pid == 0)
        continue;
      std::int32_t code = info.si_code == CLD_EXITED ? info.si_status : -info.si_status;
      [[maybe_unused]] auto n = ::write(it->second.status.get(), &code, sizeof code);
      children.erase(it);
    }
    if (!(pfds[0].revents & (POLLIN | POLLHUP))) continue;
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
    if (fds.size() < 4) ::_exit(3);  // the requester's stdio and status pipe always come last
    unique_fd status = std::move(fds.back());
    unique_fd stdio[3] = {std::move(fds[fds.size() - 4]), std::move(fds[fds.size() - 3]),
                          std::move(fds[fds.size() - 2])};
    fds.resize(fds.size() - 4);
    pid_t pid = ::fork();
    if (pid == 0) {
      ::close(kControlFd);
      for (int i = 0; i < 3; ++i) ::dup2(stdio[i].get(), i);  // the requester's current stdio
      for (auto& f : stdio) f.reset();
      status.reset();
      children.clear();  // their fds are the server's business
      run_request(req, fds, ::getppid());
    }
    std::int32_t reply = pid > 0 ? pid : -errno;
    std::vector<int> reply_fds;
    if (pid > 0) {
      // The server reaps this child, perhaps before the requester could pidfd_open() it: so the
      // requester gets a pidfd from here, opened while the child cannot be gone yet.
      auto& c = children.emplace(pid, Child{detail::open_pidfd(pid), std::move(status)}).first->second;
      reply_fds.push_back(c.pidfd.get());
    }
    try {
      detail::send_with_fds(kControlFd, std::span<const std::byte>(reinterpret_cast<std::byte*>(&reply), sizeof reply),
                            reply_fds);
    } catch (const std::exception&) {
      ::_exit(4);
    }
  }
}

// fork + exec of this program with `flag`; `child_end` becomes the child's fd 3 and the child
// gets nothing but stdio besides it.
pid_t exec_self(const char* flag, unique_fd child_end, bool own_group) {
  auto& g = detail::process_globals();
  std::string argv0 = g.argv.empty() ? std::string("kin-child") : g.argv[0];
  char* child_argv[] = {argv0.data(), const_cast<char*>(flag), nullptr};
  const int their_fd = child_end.get();
  detail::flush_std_streams();
  pid_t pid = ::fork();
  if (pid < 0) detail::throw_errno("fork");
  if (pid == 0) {  // async-signal-safe calls only until exec
    if (their_fd == kControlFd)
      ::fcntl(kControlFd, F_SETFD, 0);
    else if (::dup2(their_fd, kControlFd) < 0)
      ::_exit(127);
    ::syscall(SYS_close_range, kControlFd + 1, ~0U, 0);
    if (own_group) ::setpgid(0, 0);
    ::execv("/proc/self/exe", child_argv);
    ::_exit(127);
  }
  if (own_group) ::setpgid(pid, pid);
  return pid;
}

struct ForkServer {
  std::mutex mu;
  pid_t pid = 0;
  unique_fd sock;

  // Sends a request; returns the new child's pid and a pidfd for it.
  std::pair<pid_t, unique_fd> start(Bytes& frame, std::vector<int> fds, int status_write_end) {
    std::lock_guard g{mu};
    if (!sock || ::getpid() != owner) launch();
    fds.insert(fds.end(), {0, 1, 2, status_write_end});
    detail::send_with_fds(sock.get(), frame, fds);
    std::int32_t reply = 0;
    std::vector<unique_fd> got;
    detail::recv_with_fds(sock.get(), std::span<std::byte>(reinterpret_cast<std::byte*>(&reply), sizeof reply), got);
    if (reply <= 0) throw OSError(-reply, "kin forkserver: fork");
    if (got.size() != 1) throw ProtocolError("kin forkserver: reply without the child's pidfd");
    return {reply, std::move(got[0])};
  }

 private:
  pid_t owner = 0;

  void launch() {
    if (sock) {  // inherited from a parent through fork: not ours to use
      detail::forget_runtime_fd(sock.get());
      sock.reset();
    }
    auto [mine, theirs] = detail::make_socketpair();
    pid = exec_self(kForkserverFlag, std::move(theirs), false);
    sock = std::move(mine);
    owner = ::getpid();
    detail::note_runtime_pid(pid);
    detail::note_runtime_fd(sock.get());
  }
};

ForkServer& forkserver() {
  static auto* s = new ForkServer;  // never destroyed: its socket closes with the program
  return *s;
}

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
                   fn.object, fn.offset, inv.object, inv.offset, std::move(args)};
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
  if (start_method() == StartMethod::forkserver) {
    auto status = detail::make_pipe();
    auto [pid, pidfd] = forkserver().start(frame, std::move(handed_fds), status.write.get());
    st->pid = pid;
    st->pidfd = std::move(pidfd);
    st->status_fd = std::move(status.read);
    detail::track_child(st);
    state_ = std::move(st);
    return;
  }
  auto [mine, theirs] = detail::make_socketpair();
  st->pid = exec_self(kSpawnFlag, std::move(theirs), options_.daemon);
  st->pidfd = detail::open_pidfd(st->pid);
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
