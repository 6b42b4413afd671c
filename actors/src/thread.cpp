#include <kin/thread.hpp>
#include <kin/runtime/runtime.hpp>

#include "process_globals.hpp"

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <typeinfo>

namespace kin {
namespace detail {

struct ThreadState {
  std::mutex m;
  std::condition_variable cv;
  std::string name;
  bool daemon = false;
  bool kin_thread = false;  // started by kin::Thread (joinable through a handle)
  bool started = false;
  bool running = false;
  bool finished = false;
  std::uint64_t ident = 0;
  pid_t native_id = 0;
  std::unique_ptr<ThreadTarget> target;
  Thread* self = nullptr;  // set when the body is an overridden run()
};

}  // namespace detail

namespace {

using detail::ThreadState;
using StatePtr = std::shared_ptr<ThreadState>;

pid_t gettid_() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

StatePtr make_running_state(std::string name, bool daemon) {
  auto st = std::make_shared<ThreadState>();
  st->name = std::move(name);
  st->daemon = daemon;
  st->started = st->running = true;
  st->ident = static_cast<std::uint64_t>(::pthread_self());
  st->native_id = gettid_();
  return st;
}

// Never destroyed: threads still finishing (and the exit handler) may use it while static
// destructors run.
struct Registry {
  std::mutex m;
  std::vector<StatePtr> live;  // started, not finished kin::Threads
  StatePtr main;
  pid_t owner_pid = ::getpid();
  int atexit_registrations = 0;
  std::atomic<int> counter{0};
  std::atomic<int> dummy_counter{0};
};

thread_local StatePtr tls_current;

void fork_prepare();
void fork_parent();
void fork_child();

Registry& registry() {
  static Registry* r = [] {
    auto* reg = new Registry;
    reg->main = make_running_state("MainThread", false);
    detail::at_fork(fork_prepare, fork_parent, fork_child);  // kin's one fork handler
    return reg;
  }();
  return *r;
}

// Created during static initialisation, i.e. on the main thread, so MainThread gets the
// right ident even when the first kin call comes from another thread.
[[maybe_unused]] const bool registry_ready = (registry(), true);

void fork_prepare() { registry().m.lock(); }
void fork_parent() { registry().m.unlock(); }
// Makes the calling thread the main thread of a new process and forgets the threads of the
// process it was forked from. Called with reg.m held (or in a single-threaded child).
void adopt_after_fork(Registry& reg) {
  for (auto& st : reg.live) st->finished = true;  // single-threaded now: no lock needed
  reg.live.clear();
  std::string name = tls_current ? tls_current->name : reg.main->name;
  reg.main = make_running_state(name, false);
  reg.owner_pid = ::getpid();
  tls_current = reg.main;
}

void fork_child() {
  // Only the forking thread exists in the child: it becomes the main thread (as in Python);
  // the parent's other threads are gone and must not be joined at the child's exit.
  auto& reg = registry();
  adopt_after_fork(reg);
  reg.m.unlock();
}

// A child made without fork() (clone, vfork) ran no atfork handler: notice it on first use.
void check_forked_locked(Registry& reg) {
  if (reg.owner_pid != ::getpid()) adopt_after_fork(reg);
}

StatePtr current_state() {
  if (tls_current) return tls_current;
  auto& reg = registry();
  if (gettid_() == ::getpid()) {
    std::lock_guard lk{reg.m};
    check_forked_locked(reg);
    return reg.main;
  }
  tls_current = make_running_state("Dummy-" + std::to_string(++reg.dummy_counter), true);
  return tls_current;
}

void print_uncaught(const std::string& thread_name) {
  std::string type;
  std::string msg;
  try {
    throw;
  } catch (const std::exception& e) {
    type = detail::demangle(typeid(e).name());
    msg = e.what();
  } catch (...) {
    type = detail::current_exception_type();
  }
  // One write so lines of concurrent failures do not interleave.
  std::string text = "Exception in thread " + thread_name + ":\n" + type + ": " + msg + "\n";
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

void join_non_daemons_at_exit() { detail::join_non_daemon_threads(); }

void trampoline(StatePtr st) {
  tls_current = st;
  std::string os_name;
  {
    std::lock_guard lk{st->m};
    st->ident = static_cast<std::uint64_t>(::pthread_self());
    st->native_id = gettid_();
    st->running = true;
    os_name = st->name.substr(0, 15);
  }
  st->cv.notify_all();
  ::pthread_setname_np(::pthread_self(), os_name.c_str());
  auto current_name = [&] {
    std::lock_guard lk{st->m};  // set_name may run concurrently
    return st->name;
  };
  try {
    if (st->self != nullptr)
      st->self->run();
    else if (st->target)
      (*st->target)();
  } catch (...) {
    print_uncaught(current_name());
  }
  try {
    st->target.reset();  // the callable's captures die on this thread, as in Python
  } catch (...) {
    print_uncaught(current_name());
  }
  auto& reg = registry();
  {
    std::lock_guard lk{reg.m};
    std::erase(reg.live, st);
  }
  {
    std::lock_guard lk{st->m};
    st->finished = true;
  }
  st->cv.notify_all();
}

bool wait_finished(ThreadState& st, std::optional<std::chrono::nanoseconds> timeout) {
  std::unique_lock lk{st.m};
  if (!timeout) {
    st.cv.wait(lk, [&] { return st.finished; });
    return true;
  }
  return st.cv.wait_for(lk, *timeout, [&] { return st.finished; });
}

void check_joinable(const StatePtr& st) {
  if (!st->kin_thread) throw ValueError("kin::Thread::join: cannot join a thread kin did not start");
  if (st == tls_current) throw ValueError("kin::Thread::join: cannot join current thread");
  std::lock_guard lk{st->m};
  if (!st->started) throw ValueError("kin::Thread::join: cannot join thread before it is started");
}

}  // namespace

namespace detail {

void name_current_thread(std::string name) { tls_current = make_running_state(std::move(name), true); }

int next_thread_number() { return ++registry().counter; }

}  // namespace detail

// ---- ThreadHandle ----

std::string ThreadHandle::name() const {
  std::lock_guard lk{state_->m};
  return state_->name;
}
std::optional<std::uint64_t> ThreadHandle::ident() const {
  std::lock_guard lk{state_->m};
  if (!state_->running && !state_->finished) return std::nullopt;
  return state_->ident;
}
std::optional<pid_t> ThreadHandle::native_id() const {
  std::lock_guard lk{state_->m};
  if (!state_->running && !state_->finished) return std::nullopt;
  return state_->native_id;
}
bool ThreadHandle::daemon() const {
  std::lock_guard lk{state_->m};
  return state_->daemon;
}
bool ThreadHandle::is_alive() const {
  std::lock_guard lk{state_->m};
  return state_->started && !state_->finished;
}
void ThreadHandle::join() const {
  check_joinable(state_);
  wait_finished(*state_, std::nullopt);
}
bool ThreadHandle::join(std::chrono::nanoseconds timeout) const {
  check_joinable(state_);
  return wait_finished(*state_, timeout);
}

// ---- Thread ----

Thread::Thread() : Thread(ThreadOptions{}) {}

Thread::Thread(ThreadOptions options) : Thread(std::move(options), nullptr) {}

Thread::Thread(ThreadOptions options, std::unique_ptr<detail::ThreadTarget> target)
    : state_(std::make_shared<ThreadState>()) {
  auto& reg = registry();
  state_->name = options.name.empty() ? "Thread-" + std::to_string(++reg.counter)
                                      : std::move(options.name);
  state_->daemon = options.daemon ? *options.daemon : current_state()->daemon;
  state_->kin_thread = true;
  state_->target = std::move(target);
}

Thread::Thread(Thread&&) noexcept = default;
Thread& Thread::operator=(Thread&&) noexcept = default;
Thread::~Thread() = default;

void Thread::run() {
  if (state_ && state_->target) (*state_->target)();
}

void Thread::start() {
  if (!state_) throw ValueError("kin::Thread::start: moved-from Thread");
  {
    std::lock_guard lk{state_->m};
    if (state_->started) throw ValueError("kin::Thread::start: threads can only be started once");
    state_->started = true;
    state_->self = state_->target ? nullptr : this;
  }
  auto& reg = registry();
  {
    std::lock_guard lk{reg.m};
    check_forked_locked(reg);
    reg.live.push_back(state_);
    // Exit handlers run in reverse order of registration, interleaved with the destructors
    // of static objects. Registering again at each start (bounded: an idempotent handler, a
    // few bytes each) makes the join run before the destructors of every static built before
    // the latest start, not only of those built before the first one.
    if (reg.atexit_registrations < 256) {
      ++reg.atexit_registrations;
      std::atexit(join_non_daemons_at_exit);
    }
  }
  try {
    std::thread(trampoline, state_).detach();
  } catch (const std::system_error& e) {
    {
      std::lock_guard lk{reg.m};
      std::erase(reg.live, state_);
    }
    std::lock_guard lk{state_->m};
    state_->started = false;
    throw OSError(e.code().value(), "kin::Thread::start: pthread_create");
  }
  // Like Python, start() returns once the thread runs: ident/native_id are known.
  std::unique_lock lk{state_->m};
  state_->cv.wait(lk, [&] { return state_->running || state_->finished; });
}

void Thread::join() { handle().join(); }

bool Thread::join_for(std::chrono::nanoseconds timeout) { return handle().join(timeout); }

bool Thread::is_alive() const { return handle().is_alive(); }
std::string Thread::name() const { return handle().name(); }
void Thread::set_name(std::string name) {
  (void)handle();  // ValueError on a moved-from Thread
  std::lock_guard lk{state_->m};
  state_->name = std::move(name);
}
bool Thread::daemon() const { return handle().daemon(); }
void Thread::set_daemon(bool daemon) {
  (void)handle();
  std::lock_guard lk{state_->m};
  if (state_->started) throw ValueError("kin::Thread::set_daemon: cannot set daemon status of active thread");
  state_->daemon = daemon;
}
std::optional<std::uint64_t> Thread::ident() const { return handle().ident(); }
std::optional<pid_t> Thread::native_id() const { return handle().native_id(); }

ThreadHandle Thread::handle() const {
  if (!state_) throw ValueError("kin::Thread: moved-from Thread");
  return ThreadHandle{state_};
}

// ---- module functions ----

ThreadHandle current_thread() { return ThreadHandle{current_state()}; }

std::uint64_t get_ident() noexcept { return static_cast<std::uint64_t>(::pthread_self()); }

pid_t get_native_id() noexcept { return gettid_(); }

ThreadHandle main_thread() {
  auto& reg = registry();
  std::lock_guard lk{reg.m};
  check_forked_locked(reg);
  return ThreadHandle{reg.main};
}

std::vector<ThreadHandle> enumerate_threads() {
  auto& reg = registry();
  std::lock_guard lk{reg.m};
  check_forked_locked(reg);
  std::vector<ThreadHandle> out;
  out.reserve(reg.live.size() + 1);
  out.emplace_back(reg.main);
  for (auto& st : reg.live) out.emplace_back(st);
  return out;
}

std::size_t active_count() {
  auto& reg = registry();
  std::lock_guard lk{reg.m};
  check_forked_locked(reg);
  return reg.live.size() + 1;
}

// Python's threading._shutdown: the end of the program, or of a kin child process, waits for
// the non-daemon threads.
void detail::join_non_daemon_threads() {
  auto& reg = registry();
  for (;;) {
    StatePtr next;
    {
      std::lock_guard lk{reg.m};
      if (reg.owner_pid != ::getpid()) return;  // a child that did not fork through libc
      for (auto& st : reg.live)
        if (!st->daemon && st != tls_current) {
          next = st;
          break;
        }
    }
    if (!next) return;
    std::unique_lock lk{next->m};
    next->cv.wait(lk, [&] { return next->finished; });
  }
}

}  // namespace kin
