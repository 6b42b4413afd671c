// kin's exceptions, named after Python's. Every kin error derives from kin::Error (itself a
// std::runtime_error), so `catch (const kin::Error&)` catches anything kin throws on purpose.
#pragma once

#include <kin/exit_status.hpp>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>
#include <sys/types.h>

namespace kin {

/// Base of every kin exception.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A system call failed: names the call and keeps errno (Python's OSError).
class OSError : public Error {
 public:
  /// what() is "<what>: <strerror(err)>"; with err 0 (no system error code, e.g. a resolver
  /// failure) it is `what` alone — never ": Success".
  OSError(int err, const std::string& what);
  /// The errno value the call failed with.
  [[nodiscard]] int error_code() const noexcept { return errno_; }

 private:
  int errno_;
};

/// Nothing to get: a non-blocking or timed get found the channel empty (queue.Empty).
class Empty : public Error {
 public:
  Empty() : Error("kin::Empty: the queue is empty") {}
  using Error::Error;
};

/// No room to put: a non-blocking or timed put found the channel full (queue.Full).
class Full : public Error {
 public:
  Full() : Error("kin::Full: the queue is full") {}
  using Error::Error;
};

/// The queue was shut down: put after shutdown(), or get from a shut-down queue with nothing
/// left (queue.ShutDown, Python 3.13).
class ShutDown : public Error {
 public:
  ShutDown() : Error("kin::ShutDown: the queue has been shut down") {}
  using Error::Error;
};

/// A call given a timeout ran out of time.
class TimeoutError : public Error {
 public:
  using Error::Error;
};

/// A program started by kin::Popen or kin::run outlived its timeout (Python's
/// subprocess.TimeoutExpired): its argv, the timeout, and what it had written to its captured
/// stdout and stderr by then. what() is Python's: "Command '['sleep', '10']' timed out after
/// 0.2 seconds".
class TimeoutExpired : public TimeoutError {
 public:
  TimeoutExpired(std::vector<std::string> cmd, std::chrono::nanoseconds timeout,
                 std::string output = {}, std::string stderr_output = {});
  [[nodiscard]] const std::vector<std::string>& cmd() const noexcept { return cmd_; }
  [[nodiscard]] std::chrono::nanoseconds timeout() const noexcept { return timeout_; }
  [[nodiscard]] const std::string& output() const noexcept { return output_; }
  [[nodiscard]] const std::string& stderr_output() const noexcept { return stderr_; }

 private:
  std::vector<std::string> cmd_;
  std::chrono::nanoseconds timeout_;
  std::string output_;
  std::string stderr_;
};

/// The peer closed cleanly: nothing more will ever arrive.
class EOFError : public Error {
 public:
  using Error::Error;
};

/// Writing to a peer that has gone away (EPIPE); never a SIGPIPE death.
class BrokenPipeError : public OSError {
 public:
  explicit BrokenPipeError(const std::string& what) : OSError(32 /*EPIPE*/, what) {}
};

/// A process-level failure (e.g. a child that could not be started).
class ProcessError : public Error {
 public:
  using Error::Error;
};

/// A program run with check = true (kin::run) exited non-zero: its argv, returncode (-N for
/// signal N) and captured output (Python's subprocess.CalledProcessError).
class CalledProcessError : public ProcessError {
 public:
  CalledProcessError(int returncode, std::vector<std::string> cmd, std::string output = {},
                     std::string stderr_output = {});
  [[nodiscard]] int returncode() const noexcept { return returncode_; }
  [[nodiscard]] const std::vector<std::string>& cmd() const noexcept { return cmd_; }
  [[nodiscard]] const std::string& output() const noexcept { return output_; }
  [[nodiscard]] const std::string& stderr_output() const noexcept { return stderr_; }

 private:
  int returncode_;
  std::vector<std::string> cmd_;
  std::string output_;
  std::string stderr_;
};

/// An exception raised in another process, carried back: its type name, message and pid.
class RemoteError : public Error {
 public:
  RemoteError(std::string type_name, std::string message, pid_t pid);
  [[nodiscard]] const std::string& type_name() const noexcept { return type_name_; }
  [[nodiscard]] const std::string& message() const noexcept { return message_; }
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }

 private:
  std::string type_name_;
  std::string message_;
  pid_t pid_;
};

/// A pool worker died while it held a task; the task's result raises this. It names the
/// worker's pid and how it ended ("killed by SIGKILL", "exit 3").
class WorkerLost : public Error {
 public:
  WorkerLost(pid_t pid, ExitStatus status);
  WorkerLost(pid_t pid, ExitStatus status, const std::string& what);
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  [[nodiscard]] const ExitStatus& status() const noexcept { return status_; }

 private:
  pid_t pid_;
  ExitStatus status_;
};

/// The result was cancelled before it ran (concurrent.futures.CancelledError): raised by
/// result()/get() of a cancelled Future, and by the results a pool abandons when it terminates.
class CancelledError : public Error {
 public:
  CancelledError() : Error("kin::CancelledError: the task was cancelled") {}
  using Error::Error;
};

/// A Manager's server process is gone (died, unreachable, or restarted with its state lost):
/// every proxy call raises this instead of hanging.
class ManagerLost : public Error {
 public:
  using Error::Error;
};

/// A missing key (Python's KeyError).
class KeyError : public Error {
 public:
  using Error::Error;
};

/// An index out of range (Python's IndexError).
class IndexError : public Error {
 public:
  using Error::Error;
};

/// The peer does not know the authkey, or the handshake failed.
class AuthenticationError : public Error {
 public:
  using Error::Error;
};

/// Malformed bytes: an oversized or truncated frame, or a payload that does not decode.
class ProtocolError : public Error {
 public:
  using Error::Error;
};

/// The start method cannot run this target (e.g. a closure under spawn); says how to fix it.
class StartMethodError : public Error {
 public:
  using Error::Error;
};

/// Misuse of the API: start twice, join before start, use after close.
class ValueError : public Error {
 public:
  using Error::Error;
};

/// The previous owner of a lock died while holding it; the lock is now the caller's.
class OwnerDied : public Error {
 public:
  using Error::Error;
};

/// A Barrier was aborted or broken while (or before) waiting on it.
class BrokenBarrierError : public Error {
 public:
  using Error::Error;
};

}  // namespace kin
