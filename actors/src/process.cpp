#include <kin/process.hpp>

#include "process_globals.hpp"

#include <kin/thread.hpp>

#include <kin/runtime/reaper.hpp>
#include <kin/runtime/runtime.hpp>
#include <kin/runtime/syscall.hpp>

#include <cxxabi.h>
#include <dirent.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>

namespace kin {

namespace {

std::atomic<int> g_counter{0};
std::atomic<StartMethod> g_start_method{StartMethod::fork};

int count_threads() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/task")) {
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') ++n;
    ::closedir(d);
  }
  return n;
}

// Python 3.12 warns once when a multi-threaded process forks; so does kin.
void warn_if_threaded_fork() {
  static std::atomic<pid_t> warned_in{0};
  const pid_t me = ::getpid();
  if (warned_in.load() == me) return;
  int threads = count_threads();
  // kin's own runtime thread blocks every signal and holds no lock a child could need: the
  // fork handler gives the child a fresh runtime. It does not count.
  if (detail::Runtime::get().started()) --threads;
  if (threads <= 1) return;
  warned_in = me;
  std::fprintf(stderr,
               "kin: warning: this process (pid=%d) is multi-threaded (%d threads); use of fork() "
               "may lead to deadlocks in the child. Use kin::StartMethod::forkserver or spawn.\n",
               static_cast<int>(me), threads);
}

}  // namespace

namespace detail {

void ensure_exit_hook() {
  static std::atomic<pid_t> hooked_in{0};
  const pid_t me = ::getpid();
  if (hooked_in.exchange(me) == me) return;
  std::atexit([] {
    if (detail::process_globals().in_kin_child) return;  // children finish in child_main
    detail::finish_children();
  });
}

std::string demangle(const char* mangled) {
  int status = 0;
  char* demangled = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string name = status == 0 && demangled != nullptr ? demangled : mangled;
  std::free(demangled);
  return name;
}

std::string current_exception_type() {
  auto* t = abi::__cxa_current_exception_type();
  return t == nullptr ? "unknown exception" : demangle(t->name());
}

void become_child(ProcessInfo self, ProcessInfo parent, pid_t os_parent, StartMethod method) {
  auto& g = process_globals();
  // A child starts its own children the way it was started (spawn children spawn).
  g_start_method = method;
  g.parent = std::move(parent);
  g.current = std::move(self);
  g.in_kin_child = true;
  if (g.current.daemon) {
    ::setpgid(0, 0);
    // Die with the parent. The parent may already be gone: then we were re-parented.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != os_parent) ::_exit(1);
  }
}

int run_child_body(const std::string& name, const std::function<int()>& body) {
  try {
    return body();
  } catch (const ExitRequest& e) {
    return e.code;
  } catch (const std::exception& e) {
    flush_std_streams();
    std::fprintf(stderr, "Process %s:\n%s: %s\n", name.c_str(), current_exception_type().c_str(), e.what());
  } catch (...) {
    flush_std_streams();
    std::fprintf(stderr, "Process %s:\n%s\n", name.c_str(), current_exception_type().c_str());
  }
  return 1;
}

int next_process_number() { return ++g_counter; }

void leave_child(int code) {
  try {
    join_non_daemon_threads();  // Python's threading._shutdown (kin/thread.hpp)
    finish_children();
  } catch (...) {
  }
  flush_std_streams();
  // Never through the parent's static destructors, atexit handlers or CAF system (G8, G11).
  ::_exit(code & 0xff);
}

}  // namespace detail

void set_start_method(StartMethod m) { g_start_method = m; }
StartMethod get_start_method() { return g_start_method; }
const char* to_string(StartMethod m) noexcept {
  switch (m) {
    case StartMethod::fork: return "fork";
    case StartMethod::forkserver: return "forkserver";
    case StartMethod::spawn: return "spawn";
  }
  return "?";
}

Process::Process(ProcessOptions options)
    : options_(std::move(options)), authkey_(detail::current_authkey()) {
  const int n = detail::next_process_number();
  if (options_.name.empty()) options_.name = "Process-" + std::to_string(n);
}

Process::Process(Process&&) noexcept = default;
Process& Process::operator=(Process&&) noexcept = default;
Process::~Process() { detail::reap_finished(); }

void Process::run() {
  if (target_) target_result_ = target_();
}

StartMethod Process::start_method() const { return options_.start_method.value_or(get_start_method()); }

void Process::check_open() const {
  if (closed_) throw ValueError("kin::Process: process object is closed");
}

void Process::check_started(const char* what) const {
  check_open();
  if (!state_) throw ValueError(std::string("kin::Process::") + what + ": the process has not been started");
}

void Process::start() {
  check_open();
  if (state_) throw ValueError("kin::Process::start: a process can only be started once");
  detail::reap_finished();
  detail::ensure_exit_hook();
  struct Drop {  // started: the child owns the target and arguments now (bpo-30775)
    Process* p;
    ~Drop() { if (p->state_) p->drop_target(); }
  } drop{this};
  if (start_method() != StartMethod::fork) return start_spawn();
  warn_if_threaded_fork();
  // A daemon dies with the program (PR_SET_PDEATHSIG in the child), and that signal follows
  // the thread that forked it: fork daemons from the runtime thread, which lives as long as
  // the program, so a daemon started by a thread that then ends lives on.
  sigset_t mask;  // the child gets the starting thread's signal mask, wherever it is forked
  pthread_sigmask(SIG_SETMASK, nullptr, &mask);
  if (options_.daemon && !detail::Runtime::get().on_runtime_thread())
    detail::Runtime::get().run([&] { start_fork(mask); });
  else
    start_fork(mask);
}

void Process::start_fork(const sigset_t& mask) {
  detail::flush_std_streams();  // or buffered output would be written twice
  auto st = std::make_shared<detail::ChildState>();
  st->name = options_.name;
  st->daemon = options_.daemon;
  const std::string parent_name = detail::process_globals().current.name;
  const pid_t parent_pid = ::getpid();
  detail::Runtime::get().ensure_started();  // it will reap the child: it must exist first
  // The child waits for a go-ahead on this socketpair (send() with MSG_NOSIGNAL: a child
  // killed meanwhile costs no SIGPIPE), sent once the parent holds everything it
  // needs to track it (its pidfd): a start either succeeds completely or nothing runs. Made
  // before the fork, so running out of fds fails here, with no child at all.
  auto go = detail::make_socketpair();
  pid_t pid = ::fork();
  if (pid < 0) detail::throw_errno("fork");
  if (pid == 0) {
    go.a.reset();
    char byte = 0;
    auto n = detail::retry_eintr([&] { return ::read(go.b.get(), &byte, 1); });
    if (n != 1) ::_exit(1);  // the parent gave up on this start
    go.b.reset();
    pthread_sigmask(SIG_SETMASK, &mask, nullptr);
    child_main(parent_name, parent_pid);
  }
  go.b.reset();
  try {
    st->pidfd = detail::open_pidfd(pid);
  } catch (...) {
    // Not yet reaped, so the pid is still this child's: kill and reap it before reporting.
    ::kill(pid, SIGKILL);
    detail::retry_eintr([&] { return ::waitpid(pid, nullptr, 0); });
    throw;
  }
  if (options_.daemon) {
    ::setpgid(pid, pid);  // also done by the child: whichever runs first wins the race
    st->own_group = true;
  }
  st->pid = pid;
  detail::track_child(st);
  state_ = std::move(st);
  const char byte = 'g';
  [[maybe_unused]] auto n = detail::retry_eintr([&] { return ::send(go.a.get(), &byte, 1, MSG_NOSIGNAL); });
}

void Process::child_main(const std::string& parent_name, pid_t parent_pid) {
  detail::forget_children_after_fork();
  detail::become_child(ProcessInfo{options_.name, ::getpid(), options_.daemon, authkey_},
                       ProcessInfo{parent_name, parent_pid, false, {}}, parent_pid, StartMethod::fork);
  int code = detail::run_child_body(options_.name, [this] {
    run();
    return target_result_;
  });
  detail::leave_child(code);
}

void Process::join() {
  check_started("join");
  detail::wait_child(*state_, detail::Deadline::never());
  detail::reap_finished();
}

bool Process::join_for(std::chrono::milliseconds timeout) {
  check_started("join");
  bool done = detail::wait_child(*state_, detail::Deadline::after(timeout));
  detail::reap_finished();
  return done;
}

bool Process::is_alive() {
  check_open();
  if (!state_) return false;
  detail::reap_finished();
  return !detail::try_reap(*state_);
}

pid_t Process::pid() const {
  check_open();
  return state_ ? state_->pid : 0;
}

void Process::set_name(std::string name) {
  check_open();
  options_.name = std::move(name);
}

void Process::set_authkey(std::string authkey) {
  check_open();
  authkey_ = std::move(authkey);
}

void Process::set_daemon(bool daemon) {
  check_open();
  if (state_) throw ValueError("kin::Process::set_daemon: the process has already started");
  options_.daemon = daemon;
}

std::optional<int> Process::exitcode() {
  check_open();
  if (!state_) return std::nullopt;
  detail::reap_finished();
  if (!detail::try_reap(*state_)) return std::nullopt;
  std::lock_guard g{state_->mu};
  return state_->exitcode;
}

std::optional<ExitStatus> Process::exit_status() {
  check_open();
  if (!state_) return std::nullopt;
  if (!detail::try_reap(*state_)) return std::nullopt;
  std::lock_guard g{state_->mu};
  return state_->status;
}

void Process::terminate() {
  check_started("terminate");
  detail::signal_child(*state_, SIGTERM);
}

void Process::kill() {
  check_started("kill");
  detail::signal_child(*state_, SIGKILL);
}

void Process::close() {
  if (closed_) return;
  if (state_ && !detail::try_reap(*state_))
    throw ValueError("kin::Process::close: cannot close a process while it is still running; "
                     "call join() or terminate() first");
  state_.reset();
  target_ = nullptr;
  closed_ = true;
}

int Process::sentinel() const {
  check_started("sentinel");
  return state_->pidfd.get();
}

}  // namespace kin
