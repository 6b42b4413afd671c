#include <kin/runtime/syscall.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

namespace kin {

void unique_fd::reset(int fd) noexcept {
  if (fd_ >= 0 && fd_ != fd) ::close(fd_);  // POSIX leaves the fd closed even on EINTR
  fd_ = fd;
}

namespace detail {

void throw_errno(const char* call, int err) {
  if (err == EPIPE) throw BrokenPipeError(std::string(call) + ": peer closed");
  if (err == 0) throw OSError(0, std::string(call) + ": failed without an error code");
  throw OSError(err, call);
}

ThreadSignalBlock::ThreadSignalBlock(int sig) noexcept : sig_(sig) {
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, sig);
  sigset_t pending;
  sigemptyset(&pending);
  ::sigpending(&pending);
  was_pending_ = sigismember(&pending, sig) == 1;
  ::pthread_sigmask(SIG_BLOCK, &one, &old_);
}

void ThreadSignalBlock::consume() noexcept {
  if (was_pending_) return;  // not ours to take: it is delivered when the mask is restored
  const int saved = errno;
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, sig_);
  timespec zero{0, 0};
  while (::sigtimedwait(&one, nullptr, &zero) < 0 && errno == EINTR) {
  }
  errno = saved;
}

ThreadSignalBlock::~ThreadSignalBlock() { ::pthread_sigmask(SIG_SETMASK, &old_, nullptr); }

FdKind fd_kind(int fd) noexcept {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return FdKind::probe;
  return S_ISSOCK(st.st_mode) ? FdKind::socket : FdKind::other;
}

namespace {
ssize_t write_with_sigpipe_blocked(int fd, const iovec* iov, int iovcnt) noexcept {
  ThreadSignalBlock block{SIGPIPE};
  ssize_t w = ::writev(fd, iov, iovcnt);
  if (w < 0 && errno == EPIPE) block.consume();
  return w;
}
}  // namespace

ssize_t write_some(int fd, const iovec* iov, int iovcnt, FdKind kind) noexcept {
  if (kind != FdKind::other) {
    msghdr msg{};
    msg.msg_iov = const_cast<iovec*>(iov);
    msg.msg_iovlen = static_cast<std::size_t>(iovcnt);
    ssize_t w = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (w >= 0 || kind == FdKind::socket || errno != ENOTSOCK) return w;
  }
  return write_with_sigpipe_blocked(fd, iov, iovcnt);
}

void write_all(int fd, iovec* iov, int iovcnt, FdKind kind, const Deadline& deadline) {
  if (kind == FdKind::probe) kind = fd_kind(fd);
  while (iovcnt > 0 && iov->iov_len == 0) {
    ++iov;
    --iovcnt;
  }
  while (iovcnt > 0) {
    ssize_t w = write_some(fd, iov, iovcnt, kind);
    if (w < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN) {
        if (deadline.expired() || poll_fd(fd, POLLOUT, std::chrono::milliseconds{deadline.poll_ms()}) == 0)
          throw TimeoutError("kin: write timed out (the peer is not reading)");
        continue;
      }
      if (err == EPIPE || err == ECONNRESET) throw BrokenPipeError("write: the peer has closed");
      throw_errno("write", err);
    }
    auto left = static_cast<std::size_t>(w);
    while (iovcnt > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      ++iov;
      --iovcnt;
    }
    if (iovcnt > 0) {
      iov->iov_base = static_cast<char*>(iov->iov_base) + left;
      iov->iov_len -= left;
    }
  }
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
