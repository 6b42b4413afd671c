// kin::Popen — Python's subprocess.Popen: runs an external program with its stdin/stdout/
// stderr inherited, piped, sent to /dev/null, or (stderr) merged into stdout.
//
// - A program that cannot be started (missing, not executable, bad cwd) throws kin::OSError
//   from the constructor, e.g. "execve(/no/such): No such file or directory"; it never shows
//   up later as exit status 127.
// - communicate(input, timeout) feeds stdin and drains stdout and stderr together (one poll
//   loop), so it cannot deadlock on large output; on timeout it throws TimeoutError and leaves
//   the child running (call kill() and communicate() again, as in Python).
// - The child is tracked through a pidfd and reaped with waitid(P_PIDFD): kin never reaps
//   children it does not own. returncode() is -N for a child killed by signal N.
// - The child gets stdio and nothing else: every other fd is closed across exec.
// - Destroying a Popen does not kill the child (Python semantics). The child is watched on
//   kin's runtime thread (runtime/reaper.hpp) from the start and reaped within milliseconds of
//   its exit, whether or not the Popen still exists or is ever polled: no zombie is left.
#pragma once

#include <kin/errors.hpp>
#include <kin/exit_status.hpp>
#include <kin/runtime/unique_fd.hpp>

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace kin {

namespace detail {
struct ChildState;
}  // namespace detail

/// Where a child's standard stream goes (Python's None, PIPE, DEVNULL, STDOUT).
enum class Stdio { inherit, pipe, devnull, stdout_ };
inline constexpr Stdio inherit = Stdio::inherit;
inline constexpr Stdio pipe = Stdio::pipe;
inline constexpr Stdio devnull = Stdio::devnull;
/// Only for stderr_: merge stderr into stdout.
inline constexpr Stdio stdout_ = Stdio::stdout_;

/// Popen's keyword arguments, in this order for designated initializers.
struct PopenOptions {
  Stdio stdin_ = Stdio::inherit;
  Stdio stdout_ = Stdio::inherit;
  Stdio stderr_ = Stdio::inherit;
  /// Working directory of the child; unset: the parent's.
  std::optional<std::string> cwd{};
  /// The child's whole environment; unset: the parent's.
  std::optional<std::map<std::string, std::string>> env{};
};

/// What communicate() collected; `auto [out, err] = p.communicate();` works. A stream that is
/// not a pipe yields an empty string.
struct CommunicateResult {
  std::string out{};
  std::string err{};
};

class Popen {
 public:
  /// Starts args[0] (searched in PATH when it has no '/') with args as argv.
  explicit Popen(std::vector<std::string> args, PopenOptions options = {});
  Popen(Popen&&) noexcept;
  Popen& operator=(Popen&&) noexcept;
  Popen(const Popen&) = delete;
  Popen& operator=(const Popen&) = delete;
  ~Popen();

  /// Writes `input` to stdin (then closes it), reads stdout/stderr to EOF, waits for the exit.
  /// Input given without stdin_ = pipe is a ValueError.
  CommunicateResult communicate(const std::string& input = {});
  template <class Rep, class Period>
  CommunicateResult communicate(const std::string& input, std::chrono::duration<Rep, Period> timeout) {
    return communicate_for(input, std::chrono::ceil<std::chrono::nanoseconds>(timeout));
  }

  /// Waits for the exit; returns the returncode. wait/poll/returncode/send_signal may be called
  /// from several threads; communicate and the pipe calls belong to one thread at a time.
  int wait();
  /// Waits at most `timeout`; TimeoutError when the child is still running (it is not killed).
  template <class Rep, class Period>
  int wait(std::chrono::duration<Rep, Period> timeout) {
    return wait_for(std::chrono::ceil<std::chrono::nanoseconds>(timeout));
  }
  /// Reaps the child if it has exited; its returncode, else nullopt.
  std::optional<int> poll();
  /// Set once the child has been reaped: exit status, or -signal.
  [[nodiscard]] std::optional<int> returncode() const noexcept;
  /// Set once the child has been reaped: how it ended ("exit 3", "killed by SIGKILL").
  [[nodiscard]] std::optional<ExitStatus> exit_status() const noexcept;
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  [[nodiscard]] const std::vector<std::string>& args() const noexcept { return args_; }

  /// Signals the child (through its pidfd, which stays open until the Popen is destroyed, so
  /// a recycled pid is never hit); does nothing once it has been reaped. Safe to call from
  /// another thread while one waits.
  void send_signal(int sig);
  void terminate();
  void kill();

  /// The parent's ends of the pipes (-1 when that stream is not a pipe or has been closed).
  [[nodiscard]] int stdin_fd() const noexcept { return stdin_.get(); }
  [[nodiscard]] int stdout_fd() const noexcept { return stdout_.get(); }
  [[nodiscard]] int stderr_fd() const noexcept { return stderr_.get(); }
  /// Closes the parent's end of stdin (the child then reads EOF).
  void close_stdin() noexcept { stdin_.reset(); }

 private:
  CommunicateResult communicate_for(const std::string& input,
                                    std::optional<std::chrono::nanoseconds> timeout);
  int wait_for(std::optional<std::chrono::nanoseconds> timeout);
  void check_moved() const;

  std::vector<std::string> args_;
  pid_t pid_ = -1;
  std::shared_ptr<detail::ChildState> state_;  // shared with the runtime's reaper
  unique_fd stdin_;
  unique_fd stdout_;
  unique_fd stderr_;
  // communicate() keeps its progress so a call after a timeout resumes where it stopped.
  bool communicating_ = false;
  std::string input_;
  std::size_t input_off_ = 0;
  std::string out_;
  std::string err_;
};

}  // namespace kin
