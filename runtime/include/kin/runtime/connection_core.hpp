// ConnectionCore: the untyped half of kin::Connection<T> — one end of a pipe or a stream
// socket carrying length-prefixed frames (framing.hpp). Reads are buffered: one read() may
// bring many small frames, which later recv calls take without a system call. Writes never
// raise SIGPIPE (MSG_NOSIGNAL on sockets; SIGPIPE blocked around writes to pipes): a gone
// peer is a BrokenPipeError. Not thread-safe: one reader and one writer thread at a time,
// as for Python's Connection.
#pragma once

#include <kin/codec.hpp>
#include <kin/runtime/framing.hpp>
#include <kin/runtime/unique_fd.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <span>

namespace kin::detail {

class ConnectionCore {
 public:
  ConnectionCore(unique_fd fd, bool readable, bool writable, std::size_t max_frame = kDefaultMaxFrame);

  /// Writes one frame whose first kFrameHeaderSize bytes are reserved for the header.
  void send_prefixed(Bytes& frame);
  void send_bytes(std::span<const std::byte> payload);
  /// The next frame's payload; EOFError when the peer closed at a frame boundary.
  Bytes recv_bytes();
  /// As recv_bytes, or std::nullopt when no frame arrived within `timeout`.
  std::optional<Bytes> recv_bytes(std::chrono::milliseconds timeout);
  /// Copies the next frame into `buf` and returns its size. A frame larger than `buf` is a
  /// ValueError and stays queued for the next recv.
  std::size_t recv_bytes_into(std::span<std::byte> buf);
  /// True when a frame (or EOF) can be received without blocking within `timeout`.
  bool poll(std::chrono::milliseconds timeout);

  void close() noexcept;
  [[nodiscard]] bool closed() const noexcept { return !fd_; }
  [[nodiscard]] int fileno() const;
  [[nodiscard]] bool readable() const noexcept { return readable_; }
  [[nodiscard]] bool writable() const noexcept { return writable_; }

 private:
  void check_readable() const;
  void check_writable() const;
  void write_all(const std::byte* p, std::size_t n);
  // Length of the complete frame at the buffer's front, if there is one.
  std::optional<std::size_t> buffered_frame();
  // Reads more bytes (waiting at most `timeout`, negative = forever). False on timeout;
  // EOFError / ProtocolError at EOF depending on whether a frame was half-read.
  bool fill(std::chrono::milliseconds timeout);
  Bytes take(std::size_t len);

  unique_fd fd_;
  bool readable_, writable_, is_socket_;
  std::size_t max_frame_;
  Bytes buf_;
  std::size_t start_ = 0;  // consumed prefix of buf_
};

}  // namespace kin::detail
