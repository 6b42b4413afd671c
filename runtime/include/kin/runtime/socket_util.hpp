// Listening and connecting stream sockets (TCP or Unix), close-on-exec, for Listener/Client.
#pragma once

#include <kin/runtime/deadline.hpp>
#include <kin/runtime/unique_fd.hpp>

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
/// accept4(SOCK_CLOEXEC), retrying EINTR and transient errors.
unique_fd accept_from(int listen_fd);
/// A non-blocking accept4(SOCK_CLOEXEC | SOCK_NONBLOCK): an invalid fd when none is waiting.
/// Transient errors (a client that reset before the accept) are skipped; EMFILE and the like
/// throw OSError.
unique_fd try_accept(int listen_fd);

}  // namespace kin::detail
