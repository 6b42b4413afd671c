// Helpers that turn a failed system call into an exception naming the call, retry on EINTR,
// and open fds with O_CLOEXEC (kin never leaks an fd into exec'd programs by accident).
#pragma once

#include <kin/errors.hpp>
#include <kin/runtime/unique_fd.hpp>

#include <cerrno>
#include <chrono>
#include <string>

namespace kin::detail {

/// Throws kin::OSError("<call>: <strerror>") for errno; BrokenPipeError for EPIPE.
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

/// Converts any duration to poll's milliseconds, rounding up so a short wait is not 0.
template <class Rep, class Period>
std::chrono::milliseconds to_poll_ms(std::chrono::duration<Rep, Period> d) {
  if (d <= d.zero()) return std::chrono::milliseconds{0};
  return std::chrono::ceil<std::chrono::milliseconds>(d);
}

}  // namespace kin::detail
