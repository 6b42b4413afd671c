#include <kin/process.hpp>

#include "process_globals.hpp"

#include <kin/runtime/reaper.hpp>
#include <kin/runtime/syscall.hpp>

#include <cxxabi.h>
#include <dirent.h>
#include <signal.h>
#include <sys/prctl.h>
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

std::string current_exception_type() {
  auto* t = abi::__cxa_current_exception_type();
  if (t == nullptr) return "unknown exception";
  int status = 0;
  char* demangled = abi::__cxa_demangle(t->name(), nullptr, nullptr, &status);
  std::string name = status == 0 && demangled != nullptr ? demangled : t->name();
  std::free(demangled);
  return name;
}

void become_child(ProcessInfo self, ProcessInfo parent, pid_t os_parent) {
  auto& g = process_globals();
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

void leave_child(int code) {
  try {
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

Process::Process(ProcessOptions options) : options_(std::move(options)) {
  int n = ++g_counter;
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
  if (start_method() != StartMethod::fork) return start_spawn();
  warn_if_threaded_fork();
  detail::flush_std_streams();  // or buffered output would be written twice

  auto st = std::make_shared<detail::ChildState>();
  st->name = options_.name;
  st->daemon = options_.daemon;
  const std::string parent_name = detail::process_globals().current.name;
  const pid_t parent_pid = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) detail::throw_errno("fork");
  if (pid == 0) child_main(parent_name, parent_pid);
  if (options_.daemon) {
    ::setpgid(pid, pid);  // also done by the child: whichever runs first wins the race
    st->own_group = true;
  }
  st->pid = pid;
  st->pidfd = detail::open_pidfd(pid);
  detail::track_child(st);
  state_ = std::move(st);
}

void Process::child_main(const std::string& parent_name, pid_t parent_pid) {
  detail::forget_children_after_fork();
  detail::become_child(ProcessInfo{options_.name, ::getpid(), options_.daemon},
                       ProcessInfo{parent_name, parent_pid, false}, parent_pid);
  int code = detail::run_child_body(options_.name, [this] {
    run();
    return target_result_;
  });
  detail::leave_child(code);
}

void Process::join() {
  check_started("join");
  detail::wait_child(*state_, std::nullopt);
  detail::reap_finished();
}

bool Process::join_for(std::chrono::milliseconds timeout) {
  check_started("join");
  bool done = detail::wait_child(*state_, std::max(timeout, std::chrono::milliseconds{0}));
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
