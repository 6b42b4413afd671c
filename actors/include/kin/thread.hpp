// kin::Thread — Python's threading.Thread: a thread with a name, a daemon flag and join with a
// timeout; plus the module functions current_thread(), main_thread(), active_count() and
// enumerate_threads(), which see the main thread and every started, not yet finished kin::Thread.
//
// Semantics kept from Python:
// - an exception escaping the target prints "Exception in thread <name>:" and the exception's
//   type and message to stderr; the thread ends, the process goes on;
// - at normal exit (return from main / std::exit), and when the target of a kin::Process child
//   returns, non-daemon threads are joined first, daemon threads are abandoned;
// - the Thread object may be destroyed while its thread runs: the thread keeps running (a
//   thread built from a callable owns its callable). A subclass that overrides run() is the
//   exception: run() is a member of the object, so the object must outlive the thread.
#pragma once

#include <kin/errors.hpp>

#include <sys/types.h>

#include <chrono>
#include <concepts>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace kin {

/// Options of a Thread, in Python's keyword order: `{.name = "t", .daemon = true}`.
struct ThreadOptions {
  /// Empty: "Thread-N".
  std::string name{};
  /// Unset: inherit the creating thread's flag (the main thread is not a daemon).
  std::optional<bool> daemon{};
};

namespace detail {

/// A type-erased, move-only target (std::function would force copyable arguments).
struct ThreadTarget {
  virtual ~ThreadTarget() = default;
  virtual void operator()() = 0;
};

template <class F, class Tuple>
struct ThreadTargetImpl final : ThreadTarget {
  ThreadTargetImpl(F f, Tuple args) : f_(std::move(f)), args_(std::move(args)) {}
  void operator()() override { std::apply(f_, std::move(args_)); }
  F f_;
  Tuple args_;
};

template <class F, class... Args>
std::unique_ptr<ThreadTarget> make_thread_target(F&& f, Args&&... args) {
  using Fn = std::decay_t<F>;
  using Tuple = std::tuple<std::decay_t<Args>...>;
  return std::make_unique<ThreadTargetImpl<Fn, Tuple>>(Fn(std::forward<F>(f)),
                                                       Tuple(std::forward<Args>(args)...));
}

struct ThreadState;

/// Python's threading._shutdown: waits for every started, non-daemon kin::Thread of this
/// process (not the calling one). Runs at normal exit of the program and at the end of a kin
/// child process, before it finishes its own children.
void join_non_daemon_threads();

}  // namespace detail

/// A view of a running (or finished) thread: what current_thread(), main_thread() and
/// enumerate_threads() return. Copies refer to the same thread.
class ThreadHandle {
 public:
  explicit ThreadHandle(std::shared_ptr<detail::ThreadState> state) : state_(std::move(state)) {}

  [[nodiscard]] std::string name() const;
  /// pthread_self() of the thread as an integer: unique among live threads; nullopt before
  /// start.
  [[nodiscard]] std::optional<std::uint64_t> ident() const;
  /// The kernel thread id (gettid()); nullopt before start.
  [[nodiscard]] std::optional<pid_t> native_id() const;
  [[nodiscard]] bool daemon() const;
  [[nodiscard]] bool is_alive() const;
  /// Waits for a kin::Thread to finish; ValueError for the main thread, the current thread or
  /// a thread kin did not start.
  void join() const;
  [[nodiscard]] bool join(std::chrono::nanoseconds timeout) const;

  friend bool operator==(const ThreadHandle& a, const ThreadHandle& b) noexcept {
    return a.state_ == b.state_;
  }

 private:
  std::shared_ptr<detail::ThreadState> state_;
};

class Thread {
 public:
  /// For subclasses overriding run().
  Thread();
  explicit Thread(ThreadOptions options);

  /// `kin::Thread t{f, args...}`: runs f(args...) (arguments are decay-copied, as std::thread).
  template <class F, class... Args>
    requires std::invocable<std::decay_t<F>, std::decay_t<Args>...>
  explicit Thread(F&& f, Args&&... args)
      : Thread(ThreadOptions{},
               detail::make_thread_target(std::forward<F>(f), std::forward<Args>(args)...)) {}

  template <class F, class... Args>
    requires std::invocable<std::decay_t<F>, std::decay_t<Args>...>
  Thread(ThreadOptions options, F&& f, Args&&... args)
      : Thread(std::move(options),
               detail::make_thread_target(std::forward<F>(f), std::forward<Args>(args)...)) {}

  Thread(ThreadOptions options, std::unique_ptr<detail::ThreadTarget> target);

  Thread(Thread&&) noexcept;
  Thread& operator=(Thread&&) noexcept;
  Thread(const Thread&) = delete;
  Thread& operator=(const Thread&) = delete;
  /// Does not join: a running thread keeps running (Python semantics).
  virtual ~Thread();

  /// Starts the thread; returns once it runs. A second call throws ValueError.
  void start();
  /// The thread's body: runs the target. Override it in a subclass (then the object must
  /// outlive the thread).
  virtual void run();
  /// Waits for the end of the thread. ValueError before start() or from the thread itself.
  void join();
  /// Waits at most `timeout`; true when the thread has finished.
  template <class Rep, class Period>
  bool join(std::chrono::duration<Rep, Period> timeout) {
    return join_for(std::chrono::ceil<std::chrono::nanoseconds>(timeout));
  }
  [[nodiscard]] bool is_alive() const;

  [[nodiscard]] std::string name() const;
  void set_name(std::string name);
  [[nodiscard]] bool daemon() const;
  /// ValueError once started.
  void set_daemon(bool daemon);
  /// See ThreadHandle::ident / native_id.
  [[nodiscard]] std::optional<std::uint64_t> ident() const;
  [[nodiscard]] std::optional<pid_t> native_id() const;
  /// A handle that stays valid after this object is gone.
  [[nodiscard]] ThreadHandle handle() const;

 private:
  bool join_for(std::chrono::nanoseconds timeout);
  std::shared_ptr<detail::ThreadState> state_;
};

/// The calling thread (a "Dummy-N" daemon handle for a thread kin did not start).
ThreadHandle current_thread();
/// The program's main thread (in a forked child: the thread that forked).
ThreadHandle main_thread();
/// threading.get_ident(): the calling thread's ident (pthread_self() as an integer).
std::uint64_t get_ident() noexcept;
/// threading.get_native_id(): the calling thread's kernel id (gettid()).
pid_t get_native_id() noexcept;
/// Number of threads enumerate_threads() would list.
std::size_t active_count();
/// The main thread plus every started, not yet finished kin::Thread.
std::vector<ThreadHandle> enumerate_threads();

}  // namespace kin
