// Length-prefixed frames on a byte stream (pipe, socketpair, TCP/Unix socket):
//     [u32 little-endian payload length][payload]
// A length over the configured maximum, EOF inside a frame, or a truncated frame raises
// kin::ProtocolError naming what was wrong; EOF exactly at a frame boundary raises
// kin::EOFError. A reader never allocates more than the bytes that actually arrived (a peer
// that claims 1 GiB and sends 10 bytes costs ~10 bytes), and never more than the maximum.
// EINTR and short reads/writes are handled; non-blocking fds are waited on with poll(). A
// timed read is bounded by one Deadline for the whole frame, not per read(). Writes never raise
// SIGPIPE. Nothing here outlives a crash: the only state is the reader's buffer.
//
//   write_frame(fd, payload);
//   auto f = read_frame(fd, Deadline::after(300ms), 256);   // nullopt: nothing came in time
#pragma once

#include <kin/codec.hpp>
#include <kin/runtime/deadline.hpp>
#include <kin/runtime/handover.hpp>
#include <kin/runtime/syscall.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

namespace kin::detail {

inline constexpr std::size_t kFrameHeaderSize = 4;
inline constexpr std::size_t kDefaultMaxFrame = std::size_t{1} << 30;  // 1 GiB
inline constexpr std::size_t kAbsoluteMaxFrame = 0xffffffffu;           // what a u32 can say

/// Writes one frame (header and payload, gathered in one write where possible) through the
/// SIGPIPE-safe writer (syscall.hpp). Throws BrokenPipeError when the peer is gone, ValueError
/// for a payload over `max_frame`, TimeoutError when `deadline` passes first.
void write_frame(int fd, std::span<const std::byte> payload, std::size_t max_frame,
                 const Deadline& deadline);
inline void write_frame(int fd, std::span<const std::byte> payload, std::size_t max_frame = kDefaultMaxFrame) {
  write_frame(fd, payload, max_frame, Deadline::never());
}

/// Writes `frame`, whose first kFrameHeaderSize bytes are reserved for the header, which this
/// fills in (encode into a buffer that starts with 4 spare bytes: one copy, one write).
void write_prefixed_frame(int fd, Bytes& frame, std::size_t max_frame = kDefaultMaxFrame,
                          FdKind kind = FdKind::probe, const Deadline& deadline = Deadline::never());

/// Reads one frame, and not one byte past it (the fd may be shared: what follows stays in the
/// kernel). EOFError at a boundary; ProtocolError for an oversized length or EOF inside.
[[nodiscard]] Bytes read_frame(int fd, std::size_t max_frame = kDefaultMaxFrame);

/// As read_frame, bounded in total by `deadline`: std::nullopt when no byte of a frame has
/// arrived by then; ProtocolError when the deadline passes in the middle of a frame (the
/// stream can no longer be parsed), so a peer dribbling a byte at a time cannot stretch it.
[[nodiscard]] std::optional<Bytes> read_frame(int fd, const Deadline& deadline,
                                              std::size_t max_frame = kDefaultMaxFrame);
/// read_frame(fd, Deadline::after(timeout), max_frame); a negative timeout waits forever.
[[nodiscard]] std::optional<Bytes> read_frame(int fd, std::chrono::milliseconds timeout,
                                              std::size_t max_frame = kDefaultMaxFrame);

/// Validates a header and returns the payload length it announces.
std::size_t parse_frame_header(std::span<const std::byte, kFrameHeaderSize> header, std::size_t max_frame);
void fill_frame_header(std::span<std::byte, kFrameHeaderSize> header, std::size_t length);

/// The one frame reader: a buffer of bytes read from a stream and the frames in it. Every
/// frame kin reads goes through it — ConnectionCore (buffered: one read() may bring many small
/// frames), read_frame (exact: never past the frame) and event loops (read_some, non-blocking)
/// — and the fuzz target (tests/fuzz/frame_reader_fuzz.cpp) drives this same code through feed().
/// It never holds more than the bytes that actually arrived plus one read's room, however
/// large a length the peer announces.
class FrameReader {
 public:
  /// How far fill() may read: `buffered` reads ahead (a chunk or more), `exact` only the rest
  /// of the current frame (for an fd shared with another reader).
  enum class ReadAhead { buffered, exact };

  explicit FrameReader(std::size_t max_frame = kDefaultMaxFrame) noexcept : max_frame_(max_frame) {}
  /// Reads with recvmsg() and keeps the fds that arrive (SCM_RIGHTS), for take_fds(). For an
  /// AF_UNIX socket whose frames may carry kin objects; a plain read() would drop them.
  void carry_fds(bool on) noexcept { carry_fds_ = on; }
  /// Reads what is available without blocking. Returns false at EOF (then `at_boundary()`
  /// tells whether the stream ended cleanly); throws ProtocolError for an oversized length.
  bool read_some(int fd);
  /// Appends bytes obtained elsewhere (tests, fuzzing, TLS layers).
  void feed(std::span<const std::byte> bytes);
  /// The next complete frame's payload, if one is buffered.
  [[nodiscard]] std::optional<Bytes> next();
  /// True when no partial frame is buffered.
  [[nodiscard]] bool at_boundary() const noexcept { return end_ == begin_; }
  /// Bytes buffered and not yet taken.
  [[nodiscard]] std::size_t buffered() const noexcept { return end_ - begin_; }

  /// The payload length of the complete frame at the front, if one is buffered (ProtocolError
  /// for an oversized header).
  [[nodiscard]] std::optional<std::size_t> complete_frame() const;
  /// The front frame's payload (complete_frame() must have returned `len`), then drop() it.
  [[nodiscard]] std::span<const std::byte> front_payload(std::size_t len) const noexcept {
    return {data_.get() + begin_ + kFrameHeaderSize, len};
  }
  void drop(std::size_t len) noexcept;
  /// The fds that were sent with the front frame (complete_frame() returned `len`); call before
  /// drop(). `truncated` is set when the kernel cut some off (more than kMaxFdsPerMessage).
  /// Fds of frames dropped unclaimed are closed, never leaked.
  [[nodiscard]] std::vector<unique_fd> take_fds(std::size_t len, bool& truncated) {
    return fds_.take(consumed_, consumed_ + kFrameHeaderSize + len, truncated);
  }

  /// Blocks until a complete frame is buffered; false when `deadline` passes first (a partial
  /// frame stays buffered for the next call). EOFError when the peer closed at a frame
  /// boundary, ProtocolError when it closed inside one. Waits with poll() on non-blocking fds.
  bool fill_frame(int fd, const Deadline& deadline, ReadAhead mode);
  /// One read toward the current frame (waiting up to `deadline`): false on timeout, else true
  /// after at least one byte arrived. EOF as for fill_frame.
  bool fill_once(int fd, const Deadline& deadline, ReadAhead mode);

  /// Forgets everything buffered (and closes any fds that came with it).
  void clear() noexcept;

 private:
  // One read(), or one recvmsg() that records the fds it brought (carry_fds).
  ssize_t read_into(int fd, std::byte* p, std::size_t n);
  // Room for `want` more bytes at end_ (moves the unread bytes to the front or reallocates).
  std::byte* room(std::size_t want);
  [[nodiscard]] std::span<const std::byte, kFrameHeaderSize> header() const noexcept {
    return std::span<const std::byte, kFrameHeaderSize>(data_.get() + begin_, kFrameHeaderSize);
  }

  std::size_t max_frame_;
  // data_[begin_, end_) are the unread bytes; the storage is not zero-filled (a read() fills
  // it), so a 64 KiB read-ahead costs no memset.
  std::unique_ptr<std::byte[]> data_;
  std::size_t capacity_ = 0, begin_ = 0, end_ = 0;
  std::uint64_t consumed_ = 0;  // the stream offset of data_[begin_]
  bool carry_fds_ = false;
  ReceivedFds fds_;
};

/// Encodes `x` as one frame and writes it.
template <class T>
void send_value(int fd, const T& x, std::size_t max_frame = kDefaultMaxFrame) {
  Bytes frame(kFrameHeaderSize);
  encode_into(frame, x);
  write_prefixed_frame(fd, frame, max_frame);
}

/// Reads one frame and decodes it as T (ProtocolError if it is not exactly one T).
template <class T>
[[nodiscard]] T recv_value(int fd, std::size_t max_frame = kDefaultMaxFrame) {
  return decode<T>(read_frame(fd, max_frame));
}

}  // namespace kin::detail
