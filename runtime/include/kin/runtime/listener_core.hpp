// The untyped half of kin::Listener / kin::Client: a listening socket whose accept() runs the
// authkey handshake (auth.hpp) before it hands a connection over, and the client's connect.
#pragma once

#include <kin/runtime/socket_util.hpp>
#include <kin/runtime/unique_fd.hpp>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <string>

namespace kin::detail {

class ListenerCore {
 public:
  ListenerCore(const SocketAddress& a, std::string authkey, std::chrono::milliseconds handshake_timeout);
  ListenerCore(const ListenerCore&) = delete;
  ListenerCore& operator=(const ListenerCore&) = delete;
  ~ListenerCore();

  /// The next authenticated connection. Handshakes run concurrently (one short-lived thread
  /// each), so a slow or silent client never holds up the others. A client with the wrong
  /// key: AuthenticationError (the listener keeps serving). A client that sends garbage, or
  /// nothing within the handshake timeout, is dropped.
  unique_fd accept();
  [[nodiscard]] const SocketAddress& address() const noexcept { return address_; }
  void close() noexcept;
  [[nodiscard]] bool closed() const noexcept { return !sock_; }

 private:
  void handshake(unique_fd c);

  unique_fd sock_;
  SocketAddress address_;
  std::string key_;
  std::chrono::milliseconds timeout_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<unique_fd> ready_;            // authenticated, not yet returned by accept()
  std::deque<std::exception_ptr> failed_;  // wrong keys, reported by accept()
  int in_flight_ = 0;                      // handshake threads still running
};

/// Connects and, with a non-empty key, authenticates both ways.
unique_fd client_connect(const SocketAddress& a, const std::string& authkey, std::chrono::milliseconds timeout);

}  // namespace kin::detail
