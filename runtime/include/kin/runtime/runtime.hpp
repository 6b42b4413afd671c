// kin::detail::Runtime: the one object per process that owns kin's runtime — one Boost.Asio
// io_context run by one runtime thread — and the process's one fork handler.
//
//   detail::post([] { ... });                          // runs on the runtime thread
//   auto id = detail::Runtime::get().watch_fd(fd, detail::Readiness::read, [] { ... });
//   detail::Runtime::get().unwatch_fd(id);              // after this, fd may be closed
//   static const int hooked = detail::at_fork(nullptr, nullptr, reset_my_state_in_child);
//
// The thread starts lazily, on the first call that needs it (post, a watch, a timer): a
// program that only uses queues and locks never starts it. It blocks every signal, so signal
// handlers always run on the program's own threads, and it lives until the process ends. Asio
// stays inside runtime.cpp: callers see plain fds, callbacks and Deadlines.
//
// Fork: one pthread_atfork handler serves all of kin. The child starts with a fresh, idle
// runtime — no thread, no watches; the parent's io_context and whatever its handlers captured
// are left untouched in the child's memory (destroying them could deregister the parent's
// descriptors from the epoll instance the two share, or run destructors of the parent's actor
// system), and the io_context's own fds are closed. Other modules register their after-fork
// resets with at_fork(); they run in registration order after the runtime's own reset
// (prepare hooks in reverse order), exactly as pthread_atfork would run them.
//
// A crash of a callback (an exception escaping it) is caught and printed to stderr; the loop
// goes on. Callbacks must not block: everything kin watches shares this thread.
#pragma once

#include <kin/runtime/deadline.hpp>

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace kin::detail {

enum class Readiness { read, write };

class Runtime {
 public:
  using Id = std::uint64_t;

  /// This process's runtime (created on first use, never destroyed).
  static Runtime& get();

  /// Starts the runtime thread now (so a later step cannot fail for want of it).
  void ensure_started();
  /// Runs `fn` on the runtime thread, starting it if needed.
  void post(std::function<void()> fn);
  /// Runs `fn` on the runtime thread and waits for it (inline when called there). An
  /// exception thrown by `fn` is rethrown here.
  void run(const std::function<void()>& fn);

  /// Calls `fn` once on the runtime thread when `fd` becomes readable (or writable), or has
  /// an error or hang-up. The fd stays the caller's: it must stay open until the callback
  /// ran or unwatch_fd() returned.
  Id watch_fd(int fd, Readiness r, std::function<void()> fn);
  /// Stops a watch: when this returns, its callback is not running and never will, and the
  /// fd is no longer registered (it may be closed). Waits for the runtime thread unless called
  /// on it. Unknown or fired ids are ignored.
  void unwatch_fd(Id id);

  /// Calls `fn` once on the runtime thread when `d` has passed.
  Id call_at(Deadline d, std::function<void()> fn);
  /// Cancels a timer (asynchronously: a callback already running finishes).
  void cancel_timer(Id id);

  /// True on the runtime thread.
  [[nodiscard]] bool on_runtime_thread() const noexcept;
  /// True when this process's runtime thread has been started.
  [[nodiscard]] bool started() const noexcept;
  /// The fds the io_context itself holds (epoll, its wake-up eventfd, its timerfd).
  [[nodiscard]] std::vector<int> own_fds() const;

  /// What kin's fork handler does, for children made without fork() (the forkserver's raw
  /// clone): call prepare before, parent in the parent, child in the child.
  static void fork_prepare() noexcept;
  static void fork_parent() noexcept;
  static void fork_child() noexcept;

  struct Impl;

 private:
  Runtime() = default;
  Impl& impl();  // starts the thread
};

/// Runtime::get().post(fn).
void post(std::function<void()> fn);

/// Registers after-fork hooks (any may be null) with kin's one fork handler. Returns 0, so a
/// file can write `static const int hooked = at_fork(...)`.
int at_fork(void (*prepare)(), void (*parent)(), void (*child)());

}  // namespace kin::detail
