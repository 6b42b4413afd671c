// The authkey handshake of Listener/Client, as Python's multiprocessing.connection does it,
// with HMAC-SHA256 (OpenSSL): each side proves it knows the key by answering a random
// challenge from the other, before any payload is decoded. Handshake frames are tiny (max
// 256 bytes).
//
//   Handshake h{key, Handshake::Role::client};
//   for (;;) { send_all(h.take_output()); h.check(); if (h.finished()) break;
//              read exactly h.want() bytes (or fewer); h.feed(bytes); }
//
// Handshake is the protocol without I/O, so the Listener drives it on the runtime thread
// (non-blocking, one timer for the whole handshake) and the Client drives it with a blocking
// loop bounded by one Deadline. It never asks for more bytes than the current frame needs, so
// nothing that follows the handshake on the stream is consumed.
#pragma once

#include <kin/runtime/deadline.hpp>

#include <cstddef>
#include <exception>
#include <string>

namespace kin::detail {

class Handshake {
 public:
  // server: deliver_challenge, then answer_challenge; client: the other way round.
  enum class Role { server, client };
  Handshake(std::string key, Role role);

  /// Bytes to write now (whole frames); empty while waiting for the peer.
  [[nodiscard]] std::string take_output();
  /// How many bytes the current frame still needs (header or payload); 0 when finished or
  /// failed.
  [[nodiscard]] std::size_t want() const noexcept;
  /// Bytes from the peer, at most want(). Throws ProtocolError for a malformed or oversized
  /// frame; a wrong key is recorded and raised by check() once the reply is written.
  void feed(const char* data, std::size_t n);
  /// Rethrows the failure (AuthenticationError, ProtocolError), if any, once its last output
  /// (a #FAILURE# reply) has been taken.
  void check() const;
  [[nodiscard]] bool failed() const noexcept { return error_ != nullptr; }
  /// Authenticated both ways, with all output taken.
  [[nodiscard]] bool finished() const noexcept { return step_ == Step::done && out_.empty() && !error_; }

 private:
  enum class Step { wait_answer, wait_peer_challenge, wait_verdict, done };
  void on_frame(const std::string& payload);
  void send_frame(const std::string& payload);
  void send_challenge();

  std::string key_;
  Role role_;
  Step step_;
  bool challenged_ = false;  // our own challenge has been sent and answered
  std::string nonce_;
  std::string out_;
  std::string in_;
  std::size_t need_ = 4;  // bytes until the current header or payload is complete
  bool in_header_ = true;
  std::exception_ptr error_;
};

/// Runs the handshake on a connected socket with blocking I/O, until `deadline` for all of
/// it. AuthenticationError for a wrong key, TimeoutError when the deadline passes,
/// ProtocolError for a malformed handshake or a peer that closed.
void run_handshake(int fd, const std::string& key, Handshake::Role role, Deadline deadline);

/// `bytes` random bytes from the kernel's CSPRNG (OpenSSL's RAND_bytes) as 2×bytes hex digits:
/// the generated authkeys, key files and tokens.
[[nodiscard]] std::string random_hex(std::size_t bytes);

}  // namespace kin::detail
