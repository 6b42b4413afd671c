#include <kin/runtime/syscall.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace kin {

void unique_fd::reset(int fd) noexcept {
  if (fd_ >= 0 && fd_ != fd) ::close(fd_);  // POSIX leaves the fd closed even on EINTR
  fd_ = fd;
}

namespace detail {

void throw_errno(const char* call, int err) {
  if (err == EPIPE) throw BrokenPipeError(std::string(call) + ": peer closed");
  throw OSError(err, call);
}

PipeFds make_pipe() {
  int fds[2];
  check(::pipe2(fds, O_CLOEXEC), "pipe2");
  return {unique_fd{fds[0]}, unique_fd{fds[1]}};
}

SocketPairFds make_socketpair() {
  int fds[2];
  check(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), "socketpair");
  return {unique_fd{fds[0]}, unique_fd{fds[1]}};
}

void set_nonblocking(int fd, bool on) {
  int flags = check(::fcntl(fd, F_GETFL), "fcntl(F_GETFL)");
  int want = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (want != flags) check(::fcntl(fd, F_SETFL, want), "fcntl(F_SETFL)");
}

void set_cloexec(int fd, bool on) {
  int flags = check(::fcntl(fd, F_GETFD), "fcntl(F_GETFD)");
  int want = on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC);
  if (want != flags) check(::fcntl(fd, F_SETFD, want), "fcntl(F_SETFD)");
}

short poll_fd(int fd, short events, std::chrono::milliseconds timeout) {
  using clock = std::chrono::steady_clock;
  const bool forever = timeout.count() < 0;
  const auto deadline = clock::now() + (forever ? std::chrono::milliseconds{0} : timeout);
  for (;;) {
    int ms = -1;
    if (!forever) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock::now());
      ms = left.count() > 0 ? static_cast<int>(left.count()) : 0;
    }
    pollfd p{fd, events, 0};
    int rc = ::poll(&p, 1, ms);
    if (rc > 0) return p.revents;
    if (rc == 0) return 0;
    if (errno != EINTR) throw_errno("poll");
  }
}

}  // namespace detail
}  // namespace kin
