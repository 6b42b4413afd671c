// TLS (OpenSSL) for kin's stream connections, as a relay: a thread per connection carries the
// bytes between a TLS session on the TCP socket and a plain local socket, so everything above
// it — the HMAC handshake, framing, blocking and event-loop I/O — runs unchanged on a plain fd.
//
//   TlsConfig tls{.ca_file = "ca.pem"};
//   unique_fd plain = tls_connect(connect_to(address, deadline), tls, address.host, deadline);
//   run_handshake(plain.get(), key, Handshake::Role::client, deadline);     // inside TLS
//
//   TlsFront front{SocketAddress{"0.0.0.0", 50000}, TlsConfig{.cert_file = "c.pem", .key_file = "k.pem"},
//                  SocketAddress{"", 0, "/tmp/inner.sock"}};   // decrypted, to a local listener
//
// Client: tls_connect verifies the server's certificate against `ca_file` (else the system's
// CAs) and its name (`server_name`, else the host connected to: a DNS name or an IP literal),
// and presents `cert_file`/`key_file` when given (mutual TLS). Server: TlsFront accepts TCP
// connections at its address, runs the TLS handshake (bounded: a peer that sends nothing for
// 2 s — a plaintext client waiting for the server to speak — or does not finish in 10 s is
// closed), requires a client certificate signed by `ca_file` when one is given, and connects
// each to `inner`, relaying until either side closes. A failed handshake (an untrusted
// certificate, a wrong name, a peer that is not TLS) is AuthenticationError for the client;
// the front closes that connection and serves on.
//
// A crash: the relay threads die with the process, and so do the sockets; the peer sees the
// connection close. A fork child never relays: the relays' sockets are closed in it (kin's
// fork handler), so a parent's connection ends when the parent closes it, as a plain one does.
// Costs: a thread and two copies per connection, and TLS records for every frame.
#pragma once

#include <kin/runtime/deadline.hpp>
#include <kin/runtime/socket_util.hpp>
#include <kin/runtime/unique_fd.hpp>

#include <memory>
#include <string>

namespace kin::detail {

struct TlsConfig {
  std::string cert_file{};    // PEM certificate (chain) of this side: the server's, required there
  std::string key_file{};     // PEM private key of cert_file
  std::string ca_file{};      // PEM CA(s) the peer's certificate must chain to (client: empty =
                              // the system's; server: set = clients must present one)
  std::string server_name{};  // client: the name the server's certificate must carry (empty:
                              // the host connected to)
};

/// TLS client over the connected socket `tcp`, handshake within `deadline`; returns the plain
/// end whose bytes a relay thread carries over TLS. AuthenticationError when the handshake
/// fails (certificate, name, not TLS), TimeoutError at the deadline, ValueError for a file that
/// cannot be loaded.
unique_fd tls_connect(unique_fd tcp, const TlsConfig& config, const std::string& host, const Deadline& deadline);

/// Accepts TLS at `listen_at` and relays each connection, decrypted, to a new connection to
/// `inner`. Listening starts in the constructor (OSError, or ValueError for a config without a
/// certificate or with files that do not load); close() (or the destructor) stops accepting and
/// waits for the relays, which end when either side closes.
class TlsFront {
 public:
  TlsFront(const SocketAddress& listen_at, const TlsConfig& config, SocketAddress inner);
  TlsFront(const TlsFront&) = delete;
  TlsFront& operator=(const TlsFront&) = delete;
  ~TlsFront();
  /// Where it listens (the real port for port 0).
  [[nodiscard]] const SocketAddress& address() const noexcept;
  void close() noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kin::detail
