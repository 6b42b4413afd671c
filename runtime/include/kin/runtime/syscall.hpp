// Helpers that turn a failed system call into an exception naming the call, retry on EINTR,
// open fds with O_CLOEXEC (kin never leaks an fd into exec'd programs by accident), and the
// one writer every kin write to a pipe or socket goes through, which never raises SIGPIPE:
//
//   write_all(fd, iov, n, FdKind::probe, Deadline::after(1s));   // BrokenPipeError, never a death
//
// A crash inside any of these leaves nothing behind: they own no state beyond the call.
#pragma once

#include <kin/errors.hpp>
#include <kin/runtime/deadline.hpp>
#include <kin/runtime/unique_fd.hpp>

#include <signal.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <cerrno>
#include <chrono>
#include <string>

namespace kin::detail {

/// Throws kin::OSError("<call>: <strerror>") for errno; BrokenPipeError for EPIPE. Capture
/// errno right at the failing call (`int err = errno;`) when anything runs in between: a
/// destructor or a logging call may reset it. An `err` of 0 (a caller that lost errno) is
/// reported as such, never as ": Success".
[[noreturn]] void throw_errno(const char* call, int err = errno);

/// Returns rc, or throws naming `call` when rc < 0.
template <class R>
R check(R rc, const char* call) {
  if (rc < 0) throw_errno(call);
  return rc;
}

/// Calls f until it stops failing with EINTR; returns its result (errno intact on failure).
template <class F>
auto retry_eintr(F&& f) {
  decltype(f()) rc;
  do rc = f();
  while (rc < 0 && errno == EINTR);
  return rc;
}

/// pipe2(O_CLOEXEC): {read end, write end}.
struct PipeFds {
  unique_fd read;
  unique_fd write;
};
PipeFds make_pipe();
/// socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC).
struct SocketPairFds {
  unique_fd a;
  unique_fd b;
};
SocketPairFds make_socketpair();

void set_nonblocking(int fd, bool on);
void set_cloexec(int fd, bool on);

/// poll() one fd for `events` with a timeout (negative = forever), EINTR-safe with the
/// remaining time recomputed. Returns the revents, or 0 on timeout.
short poll_fd(int fd, short events, std::chrono::milliseconds timeout);

/// Blocks one signal in the calling thread for the guard's life, so that a call known to raise
/// it on failure (write to a closed pipe: SIGPIPE; a file past RLIMIT_FSIZE: SIGXFSZ) fails
/// with its errno instead. Call consume() after such a failure: it takes the signal that call
/// left pending on this thread, unless one was already pending before the guard (someone
/// else's, delivered as usual when the mask is restored).
class ThreadSignalBlock {
 public:
  explicit ThreadSignalBlock(int sig) noexcept;
  ThreadSignalBlock(const ThreadSignalBlock&) = delete;
  ThreadSignalBlock& operator=(const ThreadSignalBlock&) = delete;
  ~ThreadSignalBlock();
  /// Takes the signal raised while blocked (errno is preserved).
  void consume() noexcept;

 private:
  int sig_;
  bool was_pending_ = false;
  sigset_t old_{};
};

/// What an fd is, for write_some/write_all: a socket takes sendmsg(MSG_NOSIGNAL), anything else
/// (pipe, FIFO, terminal) a write with SIGPIPE blocked; `probe` tries sendmsg and falls back.
enum class FdKind { probe, socket, other };
[[nodiscard]] FdKind fd_kind(int fd) noexcept;

/// One gathered write that never raises SIGPIPE: bytes written, or -1 with errno (EPIPE when
/// the reader is gone, EAGAIN on a full non-blocking fd, EINTR). The one place kin writes to
/// a pipe or socket.
ssize_t write_some(int fd, const iovec* iov, int iovcnt, FdKind kind = FdKind::probe) noexcept;
inline ssize_t write_some(int fd, const void* p, std::size_t n, FdKind kind = FdKind::probe) noexcept {
  iovec iov{const_cast<void*>(p), n};
  return write_some(fd, &iov, 1, kind);
}
/// Writes all of iov[0..iovcnt) (it is consumed in place): short writes and EINTR are retried,
/// a full non-blocking fd is waited on with poll(). BrokenPipeError when the peer is gone
/// (EPIPE, ECONNRESET); TimeoutError when `deadline` passes first; OSError otherwise.
void write_all(int fd, iovec* iov, int iovcnt, FdKind kind = FdKind::probe,
               const Deadline& deadline = Deadline::never());
inline void write_all(int fd, const void* p, std::size_t n, FdKind kind = FdKind::probe,
                      const Deadline& deadline = Deadline::never()) {
  iovec iov{const_cast<void*>(p), n};
  write_all(fd, &iov, 1, kind, deadline);
}

/// Converts any duration to poll's milliseconds, rounding up so a short wait is not 0.
template <class Rep, class Period>
std::chrono::milliseconds to_poll_ms(std::chrono::duration<Rep, Period> d) {
  if (d <= d.zero()) return std::chrono::milliseconds{0};
  return std::chrono::ceil<std::chrono::milliseconds>(d);
}

}  // namespace kin::detail
