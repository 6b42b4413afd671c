// kin::Listener<T> and kin::Client<T>: Connections between unrelated processes — and
// machines — over TCP or Unix sockets (Python's multiprocessing.connection).
//
//   kin::Listener<Job> l{kin::Address{"127.0.0.1", 0}, "secret"};  // port 0: any free port
//   auto port = l.address().port;
//   kin::Connection<Job> c = l.accept();                            // in the server
//   kin::Connection<Job> s = kin::Client<Job>(kin::Address{"127.0.0.1", port}, "secret");
//
// With an authkey, both sides prove they know it (HMAC-SHA256 challenge-response in both
// directions) before any payload is decoded: a wrong key is kin::AuthenticationError on
// both sides, and the listener keeps serving. The listener's accepts and handshakes run on
// kin's runtime thread, each handshake bounded as a whole by the handshake timeout (default
// 5 s) with one timer — no thread per client — so a client that sends garbage, nothing, or a
// byte now and then never holds up the others and is dropped at its deadline; destroying a
// Listener never waits for a client. On the client side the timeout bounds connect() (a full
// backlog) and the handshake (a slow server) together: kin::TimeoutError after it. An empty
// authkey means no handshake (Python's authkey=None). A Unix socket's path is removed by
// close().
#pragma once

#include <kin/address.hpp>
#include <kin/connection.hpp>
#include <kin/runtime/listener_core.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace kin {

namespace detail {
inline SocketAddress to_socket_address(const Address& a) { return SocketAddress{a.host, a.port, a.path}; }
}  // namespace detail

template <class T>
class Listener {
 public:
  explicit Listener(const Address& address, std::string authkey = {},
                    std::chrono::milliseconds handshake_timeout = std::chrono::seconds(5))
      : core_(std::make_unique<detail::ListenerCore>(detail::to_socket_address(address), std::move(authkey),
                                                     handshake_timeout)) {}

  /// The next authenticated connection (AuthenticationError for a client with a wrong key).
  [[nodiscard]] Connection<T> accept() { return Connection<T>{core_->accept(), true, true}; }
  /// Where it listens (the real port when 0 was asked for).
  [[nodiscard]] Address address() const {
    const auto& a = core_->address();
    if (!a.path.empty()) return Address::unix_path(a.path);
    return Address{a.host, a.port};
  }
  void close() noexcept { core_->close(); }
  [[nodiscard]] bool closed() const noexcept { return core_->closed(); }

 private:
  std::unique_ptr<detail::ListenerCore> core_;
};

/// Connects to a Listener; with an authkey, authenticates both ways first. `timeout` bounds the
/// connect and the handshake together (TimeoutError).
template <class T>
[[nodiscard]] Connection<T> Client(const Address& address, const std::string& authkey = {},
                                   std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  return Connection<T>{detail::client_connect(detail::to_socket_address(address), authkey, timeout), true, true};
}

}  // namespace kin
