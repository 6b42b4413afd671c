// kin::Process: a child process running a function, with Python's lifecycle.
//
//   kin::Process p{worker, 42, std::string("job")};       // target + arguments
//   kin::Process q{kin::ProcessOptions{.name = "w", .daemon = true}, worker, 1, "x"s};
//   struct Clock : kin::Process { void run() override; };  // or override run()
//   p.start(); p.join(); assert(p.exitcode() == 0);
//
// The target's `int` result is the child's exit code; an uncaught exception prints its type
// and message to stderr and exits 1; kin::exit(n) exits with n. exitcode() is std::nullopt
// until the child has ended, then the code, or -signal when a signal killed it. The child is
// tracked by a pidfd (sentinel()) and reaped by kin (runtime/reaper.hpp): no zombies.
// At normal exit of the program, non-daemon children are joined and daemon children
// terminated together with their own children; a daemon child also dies with its parent.
#pragma once

#include <kin/codec.hpp>
#include <kin/errors.hpp>
#include <kin/exit_status.hpp>
#include <kin/runtime/entry_registry.hpp>  // KIN_ENTRY
#include <kin/start_method.hpp>
#include <kin/detail/spawn_target.hpp>

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

namespace kin {

namespace detail {
struct ChildState;
}  // namespace detail

struct ProcessOptions {
  std::string name{};                        // empty: "Process-N"
  bool daemon = false;
  std::optional<StartMethod> start_method{}; // empty: kin::get_start_method() at start()
};

class Process {
 public:
  /// For subclasses that override run().
  Process() : Process(ProcessOptions{}) {}
  explicit Process(ProcessOptions options);

  /// Runs `f(args...)` in the child. The target and arguments are moved (or copied, decayed)
  /// into the Process, so move-only ones (a Listener, a SharedMemory, a unique_ptr) can be
  /// given; in the child they are moved into a by-value parameter. After a successful start()
  /// the parent lets go of them (as Python, bpo-30775): a Connection end handed over is then
  /// open only in the child.
  template <class F, class... Args>
    requires detail::process_target<std::decay_t<F>, std::decay_t<Args>...>
  explicit Process(F&& f, Args&&... args) : Process(ProcessOptions{}, std::forward<F>(f), std::forward<Args>(args)...) {}

  template <class F, class... Args>
    requires detail::process_target<std::decay_t<F>, std::decay_t<Args>...>
  Process(ProcessOptions options, F&& f, Args&&... args) : Process(std::move(options)) {
    using Held = detail::HeldTarget<std::decay_t<F>, std::tuple<std::decay_t<Args>...>>;
    // Shared by the two ways of running it (std::function needs a copyable callable; the
    // pointer is, whatever it points to).
    auto held = std::make_shared<Held>(Held{std::decay_t<F>(std::forward<F>(f)),
                                            std::tuple<std::decay_t<Args>...>(std::forward<Args>(args)...)});
    spawn_ = detail::make_spawn_target(held);
    target_ = [held]() -> int { return detail::invoke_target(held->fn, held->args); };
  }

  Process(Process&&) noexcept;
  Process& operator=(Process&&) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  /// Does not wait: like Python, a started child keeps running (kin still reaps it).
  virtual ~Process();

  /// What the child executes: by default the target given to the constructor.
  virtual void run();

  /// Starts the child (once: a second start() is ValueError).
  void start();
  /// Waits for the child to end (ValueError before start()).
  void join();
  /// Waits at most `timeout`; true when the child has ended.
  template <class Rep, class Period>
  bool join(std::chrono::duration<Rep, Period> timeout) {
    return join_for(std::chrono::ceil<std::chrono::milliseconds>(timeout));
  }
  [[nodiscard]] bool is_alive();
  /// The child's pid; 0 before start().
  [[nodiscard]] pid_t pid() const;
  [[nodiscard]] const std::string& name() const noexcept { return options_.name; }
  void set_name(std::string name);
  /// Python's Process.authkey: the child's current_process().authkey. Set at construction
  /// to the authkey of the process constructing it; set_authkey changes it (before start()
  /// for it to reach the child, as in Python).
  [[nodiscard]] const std::string& authkey() const noexcept { return authkey_; }
  void set_authkey(std::string authkey);
  [[nodiscard]] bool daemon() const noexcept { return options_.daemon; }
  /// Before start() only (ValueError after).
  void set_daemon(bool daemon);
  /// std::nullopt while running (or before start); the exit code, or -signal.
  [[nodiscard]] std::optional<int> exitcode();
  /// std::nullopt while running (or before start); how the child ended.
  [[nodiscard]] std::optional<ExitStatus> exit_status();
  /// SIGTERM (a daemon child's whole process group).
  void terminate();
  /// SIGKILL.
  void kill();
  /// Releases the process's resources; ValueError if it is still running. Any later use
  /// (except name()/daemon() and close()) is a ValueError.
  void close();
  /// A pollable fd (pidfd) that becomes readable when the child ends.
  [[nodiscard]] int sentinel() const;

  /// The start method this Process uses (its option, or the global default).
  [[nodiscard]] StartMethod start_method() const;

 private:
  bool join_for(std::chrono::milliseconds timeout);
  void drop_target() noexcept {
    target_ = nullptr;
    spawn_.reset();
  }
  void check_open() const;
  void check_started(const char* what) const;
  [[noreturn]] void child_main(const std::string& parent_name, pid_t parent_pid);
  void start_spawn();
  void start_fork(const sigset_t& mask);

  ProcessOptions options_;
  std::string authkey_;
  std::function<int()> target_;
  std::shared_ptr<const detail::SpawnTarget> spawn_;  // null: only fork can run this target
  int target_result_ = 0;
  std::shared_ptr<detail::ChildState> state_;
  bool closed_ = false;
};

}  // namespace kin
