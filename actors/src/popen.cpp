#include <kin/popen.hpp>

#include <kin/runtime/reaper.hpp>
#include <kin/runtime/runtime.hpp>
#include <kin/runtime/syscall.hpp>

#include <fcntl.h>
#include <linux/close_range.h>
#include <sched.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

namespace kin {


namespace {

using namespace std::chrono;

// What the child reports through the CLOEXEC error pipe when it cannot exec.
enum Stage : int { stage_dup = 1, stage_chdir = 2, stage_exec = 3, stage_setsid = 4, stage_setpgid = 5 };
struct ChildError {
  int stage;
  int err;
};

// The kernel's struct sigaction (x86_64 / generic layout), for rt_sigaction from the child: glibc's
// differs (a 1024-bit mask) and its sigaction() is what the sanitizers intercept.
#if !defined(__x86_64__) && !defined(__aarch64__)
#error "popen.cpp declares the kernel's struct sigaction for x86_64 and aarch64 only"
#endif
struct KernelSigaction {
  void (*handler)(int);
  unsigned long flags;
  void (*restorer)();
  std::uint64_t mask;
};

// The child runs only raw system calls: it is created with a raw clone (no atfork handlers) and
// must not touch locks that another parent thread may have held at the clone, including the
// sanitizers' interceptors.
[[noreturn]] void child_exec(int in, int out, int err, bool merge, bool new_session, pid_t pgid,
                             const char* cwd, const std::vector<const char*>& candidates,
                             char* const* argv, char* const* envp, int errfd) {
  auto fail = [&](int stage, int e) {
    ChildError ce{stage, e};
    ::syscall(SYS_write, errfd, &ce, sizeof ce);
    ::syscall(SYS_exit_group, 127);
    __builtin_unreachable();
  };
  std::uint64_t empty = 0;
  ::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &empty, nullptr, sizeof empty);
  // An ignored SIGPIPE/SIGXFSZ would be inherited across exec; programs expect the default.
  KernelSigaction dfl{SIG_DFL, 0, nullptr, 0};
  ::syscall(SYS_rt_sigaction, SIGPIPE, &dfl, nullptr, sizeof(std::uint64_t));
  ::syscall(SYS_rt_sigaction, SIGXFSZ, &dfl, nullptr, sizeof(std::uint64_t));
  if (in >= 0 && ::syscall(SYS_dup3, in, 0, 0) < 0) fail(stage_dup, errno);
  if (out >= 0 && ::syscall(SYS_dup3, out, 1, 0) < 0) fail(stage_dup, errno);
  if (merge) {
    if (::syscall(SYS_dup3, 1, 2, 0) < 0) fail(stage_dup, errno);
  } else if (err >= 0 && ::syscall(SYS_dup3, err, 2, 0) < 0) {
    fail(stage_dup, errno);
  }
  // Python's order: the session first, then the group (setpgid in a new session's leader is
  // EPERM there too). Both happen before the parent's constructor returns (it waits for the
  // exec), so a group signal right after the start already reaches the child.
  if (new_session && ::syscall(SYS_setsid) < 0) fail(stage_setsid, errno);
  if (pgid >= 0 && ::syscall(SYS_setpgid, 0, pgid) < 0) fail(stage_setpgid, errno);
  // Everything above stdio closes at exec (including the error pipe on success).
  ::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
  if (cwd != nullptr && ::syscall(SYS_chdir, cwd) < 0) fail(stage_chdir, errno);
  int first_err = ENOENT;
  bool have_err = false;
  for (const char* path : candidates) {
    ::syscall(SYS_execve, path, argv, envp);
    int e = errno;
    // Like execvp: keep looking after ENOENT/ENOTDIR, remember a more telling error.
    if (e != ENOENT && e != ENOTDIR && !have_err) {
      first_err = e;
      have_err = true;
    }
  }
  fail(stage_exec, first_err);
  __builtin_unreachable();
}

void lift_above_stdio(unique_fd& fd) {
  if (fd && fd.get() < 3) fd.reset(detail::check(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 3), "fcntl(F_DUPFD_CLOEXEC)"));
}

// The paths execvp would try for `prog`: itself if it holds a '/', else each PATH entry (the
// child's PATH when an environment is given), an empty entry meaning ".".
std::vector<std::string> program_candidates(const std::string& prog, const PopenOptions& options) {
  if (prog.find('/') != std::string::npos) return {prog};
  std::string path = "/bin:/usr/bin";
  if (options.env) {
    if (auto it = options.env->find("PATH"); it != options.env->end()) path = it->second;
  } else if (const char* p = std::getenv("PATH")) {
    path = p;
  }
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    auto end = path.find(':', start);
    std::string dir = path.substr(start, end == std::string::npos ? std::string::npos : end - start);
    // Appended, not `dir = "."` nor `dir + "/" + prog`: GCC 12 reports a false -Wrestrict
    // for those at -O3.
    if (dir.empty()) dir.push_back('.');
    dir += '/';
    dir += prog;
    out.push_back(std::move(dir));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

// What execve needs, as C arrays, built before the clone: the child must not allocate. It
// points into `args` and into its own strings, so it is neither copied nor moved.
struct ExecPlan {
  std::vector<char*> argv;
  std::vector<std::string> env_strings;
  std::vector<char*> envp;
  char* const* env = environ;
  std::vector<std::string> candidate_strings;
  std::vector<const char*> candidates;

  ExecPlan(std::vector<std::string>& args, const PopenOptions& options)
      : candidate_strings(program_candidates(args[0], options)) {
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (options.env) {
      for (const auto& [k, v] : *options.env) env_strings.push_back(k + "=" + v);
      for (auto& s : env_strings) envp.push_back(s.data());
      envp.push_back(nullptr);
      env = envp.data();
    }
    for (auto& c : candidate_strings) candidates.push_back(c.c_str());
  }
  ExecPlan(const ExecPlan&) = delete;
  ExecPlan& operator=(const ExecPlan&) = delete;
};

// Reads the error pipe until the exec closes it (nullopt: the program runs) or the child
// reports the stage that failed.
std::optional<ChildError> read_child_error(int fd) {
  ChildError ce{};
  std::size_t got = 0;
  while (got < sizeof ce) {
    auto n = detail::retry_eintr([&] { return ::read(fd, reinterpret_cast<char*>(&ce) + got, sizeof ce - got); });
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got == 0) return std::nullopt;
  if (got != sizeof ce) throw ProcessError("kin::Popen: the child failed before exec");
  return ce;
}

[[noreturn]] void throw_child_error(const ChildError& ce, const PopenOptions& options, const std::string& prog) {
  switch (ce.stage) {
    case stage_chdir: throw OSError(ce.err, "chdir(" + *options.cwd + ")");
    case stage_dup: throw OSError(ce.err, "dup3 (child stdio)");
    case stage_setsid: throw OSError(ce.err, "setsid()");
    case stage_setpgid: throw OSError(ce.err, "setpgid(0, " + std::to_string(*options.process_group) + ")");
    default: throw OSError(ce.err, "execve(" + prog + ")");
  }
}

}  // namespace

namespace detail {

// Popen's setup steps, each of which reads a Redirect's private fields (a friend of Redirect).
struct PopenSetup {
  static bool has_nul(const std::string& s) { return s.find('\0') != std::string::npos; }

  // Python's argument checks, all before anything is opened or started.
  static void check_arguments(const std::vector<std::string>& args, const PopenOptions& options) {
    if (args.empty()) throw ValueError("kin::Popen: args must not be empty");
    // exec takes C strings, which end at the first NUL: refuse what would be cut (as Python).
    for (const auto& a : args)
      if (has_nul(a)) throw ValueError("kin::Popen: embedded null byte in an argument");
    if (options.cwd && has_nul(*options.cwd)) throw ValueError("kin::Popen: embedded null byte in cwd");
    if (options.env) {
      for (const auto& [k, v] : *options.env) {
        if (has_nul(k) || has_nul(v)) throw ValueError("kin::Popen: embedded null byte in the environment");
        if (k.find('=') != std::string::npos) throw ValueError("kin::Popen: illegal environment variable name '" + k + "'");
      }
    }
    if (options.stdin_ == Stdio::stdout_ || options.stdout_ == Stdio::stdout_)
      throw ValueError("kin::Popen: kin::stdout_ is only valid for stderr_");
    for (const Redirect* r : {&options.stdin_, &options.stdout_, &options.stderr_}) {
      if (r->kind_ == Redirect::Kind::fd && r->fd_ < 0) throw ValueError("kin::Popen: kin::Fd needs an open fd (>= 0)");
      if (r->kind_ == Redirect::Kind::file && has_nul(r->file_.path)) throw ValueError("kin::Popen: embedded null byte in a file name");
      if (r->kind_ == Redirect::Kind::owned && !(r->owned_ && *r->owned_))
        throw ValueError("kin::Popen: the handed-over pipe end is closed (a child has started with it already)");
    }
    if (options.process_group && *options.process_group < 0)
      throw ValueError("kin::Popen: process_group must be 0 (a new group) or a group id");
  }

  // The child's ends of its three streams, all above fd 2 so the child's dup3 onto 0-2 never
  // clobbers one it still needs; an invalid end means "inherit". A pipe's other end goes to the
  // Popen's stdin_/stdout_/stderr_.
  struct ChildStdio {
    unique_fd in, out, err;

    ChildStdio(const PopenOptions& options, unique_fd& parent_in, unique_fd& parent_out, unique_fd& parent_err) {
      in = child_end(options.stdin_, true, parent_in);
      out = child_end(options.stdout_, false, parent_out);
      err = child_end(options.stderr_, false, parent_err);
      lift_above_stdio(in);
      lift_above_stdio(out);
      lift_above_stdio(err);
    }

   private:
    unique_fd null_fd_;

    static unique_fd dup_of(int fd) {
      return unique_fd{detail::check(::fcntl(fd, F_DUPFD_CLOEXEC, 3), "fcntl(F_DUPFD_CLOEXEC)")};
    }

    unique_fd child_end(const Redirect& r, bool input, unique_fd& parent) {
      switch (r.kind_) {
        case Redirect::Kind::fd: return dup_of(r.fd_);
        case Redirect::Kind::owned: return dup_of(r.owned_->get());
        case Redirect::Kind::file: {
          int flags = input ? O_RDONLY : O_WRONLY | O_CREAT | (r.file_.append ? O_APPEND : O_TRUNC);
          int fd = ::open(r.file_.path.c_str(), flags | O_CLOEXEC, 0666);
          if (fd < 0) throw OSError(errno, "open(" + r.file_.path + ")");
          return unique_fd{fd};
        }
        case Redirect::Kind::stdio: break;
      }
      if (r.stdio_ == Stdio::devnull) {
        if (!null_fd_) null_fd_ = unique_fd{detail::check(::open("/dev/null", O_RDWR | O_CLOEXEC), "open(/dev/null)")};
        return dup_of(null_fd_.get());
      }
      if (r.stdio_ != Stdio::pipe) return {};
      auto p = detail::make_pipe();
      parent = std::move(input ? p.write : p.read);
      return std::move(input ? p.read : p.write);
    }
  };
};

}  // namespace detail

Redirect::Redirect(unique_fd fd) : kind_(Kind::owned), owned_(std::make_shared<unique_fd>(std::move(fd))) {}

Popen::Popen(std::vector<std::string> args, PopenOptions options)
    : args_(std::move(args)), state_(std::make_shared<detail::ChildState>()) {
  detail::PopenSetup::check_arguments(args_, options);
  detail::Runtime::get().ensure_started();  // it will reap the child: it must exist first
  ExecPlan plan{args_, options};
  detail::PopenSetup::ChildStdio child{options, stdin_, stdout_, stderr_};
  auto errpipe = detail::make_pipe();
  lift_above_stdio(errpipe.write);
  const char* cwd = options.cwd ? options.cwd->c_str() : nullptr;

  // clone (not clone3, which container seccomp profiles often refuse) with CLONE_PIDFD: a
  // fork that hands back a pidfd atomically and runs no atfork handlers. The pidfd is stored
  // through the parent_tid argument; child_tid and tls are unused (their order differs between
  // architectures, both are 0).
  int pidfd = -1;
  long rc = ::syscall(SYS_clone, static_cast<unsigned long>(CLONE_PIDFD | SIGCHLD), nullptr, &pidfd,
                      nullptr, nullptr);
  if (rc == 0)
    child_exec(child.in.get(), child.out.get(), child.err.get(), options.stderr_ == Stdio::stdout_,
               options.start_new_session, options.process_group.value_or(-1), cwd, plan.candidates,
               plan.argv.data(), plan.env, errpipe.write.get());
  if (rc < 0) detail::throw_errno("clone(CLONE_PIDFD)");
  pid_ = static_cast<pid_t>(rc);
  state_->pid = pid_;
  state_->pidfd.reset(pidfd);
  state_->name = args_[0];

  errpipe.write.reset();
  child.in.reset();
  child.out.reset();
  child.err.reset();
  std::optional<ChildError> failed;
  try {
    failed = read_child_error(errpipe.read.get());
  } catch (...) {
    detail::wait_child(*state_, detail::Deadline::never());
    throw;
  }
  if (!failed) {  // the exec closed the error pipe: the program runs
    detail::watch_child(state_);
    leads_group_ = options.start_new_session || options.process_group == 0;
    // A handed-over pipe end now lives in the child only: EOF and SIGPIPE work along the
    // pipeline (every copy of the options shares it).
    for (Redirect* r : {&options.stdin_, &options.stdout_, &options.stderr_})
      if (r->kind_ == Redirect::Kind::owned) r->owned_->reset();
    return;
  }
  detail::wait_child(*state_, detail::Deadline::never());  // it has exited with 127: reap it first
  stdin_.reset();
  stdout_.reset();
  stderr_.reset();
  throw_child_error(*failed, options, args_[0]);
}

Popen::Popen(Popen&&) noexcept = default;

Popen& Popen::operator=(Popen&&) noexcept = default;

std::optional<int> Popen::returncode() const noexcept {
  if (!state_) return std::nullopt;
  std::lock_guard g{state_->mu};
  return state_->exitcode;
}

std::optional<ExitStatus> Popen::exit_status() const noexcept {
  if (!state_) return std::nullopt;
  std::lock_guard g{state_->mu};
  return state_->status;
}

// The runtime's reaper holds the child state and reaps the child when it ends.
Popen::~Popen() = default;

void Popen::check_moved() const {
  if (!state_) throw ValueError("kin::Popen: moved-from Popen");
}

std::optional<int> Popen::poll() {
  check_moved();
  detail::try_reap(*state_);
  return returncode();
}

int Popen::wait() { return wait_for(std::nullopt); }

int Popen::wait_for(std::optional<nanoseconds> timeout) {
  check_moved();
  if (!detail::wait_child(*state_, detail::Deadline::from(timeout))) throw TimeoutExpired(args_, *timeout);
  return *returncode();
}

void Popen::send_signal(int sig) {
  if (!state_) return;
  // After the exit (zombie) the signal is discarded; after the reap it is not sent at all.
  detail::signal_child(*state_, sig);
}

void Popen::send_signal_to_group(int sig) {
  check_moved();
  if (!leads_group_)
    throw ValueError("kin::Popen::send_signal_to_group: the child leads no process group (start_new_session, process_group = 0)");
  // pid_ > 0 always holds here; the check keeps kill(0)/kill(-1) (our own group, everyone)
  // out of reach. Under the state's mutex the child cannot be reaped meanwhile.
  if (pid_ <= 0) return;
  std::lock_guard g{state_->mu};
  if (::kill(-pid_, sig) < 0 && errno != ESRCH) detail::throw_errno("killpg");
}

Redirect Popen::stdout_stream() {
  if (!stdout_) throw ValueError("kin::Popen::stdout_stream: stdout_ is not a pipe (or was handed over)");
  return Redirect{std::move(stdout_)};
}

Redirect Popen::stderr_stream() {
  if (!stderr_) throw ValueError("kin::Popen::stderr_stream: stderr_ is not a pipe (or was handed over)");
  return Redirect{std::move(stderr_)};
}

Redirect Popen::stdin_stream() {
  if (!stdin_) throw ValueError("kin::Popen::stdin_stream: stdin_ is not a pipe (or was handed over)");
  return Redirect{std::move(stdin_)};
}

void Popen::terminate() { send_signal(SIGTERM); }
void Popen::kill() { send_signal(SIGKILL); }

CommunicateResult Popen::communicate(const std::string& input) { return communicate_for(input, std::nullopt); }

CommunicateResult Popen::communicate_for(const std::string& input, std::optional<nanoseconds> timeout) {
  const auto deadline = detail::Deadline::from(timeout);
  if (!communicating_) {
    if (!input.empty() && !stdin_) throw ValueError("kin::Popen::communicate: input given but stdin_ is not kin::pipe");
    communicating_ = true;
    input_ = input;
    input_off_ = 0;
    if (input_.empty()) stdin_.reset();
  } else if (!input.empty()) {
    throw ValueError("kin::Popen::communicate: cannot send input after starting communication");
  }
  for (auto* fd : {&stdin_, &stdout_, &stderr_})
    if (*fd) detail::set_nonblocking(fd->get(), true);

  char buf[65536];
  while (stdin_ || stdout_ || stderr_) {
    pollfd fds[3];
    unique_fd* owners[3];
    nfds_t n = 0;
    if (stdin_) {
      fds[n] = {stdin_.get(), POLLOUT, 0};
      owners[n++] = &stdin_;
    }
    if (stdout_) {
      fds[n] = {stdout_.get(), POLLIN, 0};
      owners[n++] = &stdout_;
    }
    if (stderr_) {
      fds[n] = {stderr_.get(), POLLIN, 0};
      owners[n++] = &stderr_;
    }
    // What was read so far travels with the error and stays here for the next call (Python).
    if (deadline.expired()) throw TimeoutExpired(args_, *timeout, out_, err_);
    int rc = ::poll(fds, n, deadline.poll_ms());
    if (rc < 0) {
      if (errno == EINTR) continue;
      detail::throw_errno("poll");
    }
    for (nfds_t i = 0; i < n; ++i) {
      if (!fds[i].revents) continue;
      unique_fd& fd = *owners[i];
      if (&fd == &stdin_) {
        std::size_t chunk = std::min(input_.size() - input_off_, sizeof buf);
        // The one SIGPIPE-safe writer: a child that stopped reading is EPIPE, never our death.
        auto w = detail::write_some(fd.get(), input_.data() + input_off_, chunk);
        if (w > 0) {
          input_off_ += static_cast<std::size_t>(w);
          if (input_off_ == input_.size()) fd.reset();
        } else if (w < 0 && errno == EPIPE) {
          fd.reset();  // the child stopped reading: like Python, not an error
        } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
          detail::throw_errno("write(child stdin)");
        }
      } else {
        auto r = ::read(fd.get(), buf, sizeof buf);
        if (r > 0) {
          (&fd == &stdout_ ? out_ : err_).append(buf, static_cast<std::size_t>(r));
        } else if (r == 0) {
          fd.reset();
        } else if (errno != EAGAIN && errno != EINTR) {
          detail::throw_errno("read(child output)");
        }
      }
    }
  }
  if (!detail::wait_child(*state_, deadline)) throw TimeoutExpired(args_, *timeout, out_, err_);
  communicating_ = false;
  return {std::move(out_), std::move(err_)};
}

}  // namespace kin
