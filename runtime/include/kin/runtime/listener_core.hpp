// The untyped half of kin::Listener / kin::Client: a listening socket whose connections are
// authenticated (auth.hpp) before accept() hands them over, and the client's connect.
//
//   ListenerCore l{addr, "key", 5s};  auto fd = l.accept();          // server
//   auto fd = client_connect(addr, "key", 5s);                       // client
//
// With a key, accepting and handshaking run on the runtime thread (runtime.hpp): the listening
// socket is watched, every client gets a non-blocking handshake and ONE timer for the whole
// handshake — no thread per client, no polling — so a silent, slow or dribbling client is
// dropped at its deadline and never holds up the others. accept() takes the next
// authenticated connection (or reports a wrong key as AuthenticationError). At most
// kMaxPending connections wait, authenticated or in handshake, before the runtime stops
// accepting until accept() takes one. Destroying or closing a ListenerCore never waits for a
// client: handshakes in flight are dropped. Without a key, accept() is a plain accept(2) on the
// caller's thread.
#pragma once

#include <kin/runtime/socket_util.hpp>
#include <kin/runtime/unique_fd.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace kin::detail {

class ListenerCore {
 public:
  static constexpr std::size_t kMaxPending = 256;

  ListenerCore(const SocketAddress& a, std::string authkey, std::chrono::milliseconds handshake_timeout,
               int backlog = 128);
  ListenerCore(const ListenerCore&) = delete;
  ListenerCore& operator=(const ListenerCore&) = delete;
  ~ListenerCore();

  /// The next authenticated connection (a blocking fd). A client with the wrong key:
  /// AuthenticationError (the listener keeps serving). A client that sends garbage, or does not
  /// finish the handshake within the handshake timeout, is dropped. ValueError once closed.
  unique_fd accept();
  [[nodiscard]] const SocketAddress& address() const noexcept { return address_; }
  void close() noexcept;
  [[nodiscard]] bool closed() const noexcept;

  struct Shared;

 private:
  std::shared_ptr<Shared> shared_;
  SocketAddress address_;
};

/// Connects and, with a non-empty key, authenticates both ways, all within `timeout`:
/// TimeoutError when connect() (a full backlog) or the handshake (a slow server) takes longer.
unique_fd client_connect(const SocketAddress& a, const std::string& authkey, std::chrono::milliseconds timeout);

}  // namespace kin::detail
