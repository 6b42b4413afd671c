// Listening and connecting stream sockets (TCP or Unix), close-on-exec, for Listener/Client.
#pragma once

#include <kin/runtime/deadline.hpp>
#include <kin/runtime/unique_fd.hpp>

#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace kin::detail {

struct SocketAddress {
  std::string host;
  std::uint16_t port = 0;
  std::string path;  // Unix socket when not empty
};

/// socket + bind + listen. TCP sockets get SO_REUSEADDR.
unique_fd listen_on(const SocketAddress& a, int backlog = 128);
/// The address the socket is bound to (the real port for port 0).
SocketAddress local_address(int fd, const SocketAddress& requested);
/// socket + connect (TCP resolves `host` with getaddrinfo), given up with TimeoutError at
/// `deadline` — a full listen backlog makes connect() wait, on TCP (dropped SYNs) and Unix
/// sockets alike. The socket returned is blocking.
unique_fd connect_to(const SocketAddress& a, Deadline deadline = Deadline::never());
/// connect() of a Unix stream socket `s` to `sa` (`len` bytes of it: an abstract name's length
/// counts), given up with TimeoutError at `deadline`; `what` names it in errors. A full backlog
/// makes a Unix connect() wait, so a peer that stopped accepting cannot hold the caller.
void connect_unix(int s, const sockaddr_un& sa, socklen_t len, const std::string& what, Deadline deadline);
/// accept4(SOCK_CLOEXEC), retrying EINTR and transient errors.
unique_fd accept_from(int listen_fd);
/// A non-blocking accept4(SOCK_CLOEXEC | SOCK_NONBLOCK): an invalid fd when none is waiting.
/// Transient errors (a client that reset before the accept) are skipped; EMFILE and the like
/// throw OSError.
unique_fd try_accept(int listen_fd);

/// How soon a TCP connection to a host that vanished without closing it (powered off, cable
/// pulled, a partition) fails instead of waiting forever: keepalive probes after `idle` without
/// traffic, every `interval`, and TCP_USER_TIMEOUT = `user_timeout` for data sent and not
/// acknowledged (which also ends the probing: Linux closes when either has run its course). A
/// blocked read or write on the socket then fails with ETIMEDOUT. The defaults bound a silent
/// loss to about 10 s. A stopped (SIGSTOP) peer is not detected: its kernel still answers.
struct KeepAlive {
  std::chrono::seconds idle{5};
  std::chrono::seconds interval{1};
  int count = 5;
  std::chrono::milliseconds user_timeout{10'000};
};
/// Sets SO_KEEPALIVE, TCP_KEEPIDLE/KEEPINTVL/KEEPCNT and TCP_USER_TIMEOUT on a TCP socket.
/// OSError when the kernel refuses one; a Unix socket is left as it is.
void set_keepalive(int fd, const KeepAlive& k = {});

}  // namespace kin::detail
