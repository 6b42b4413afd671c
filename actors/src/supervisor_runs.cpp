// The runs of supervised children: a kin::Process, an exec'd program, an actor. Each reports
// its end to the supervisor's actor as a message, never by blocking in it: processes through
// the runtime thread (pidfd watch, reaper callback), actors through CAF's monitor.
#include <kin/child_spec.hpp>
#include <kin/errors.hpp>
#include <kin/notify_ready.hpp>
#include <kin/runtime/reaper.hpp>
#include <kin/runtime/runtime.hpp>
#include <kin/runtime/unique_fd.hpp>
#include <kin/supervisor.hpp>

#include "supervisor_internal.hpp"

#include <caf/all.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

extern char** environ;

namespace kin {

std::string to_string(ChildStart::Kind kind) {
  switch (kind) {
    case ChildStart::Kind::none: return "none";
    case ChildStart::Kind::process: return "process";
    case ChildStart::Kind::program: return "program";
    case ChildStart::Kind::process_actor: return "process_actor";
    case ChildStart::Kind::thread_actor: return "thread_actor";
    case ChildStart::Kind::supervisor: return "supervisor";
  }
  return "?";
}

namespace detail {
namespace {

// A kin::Process child: its pidfd is watched on the runtime thread, which tells the
// supervisor; the supervisor then reaps it (Process::exit_status) on its own thread.
class ProcessRun final : public ChildRun {
 public:
  ProcessRun(StartContext& ctx, Process p) : p_(std::move(p)) {
    p_.start();
    pid_ = p_.pid();
    // A copy of the pidfd: the reaper already has the original in the runtime's epoll set,
    // which takes each fd once.
    sentinel_ = unique_fd(::fcntl(p_.sentinel(), F_DUPFD_CLOEXEC, 0));
    if (!sentinel_) throw OSError(errno, "fcntl(F_DUPFD_CLOEXEC)");
    watch_ = Runtime::get().watch_fd(sentinel_.get(), Readiness::read,
                                     [sup = ctx.supervisor, id = ctx.id, gen = ctx.generation] {
                                       caf::anon_send(sup, exited_atom::value, id, gen);
                                     });
  }
  ~ProcessRun() override {
    Runtime::get().unwatch_fd(watch_);
    if (!p_.exit_status()) signal(SIGKILL);
  }
  pid_t pid() const override { return pid_; }
  void signal(int sig) override {
    if (pid_ <= 0) return;  // never kill(0, ...) or kill(-1, ...): our own group, everyone
    ::kill(-pid_, sig);  // the group: the child leads it (a daemon Process)
    ::kill(pid_, sig);   // and the child itself, should it have left the group
  }
  std::optional<ExitStatus> collect() override {
    auto s = p_.exit_status();
    if (!s && p_.join(std::chrono::seconds(5))) s = p_.exit_status();
    return s;
  }

 private:
  Process p_;
  pid_t pid_ = 0;
  unique_fd sentinel_;
  Runtime::Id watch_ = 0;
};

// An exec'd program, tracked by the reaper; its exit callback (runtime thread) tells the
// supervisor.
class ProgramRun final : public ChildRun {
 public:
  explicit ProgramRun(std::shared_ptr<ChildState> c) : c_(std::move(c)) {}
  ~ProgramRun() override {
    // signal_child takes c_->mu itself (holding it here deadlocked a supervisor killed with
    // live program children), does nothing once the child is reaped, and kills the group.
    try {
      signal_child(*c_, SIGKILL);
    } catch (...) {  // pidfd_send_signal failing is no reason to end the program
    }
  }
  pid_t pid() const override { return c_->pid; }
  void signal(int sig) override {
    {
      std::lock_guard lk(c_->mu);
      if (c_->status || c_->pid <= 0) return;
      ::kill(-c_->pid, sig);
    }
    signal_child(*c_, sig);
  }
  std::optional<ExitStatus> collect() override {
    std::lock_guard lk(c_->mu);
    return c_->status;
  }

 private:
  std::shared_ptr<ChildState> c_;
};

class ActorRun final : public ChildRun {
 public:
  ActorRun(caf::actor a, pid_t pid) : a_(std::move(a)), pid_(pid) {}
  ~ActorRun() override { caf::anon_send_exit(a_, caf::exit_reason::kill); }
  pid_t pid() const override { return pid_; }
  caf::actor actor() const override { return a_; }
  void signal(int sig) override {
    caf::anon_send_exit(a_, sig == SIGKILL ? caf::exit_reason::kill : caf::exit_reason::user_shutdown);
  }

 private:
  caf::actor a_;
  pid_t pid_;
};

class SupervisorRun final : public ChildRun {
 public:
  explicit SupervisorRun(caf::actor a) : a_(std::move(a)) {}
  ~SupervisorRun() override { caf::anon_send_exit(a_, caf::exit_reason::kill); }
  caf::actor actor() const override { return a_; }
  void signal(int sig) override {
    caf::anon_send_exit(a_, sig == SIGKILL ? caf::exit_reason::kill : caf::exit_reason::user_shutdown);
  }
  bool reports_ready() const override { return true; }

 private:
  caf::actor a_;
};

bool executable(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// An fd above `floor`, close-on-exec, so the child's dup2 onto a low number never lands on it.
unique_fd above(unique_fd fd, int floor) {
  if (!fd || fd.get() > floor) return fd;
  int n = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, floor + 1);
  if (n < 0) throw OSError(errno, "fcntl(F_DUPFD_CLOEXEC)");
  return unique_fd(n);
}

unique_fd open_output(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw OSError(errno, "open " + path);
  return unique_fd(fd);
}

// ProgramOptions::rotation: the program writes into a pipe; the runtime thread reads it
// (non-blocking, one watch at a time) and appends to `path`, rotating it by size. The pump
// owns itself through its watch callback and ends at EOF, when every holder of the write end
// (the program, its grandchildren) is gone; nothing of it waits for the supervisor. When the
// file cannot be written (ENOSPC, EFBIG, EACCES...), the program goes on and its output is
// dropped — never silently: the supervisor gets an output_lost event when dropping starts and
// another with the count when a write (to the path reopened each time) works again. Past
// RLIMIT_FSIZE the write is EFBIG, not SIGXFSZ: the runtime thread blocks every signal.
class LogPump : public std::enable_shared_from_this<LogPump> {
 public:
  LogPump(unique_fd r, std::string path, LogRotation rot, caf::actor sup, std::string id)
      : r_(std::move(r)), path_(std::move(path)), rot_(rot), sup_(std::move(sup)), id_(std::move(id)) {
    reopen();
  }
  void arm() {
    auto me = shared_from_this();
    Runtime::get().watch_fd(r_.get(), Readiness::read, [me] { me->drain(); });
  }

 private:
  void drain() {
    char buf[65536];
    // At most 1 MiB per turn: a program that writes without pause must not keep the runtime
    // thread, which everything kin watches shares, from its other fds.
    for (int turns = 0;; ++turns) {
      if (turns == 16) return arm();
      auto n = ::read(r_.get(), buf, sizeof buf);
      if (n > 0) {
        write(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return arm();
      r_.reset();  // EOF (or an error): the pump ends with this callback
      out_.reset();
      return;
    }
  }
  void write(const char* p, std::size_t n) {
    while (n > 0) {
      if (size_ > 0 && size_ + n > rot_.max_bytes) rotate();
      if (!out_) reopen();
      if (!out_) return lost(n, errno);
      std::size_t k = std::min<std::uint64_t>(n, rot_.max_bytes > size_ ? rot_.max_bytes - size_ : n);
      auto w = ::write(out_.get(), p, k);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        const int err = w < 0 ? errno : ENOSPC;
        out_.reset();  // the next chunk opens the path again: space freed, the file replaced
        return lost(n, err);
      }
      if (lost_ > 0) {
        report(path_ + ": written again after " + std::to_string(lost_) + " bytes of output were lost");
        lost_ = 0;
      }
      size_ += static_cast<std::uint64_t>(w);
      p += w;
      n -= static_cast<std::size_t>(w);
    }
  }
  void lost(std::size_t n, int err) {
    if (lost_ == 0) report(path_ + ": " + std::strerror(err) + "; the program's output is dropped");
    lost_ += n;
  }
  void report(const std::string& reason) { caf::anon_send(sup_, output_lost_atom::value, id_, reason); }
  void rotate() {
    out_.reset();
    if (rot_.backups <= 0) {
      ::unlink(path_.c_str());
    } else {
      for (int i = rot_.backups - 1; i >= 1; --i)
        ::rename((path_ + "." + std::to_string(i)).c_str(), (path_ + "." + std::to_string(i + 1)).c_str());
      ::rename(path_.c_str(), (path_ + ".1").c_str());
    }
    reopen();
  }
  void reopen() {
    out_ = unique_fd(::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    struct stat st{};
    size_ = out_ && ::fstat(out_.get(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
  }

  unique_fd r_;
  unique_fd out_;
  std::string path_;
  LogRotation rot_;
  caf::actor sup_;
  std::string id_;
  std::uint64_t size_ = 0;
  std::uint64_t lost_ = 0;  // bytes dropped since the last write that worked
};

// The write end for the program; the pump starts reading once the program is forked.
unique_fd rotated_output(const StartContext& ctx, const std::string& path, const LogRotation& rot,
                         std::vector<std::shared_ptr<LogPump>>& pumps) {
  if (rot.max_bytes == 0 || rot.backups < 0) throw ValueError("kin::program: LogRotation needs max_bytes > 0, backups >= 0");
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) throw OSError(errno, "pipe2");
  unique_fd r(p[0]), w(p[1]);
  ::fcntl(r.get(), F_SETFL, ::fcntl(r.get(), F_GETFL) | O_NONBLOCK);
  pumps.push_back(std::make_shared<LogPump>(std::move(r), path, rot, ctx.supervisor, ctx.id));
  return w;
}

}  // namespace

std::string find_program(const std::string& argv0) {
  if (argv0.empty()) return {};
  if (argv0.find('/') != std::string::npos) return executable(argv0) ? argv0 : std::string{};
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    std::size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(start, end - start);
    std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + argv0;
    if (executable(candidate)) return candidate;
    start = end + 1;
  }
  return {};
}

std::unique_ptr<ChildRun> needs_more_arguments(StartContext& ctx) {
  throw ValueError("kin::ChildSpec \"" + ctx.id +
                   "\": the function takes more arguments than given (a simple_one_for_one template gets them from "
                   "start_child(args...))");
}

std::unique_ptr<ChildRun> start_process_run(StartContext& ctx, Process p) {
  return std::make_unique<ProcessRun>(ctx, std::move(p));
}

std::unique_ptr<ChildRun> start_actor_run(StartContext&, caf::actor a, pid_t pid) {
  return std::make_unique<ActorRun>(std::move(a), pid);
}

std::unique_ptr<ChildRun> start_supervisor_run(StartContext& ctx, const SupervisorOptions& options,
                                               const std::vector<ChildSpec>& children) {
  return std::make_unique<SupervisorRun>(
      spawn_supervisor_actor(*ctx.sys, options, children, ctx.supervisor, ctx.id, ctx.generation));
}

std::unique_ptr<ChildRun> start_program_run(StartContext& ctx, const std::vector<std::string>& argv,
                                            const ProgramOptions& options) {
  if (argv.empty()) throw ValueError("kin::program: empty argv");
  const std::string path = find_program(argv[0]);
  if (path.empty()) throw OSError(ENOENT, "kin::program: no executable program " + argv[0]);

  // Everything the child needs is built here: between fork and exec only async-signal-safe
  // calls are allowed.
  std::vector<std::string> env;
  if (options.env) {
    for (const auto& [k, v] : *options.env) env.push_back(k + "=" + v);
  } else {
    for (char** e = environ; e && *e; ++e) env.emplace_back(*e);
  }
  std::erase_if(env, [](const std::string& s) { return s.rfind("NOTIFY_SOCKET=", 0) == 0; });
  if (!ctx.notify_socket.empty()) env.push_back("NOTIFY_SOCKET=" + ctx.notify_socket);
  std::vector<char*> envp;
  for (auto& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> argp;
  for (auto& s : args) argp.push_back(s.data());
  argp.push_back(nullptr);

  const int floor = std::max(2, ctx.ready_fd_number);
  unique_fd out, err;
  if (options.stdout_file) out = above(open_output(*options.stdout_file), floor);
  std::vector<std::shared_ptr<LogPump>> pumps;
  if (options.rotation) {
    out.reset();
    if (options.stdout_file) out = above(rotated_output(ctx, *options.stdout_file, *options.rotation, pumps), floor);
    if (options.stderr_file && !options.stderr_to_stdout)
      err = above(rotated_output(ctx, *options.stderr_file, *options.rotation, pumps), floor);
  }
  if (options.stderr_to_stdout) {
    if (out) err = above(unique_fd(::fcntl(out.get(), F_DUPFD_CLOEXEC, floor + 1)), floor);
  } else if (options.stderr_file && !err) {
    err = above(open_output(*options.stderr_file), floor);
  }
  int ready = -1;
  unique_fd ready_dup;
  if (ctx.ready_fd >= 0) {
    ready_dup = above(unique_fd(::fcntl(ctx.ready_fd, F_DUPFD_CLOEXEC, floor + 1)), floor);
    ready = ready_dup.get();
  }
  int errpipe[2];
  if (::pipe2(errpipe, O_CLOEXEC) != 0) throw OSError(errno, "pipe2");
  unique_fd err_r(errpipe[0]);
  unique_fd err_w = above(unique_fd(errpipe[1]), floor);
  const char* cwd = options.cwd ? options.cwd->c_str() : nullptr;
  const int ready_number = ctx.ready_fd_number;
  const pid_t parent = ::getpid();

  pid_t pid = -1;
  int fork_errno = 0;
  // Forked by the runtime thread, which lives as long as the process: PR_SET_PDEATHSIG
  // follows the forking thread, not the process.
  Runtime::get().run([&] {
    pid = ::fork();
    if (pid < 0) fork_errno = errno;
    if (pid != 0) return;
    // The child: async-signal-safe calls only. A failure reports {step, errno}.
    auto fail = [&](int step, int e) {
      const int report[2] = {step, e};
      [[maybe_unused]] auto r = ::write(err_w.get(), report, sizeof report);
      ::_exit(127);
    };
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the supervisor died before the prctl
    struct sigaction dfl{};
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; ++s)
      if (s != SIGKILL && s != SIGSTOP) ::sigaction(s, &dfl, nullptr);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);  // the runtime thread blocks every signal
    ::syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */);
    if (out && ::dup2(out.get(), 1) < 0) fail(0, errno);
    if (err && ::dup2(err.get(), 2) < 0) fail(0, errno);
    if (!err && options.stderr_to_stdout && ::dup2(1, 2) < 0) fail(0, errno);
    if (ready >= 0 && ::dup2(ready, ready_number) < 0) fail(0, errno);
    if (cwd && ::chdir(cwd) != 0) fail(1, errno);
    ::execve(path.c_str(), argp.data(), envp.data());
    fail(2, errno);
  });
  if (pid < 0) throw OSError(fork_errno, "fork");
  err_w.reset();
  out.reset();
  err.reset();
  ready_dup.reset();
  for (auto& p : pumps) p->arm();

  auto c = std::make_shared<ChildState>();
  c->pid = pid;
  c->pidfd = open_pidfd(pid);
  c->own_group = true;
  c->name = ctx.id;
  ::setpgid(pid, pid);  // also done by the child: whichever runs first wins
  watch_child(c);
  on_child_exit(c, [sup = ctx.supervisor, id = ctx.id, gen = ctx.generation, probe = ctx.probe](const ExitStatus&) {
    if (probe)
      caf::anon_send(sup, probe_done_atom::value, id, gen);
    else
      caf::anon_send(sup, exited_atom::value, id, gen);
  });
  auto run = std::make_unique<ProgramRun>(c);

  // The exec either happens (EOF on the close-on-exec pipe) or fails (its errno).
  pollfd pfd{err_r.get(), POLLIN, 0};
  int report[2] = {0, 0};
  if (::poll(&pfd, 1, 10000) == 1 && ::read(err_r.get(), report, sizeof report) == sizeof report) {
    const int code = report[1];
    if (report[0] == 0) throw OSError(code, "kin::program " + path + ": cannot set up its fds");
    if (report[0] == 1) throw OSError(code, "kin::program " + path + ": cannot enter its cwd " + *options.cwd);
    throw OSError(code, code == ENOENT ? "kin::program: no such program " + path
                                       : "kin::program: cannot run " + path);
  }
  return run;
}

}  // namespace detail

ChildStart program(std::vector<std::string> argv, ProgramOptions options) {
  auto make = [options](std::vector<std::string> av) {
    return ChildStart(
        ChildStart::Kind::program,
        [av, options](detail::StartContext& ctx) { return detail::start_program_run(ctx, av, options); }, nullptr,
        av);
  };
  ChildStart s = make(argv);
  // simple_one_for_one: start_child("a", "b") appends strings to argv.
  detail::Extender ext = [argv, make](std::any& extra) -> ChildStart {
    std::vector<std::string> av = argv;
    if (std::any_cast<std::tuple<>>(&extra)) return make(av);
    if (auto* t = std::any_cast<std::tuple<std::string>>(&extra)) {
      av.push_back(std::get<0>(*t));
      return make(av);
    }
    if (auto* t = std::any_cast<std::tuple<std::string, std::string>>(&extra)) {
      av.push_back(std::get<0>(*t));
      av.push_back(std::get<1>(*t));
      return make(av);
    }
    if (auto* t = std::any_cast<std::tuple<std::string, std::string, std::string>>(&extra)) {
      av.insert(av.end(), {std::get<0>(*t), std::get<1>(*t), std::get<2>(*t)});
      return make(av);
    }
    if (auto* t = std::any_cast<std::tuple<std::vector<std::string>>>(&extra)) {
      av.insert(av.end(), std::get<0>(*t).begin(), std::get<0>(*t).end());
      return make(av);
    }
    throw ValueError("kin::Supervisor::start_child: a program template takes strings (up to 3) or a vector of them");
  };
  return ChildStart(s.kind(), s.starter(), std::move(ext), std::move(argv));
}

bool notify_ready(std::string_view state) {
  const char* name = std::getenv("NOTIFY_SOCKET");
  if (!name || !*name) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::size_t len = std::strlen(name);
  if (len >= sizeof addr.sun_path) throw ValueError("kin::notify_ready: $NOTIFY_SOCKET is too long");
  std::memcpy(addr.sun_path, name, len);
  if (name[0] == '@') addr.sun_path[0] = '\0';  // the abstract namespace
  unique_fd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) throw OSError(errno, "kin::notify_ready: socket");
  auto n = ::sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&addr),
                    static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len));
  if (n < 0) throw OSError(errno, "kin::notify_ready: sendto " + std::string(name));
  return true;
}

}  // namespace kin
