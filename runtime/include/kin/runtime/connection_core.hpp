// ConnectionCore: the untyped half of kin::Connection<T> — one end of a pipe or a stream
// socket carrying length-prefixed frames (framing.hpp), read by the one FrameReader. recv is
// buffered: one read() may bring many small frames, which later recv calls take without a
// system call. poll() never reads past the frame it is completing, and with nothing buffered it
// reads nothing at all, so an end shared by two processes loses no message to a poll. Writes go
// through the SIGPIPE-safe writer (syscall.hpp): a gone peer is a BrokenPipeError, never a
// death. A timed recv is bounded by its deadline in total. Not thread-safe: one reader and one
// writer thread at a time, as for Python's Connection.
//
//   ConnectionCore c{std::move(fd), /*readable=*/true, /*writable=*/true};
//   c.send_bytes(payload);  auto b = c.recv_bytes(Deadline::after(1s));   // nullopt on timeout
#pragma once

#include <kin/codec.hpp>
#include <kin/runtime/deadline.hpp>
#include <kin/runtime/framing.hpp>
#include <kin/runtime/syscall.hpp>
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
  /// As recv_bytes, or std::nullopt when no whole frame arrived by `deadline` (a partial one
  /// stays buffered for the next call).
  std::optional<Bytes> recv_bytes(const Deadline& deadline);
  std::optional<Bytes> recv_bytes(std::chrono::milliseconds timeout) { return recv_bytes(Deadline::after(timeout)); }
  /// Copies the next frame into `buf` and returns its size. A frame larger than `buf` is a
  /// ValueError and stays queued for the next recv.
  std::size_t recv_bytes_into(std::span<std::byte> buf);
  /// True when a frame, the start of one, or EOF is waiting (by `timeout`): recv then returns
  /// without waiting for anything but the rest of a frame the peer is writing. Consumes
  /// nothing but the rest of a frame already begun.
  bool poll(const Deadline& deadline);
  bool poll(std::chrono::milliseconds timeout) { return poll(Deadline::after(timeout)); }

  void close() noexcept;
  [[nodiscard]] bool closed() const noexcept { return !fd_; }
  [[nodiscard]] int fileno() const;
  [[nodiscard]] bool readable() const noexcept { return readable_; }
  [[nodiscard]] bool writable() const noexcept { return writable_; }

 private:
  void check_readable() const;
  void check_writable() const;
  void write_iov(iovec* iov, int n);
  Bytes take(std::size_t len);

  unique_fd fd_;
  bool readable_, writable_;
  FdKind kind_;
  std::size_t max_frame_;
  FrameReader reader_;
};

}  // namespace kin::detail
