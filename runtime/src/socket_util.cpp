#include <kin/runtime/socket_util.hpp>
#include <kin/runtime/syscall.hpp>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>

#include <poll.h>
#include <sys/time.h>

namespace kin::detail {

namespace {

sockaddr_un unix_addr(const std::string& path) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) throw ValueError("kin: Unix socket path too long: " + path);
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  return sa;
}

addrinfo* resolve(const SocketAddress& a, bool passive) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  if (passive) hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  std::string port = std::to_string(a.port);
  int rc = ::getaddrinfo(a.host.empty() ? nullptr : a.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) throw OSError(0, "getaddrinfo(" + a.host + "): " + ::gai_strerror(rc));
  return res;
}

}  // namespace

unique_fd listen_on(const SocketAddress& a, int backlog) {
  if (!a.path.empty()) {
    unique_fd s{check(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket")};
    auto sa = unix_addr(a.path);
    check(::bind(s.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), ("bind(" + a.path + ")").c_str());
    check(::listen(s.get(), backlog), "listen");
    return s;
  }
  addrinfo* res = resolve(a, true);
  int err = 0;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    unique_fd s{::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol)};
    if (!s) {
      err = errno;  // e.g. EMFILE: never report "bind: Success"
      continue;
    }
    int one = 1;
    ::setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(s.get(), ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(s.get(), backlog) == 0) {
      ::freeaddrinfo(res);
      return s;
    }
    err = errno;
  }
  ::freeaddrinfo(res);
  throw OSError(err, "bind(" + a.host + ":" + std::to_string(a.port) + ")");
}

SocketAddress local_address(int fd, const SocketAddress& requested) {
  if (!requested.path.empty()) return requested;
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  check(::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len), "getsockname");
  SocketAddress out = requested;
  char host[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    out.port = ntohs(in->sin_port);
    ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
  } else if (ss.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    out.port = ntohs(in6->sin6_port);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
  }
  out.host = host;
  return out;
}

namespace {

// 0 when connected, else the errno; TimeoutError at the deadline.
int connect_tcp(int s, const addrinfo* ai, const std::string& where, Deadline deadline) {
  set_nonblocking(s, true);
  if (::connect(s, ai->ai_addr, ai->ai_addrlen) != 0) {
    if (errno != EINPROGRESS && errno != EINTR) return errno;
    for (;;) {
      if (poll_fd(s, POLLOUT, std::chrono::milliseconds{deadline.poll_ms()}) != 0) break;
      if (deadline.expired()) throw TimeoutError("kin: connect(" + where + ") timed out");
    }
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return err;
  }
  set_nonblocking(s, false);
  return 0;
}

}  // namespace

// A Unix connect() waits while the listener's backlog is full and honours SO_SNDTIMEO; so
// does a TCP connect(), but a non-blocking one and poll() give the clearer bound there.
void connect_unix(int s, const sockaddr_un& sa, socklen_t len, const std::string& path, Deadline deadline) {
  for (;;) {
    if (!deadline.infinite()) {
      auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline.remaining()).count();
      if (left <= 0) throw TimeoutError("kin: connect(" + path + ") timed out");
      timeval tv{static_cast<time_t>(left / 1'000'000), static_cast<suseconds_t>(left % 1'000'000)};
      ::setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    if (::connect(s, reinterpret_cast<const sockaddr*>(&sa), len) == 0) break;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EINPROGRESS) throw TimeoutError("kin: connect(" + path + ") timed out");
    throw_errno(("connect(" + path + ")").c_str());
  }
  timeval none{0, 0};
  ::setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof none);
}

unique_fd connect_to(const SocketAddress& a, Deadline deadline) {
  if (!a.path.empty()) {
    unique_fd s{check(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket")};
    auto sa = unix_addr(a.path);
    connect_unix(s.get(), sa, sizeof sa, a.path, deadline);
    return s;
  }
  const std::string where = a.host + ":" + std::to_string(a.port);
  addrinfo* res = resolve(a, false);
  int err = ECONNREFUSED;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    unique_fd s{::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol)};
    if (!s) {
      err = errno;
      continue;
    }
    try {
      err = connect_tcp(s.get(), ai, where, deadline);
    } catch (...) {
      ::freeaddrinfo(res);
      throw;
    }
    if (err == 0) {
      ::freeaddrinfo(res);
      int one = 1;
      ::setsockopt(s.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return s;
    }
  }
  ::freeaddrinfo(res);
  throw OSError(err, "connect(" + where + ")");
}

unique_fd accept_from(int listen_fd) {
  for (;;) {
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) {
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // fails harmlessly on Unix sockets
      return unique_fd{fd};
    }
    if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
    throw_errno("accept4");
  }
}

}  // namespace kin::detail

namespace kin::detail {

unique_fd try_accept(int listen_fd) {
  for (;;) {
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0) {
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // fails harmlessly on Unix sockets
      return unique_fd{fd};
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return unique_fd{};
    if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
    throw_errno("accept4");
  }
}

}  // namespace kin::detail

namespace kin::detail {

void set_keepalive(int fd, const KeepAlive& k) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  check(::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len), "getsockname");
  if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) return;  // Unix: the peer's death is EOF
  auto set = [fd](int level, int name, int value, const char* what) {
    check(::setsockopt(fd, level, name, &value, sizeof value), what);
  };
  set(SOL_SOCKET, SO_KEEPALIVE, 1, "setsockopt(SO_KEEPALIVE)");
  set(IPPROTO_TCP, TCP_KEEPIDLE, static_cast<int>(k.idle.count()), "setsockopt(TCP_KEEPIDLE)");
  set(IPPROTO_TCP, TCP_KEEPINTVL, static_cast<int>(k.interval.count()), "setsockopt(TCP_KEEPINTVL)");
  set(IPPROTO_TCP, TCP_KEEPCNT, k.count, "setsockopt(TCP_KEEPCNT)");
  set(IPPROTO_TCP, TCP_USER_TIMEOUT, static_cast<int>(k.user_timeout.count()), "setsockopt(TCP_USER_TIMEOUT)");
}

}  // namespace kin::detail
