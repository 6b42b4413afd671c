// ConnectionCore: the untyped half of kin::Connection<T> — one end of a pipe or a stream
// socket carrying length-prefixed frames (framing.hpp), read by the one FrameReader. recv is
// buffered: one read() may bring many small frames, which later recv calls take without a
// system call. poll() never reads past the frame it is completing, and with nothing buffered it
// reads nothing at all, so an end shared by two processes loses no message to a poll. Writes go
// through the SIGPIPE-safe writer (syscall.hpp): a gone peer is a BrokenPipeError, never a
// death. A timed recv is bounded by its deadline in total. Not thread-safe: one reader and one
// writer thread at a time, as for Python's Connection.
//
// On an AF_UNIX socket (a duplex Pipe, a Unix-path Listener/Client) a frame may carry fds: the
// sender passes them to send_prefixed, they ride as SCM_RIGHTS on the frame's first byte, and
// the recv that returns that frame returns them too (handover.hpp's ReceivedFds matches them to
// it). Fds are never dropped silently or leaked: a frame's fds nobody asks for are closed with
// it, fds still in flight are closed with the connection, and a frame whose fds the kernel cut
// short (MSG_CTRUNC) is a ProtocolError once its turn comes, the frames after it intact. On a
// pipe(2) or a TCP socket, sending fds is a ValueError naming the fix.
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
#include <vector>

namespace kin::detail {

class ConnectionCore {
 public:
  ConnectionCore(unique_fd fd, bool readable, bool writable, std::size_t max_frame = kDefaultMaxFrame);

  /// Writes one frame whose first kFrameHeaderSize bytes are reserved for the header, with
  /// `fds` (duplicated by the kernel; the caller keeps its own) riding beside it.
  void send_prefixed(Bytes& frame, const std::vector<unique_fd>& fds = {});
  void send_bytes(std::span<const std::byte> payload);
  /// The next frame's payload; EOFError when the peer closed at a frame boundary.
  Bytes recv_bytes();
  /// As recv_bytes, or std::nullopt when no whole frame arrived by `deadline` (a partial one
  /// stays buffered for the next call).
  std::optional<Bytes> recv_bytes(const Deadline& deadline);
  std::optional<Bytes> recv_bytes(std::chrono::milliseconds timeout) { return recv_bytes(Deadline::after(timeout)); }
  /// As recv_bytes, and the fds that came with the frame are appended to `fds`. ProtocolError
  /// (the frame consumed, its fds closed) when some of its fds were cut off in transit.
  Bytes recv_bytes(std::vector<unique_fd>& fds);
  std::optional<Bytes> recv_bytes(const Deadline& deadline, std::vector<unique_fd>& fds);
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
  /// True when this end can carry fds (an AF_UNIX socket).
  [[nodiscard]] bool carries_fds() const noexcept { return carries_fds_; }

 private:
  void check_readable() const;
  void check_writable() const;
  void write_iov(iovec* iov, int n);
  Bytes take(std::size_t len, std::vector<unique_fd>* fds);

  unique_fd fd_;
  bool readable_, writable_;
  FdKind kind_;
  bool carries_fds_;
  std::size_t max_frame_;
  FrameReader reader_;
};

}  // namespace kin::detail
