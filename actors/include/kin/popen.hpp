// kin::Popen — Python's subprocess.Popen: runs an external program with its stdin/stdout/
// stderr inherited, piped, sent to /dev/null, (stderr) merged into stdout, taken from another
// Popen's pipe, a file or an fd of the caller's.
//
//   kin::Popen sort{{"sort"}, {.stdin_ = kin::File{"words.txt"}, .stdout_ = kin::pipe}};
//   kin::Popen uniq{{"uniq", "-c"}, {.stdin_ = sort.stdout_stream(), .stdout_ = kin::pipe}};
//   auto [counts, err] = uniq.communicate({}, 10s);   // `sort words.txt | uniq -c`
//
// - stdout_stream() hands the pipe end over: the parent keeps no copy once `uniq` has started,
//   so `uniq` sees EOF when `sort` ends and `sort` gets SIGPIPE if `uniq` stops reading
//   (Python's `p1.stdout.close()` after `Popen(..., stdin=p1.stdout)`, done for you).
// - start_new_session (setsid) and process_group (setpgid; 0: a new group led by the child)
//   are Python 3.11's; send_signal_to_group() signals the group the child leads.
//
// - A program that cannot be started (missing, not executable, bad cwd) throws kin::OSError
//   from the constructor, e.g. "execve(/no/such): No such file or directory"; it never shows
//   up later as exit status 127.
// - communicate(input, timeout) feeds stdin and drains stdout and stderr together (one poll
//   loop), so it cannot deadlock on large output; on timeout it throws TimeoutExpired and
//   leaves the child running (call kill() and communicate() again, as in Python).
// - The child is tracked through a pidfd and reaped with waitid(P_PIDFD): kin never reaps
//   children it does not own. returncode() is -N for a child killed by signal N.
// - The child gets stdio and nothing else: every other fd is closed across exec.
// - Destroying a Popen does not kill the child (Python semantics). The child is watched on
//   kin's runtime thread (runtime/reaper.hpp) from the start and reaped within milliseconds of
//   its exit, whether or not the Popen still exists or is ever polled: no zombie is left.
// - communicate/wait timeouts throw kin::TimeoutExpired (a TimeoutError) carrying the output
//   read so far, as Python's TimeoutExpired.output/.stderr.
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
struct PopenSetup;
}  // namespace detail

/// Where a child's standard stream goes (Python's None, PIPE, DEVNULL, STDOUT).
enum class Stdio { inherit, pipe, devnull, stdout_ };
inline constexpr Stdio inherit = Stdio::inherit;
inline constexpr Stdio pipe = Stdio::pipe;
inline constexpr Stdio devnull = Stdio::devnull;
/// Only for stderr_: merge stderr into stdout.
inline constexpr Stdio stdout_ = Stdio::stdout_;

/// An fd of the caller's given to the child as a standard stream (Python's `stdin=f` or
/// `stdin=fd`): duplicated into the child; the caller keeps it and closes it when it likes.
struct Fd {
  int fd = -1;
};

/// A file opened for the child (Python's `stdout=open(path, "w")`): read-only for stdin_;
/// for stdout_/stderr_ written, created (mode 0666 & ~umask) and truncated, or appended to.
struct File {
  std::string path;
  bool append = false;
};

/// Where one standard stream of the child goes: a Stdio choice, an Fd, a File, or a pipe end
/// handed over by another Popen (stdout_stream()). Copies share a handed-over end; Popen
/// closes the parent's copy once the child has started.
class Redirect {
 public:
  Redirect(Stdio s = Stdio::inherit) noexcept : stdio_(s) {}
  Redirect(Fd fd) noexcept : kind_(Kind::fd), fd_(fd.fd) {}
  Redirect(File file) : kind_(Kind::file), file_(std::move(file)) {}
  /// Owns `fd` (another Popen's pipe end): the child gets it, the parent closes it at start.
  explicit Redirect(unique_fd fd);

  /// True only for that Stdio choice (an Fd, File or handed-over end is none of them).
  friend bool operator==(const Redirect& r, Stdio s) noexcept { return r.kind_ == Kind::stdio && r.stdio_ == s; }

 private:
  friend class Popen;
  friend struct detail::PopenSetup;
  enum class Kind { stdio, fd, file, owned };
  Kind kind_ = Kind::stdio;
  Stdio stdio_ = Stdio::inherit;
  int fd_ = -1;
  File file_{};
  std::shared_ptr<unique_fd> owned_{};
};

/// Popen's keyword arguments, in this order for designated initializers.
struct PopenOptions {
  Redirect stdin_ = Stdio::inherit;
  Redirect stdout_ = Stdio::inherit;
  Redirect stderr_ = Stdio::inherit;
  /// Working directory of the child; unset: the parent's.
  std::optional<std::string> cwd{};
  /// The child's whole environment; unset: the parent's.
  std::optional<std::map<std::string, std::string>> env{};
  /// setsid() in the child before the exec: a new session and process group, no controlling
  /// terminal (Python's start_new_session).
  bool start_new_session = false;
  /// setpgid(0, group) in the child before the exec: 0 makes a new group led by the child,
  /// N > 0 joins group N; unset: the parent's group (Python 3.11's process_group). Negative is
  /// a ValueError. A failure (EPERM: no such group in the session) is an OSError from the
  /// constructor.
  std::optional<pid_t> process_group{};
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
  /// Waits at most `timeout`; TimeoutExpired when the child is still running (it is not killed).
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

  /// Hands the parent's end of a pipe over to another Popen, e.g. `.stdin_ = p1.stdout_stream()`
  /// (Python's `stdin=p1.stdout` followed by `p1.stdout.close()`): this Popen no longer has it
  /// (stdout_fd() becomes -1, communicate() does not read it). ValueError when that stream is
  /// not a pipe (or was handed over already).
  [[nodiscard]] Redirect stdout_stream();
  [[nodiscard]] Redirect stderr_stream();
  /// The write end of this child's stdin, for `.stdout_ = p2.stdin_stream()`.
  [[nodiscard]] Redirect stdin_stream();

  /// True when the child leads its own process group (start_new_session, process_group = 0):
  /// its pid is the group id.
  [[nodiscard]] bool leads_group() const noexcept { return leads_group_; }
  /// Sends `sig` to every process in the group the child leads (os.killpg(p.pid, sig) without
  /// its race): while the child is not reaped its pid cannot be reused, and after the reap the
  /// kernel keeps the group id reserved as long as any member of the group lives.
  /// ValueError when the child does not lead a group.
  void send_signal_to_group(int sig);

 private:
  CommunicateResult communicate_for(const std::string& input,
                                    std::optional<std::chrono::nanoseconds> timeout);
  int wait_for(std::optional<std::chrono::nanoseconds> timeout);
  void check_moved() const;

  std::vector<std::string> args_;
  pid_t pid_ = -1;
  bool leads_group_ = false;
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
