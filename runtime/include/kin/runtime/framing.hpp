// Length-prefixed frames on a byte stream (pipe, socketpair, TCP/Unix socket):
//     [u32 little-endian payload length][payload]
// A length over the configured maximum, EOF inside a frame, or a truncated frame raises
// kin::ProtocolError naming what was wrong; EOF exactly at a frame boundary raises
// kin::EOFError. A reader never allocates more than the bytes that actually arrived (a peer
// that claims 1 GiB and sends 10 bytes costs ~10 bytes), and never more than the maximum.
// EINTR and short reads/writes are handled; non-blocking fds are waited on with poll().
#pragma once

#include <kin/codec.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace kin::detail {

inline constexpr std::size_t kFrameHeaderSize = 4;
inline constexpr std::size_t kDefaultMaxFrame = std::size_t{1} << 30;  // 1 GiB
inline constexpr std::size_t kAbsoluteMaxFrame = 0xffffffffu;           // what a u32 can say

/// Writes one frame (header and payload, gathered in one writev where possible).
/// Throws BrokenPipeError when the peer is gone, ValueError for a payload over `max_frame`.
void write_frame(int fd, std::span<const std::byte> payload, std::size_t max_frame = kDefaultMaxFrame);

/// Writes `frame`, whose first kFrameHeaderSize bytes are reserved for the header, which this
/// fills in (encode into a buffer that starts with 4 spare bytes: one copy, one write).
void write_prefixed_frame(int fd, Bytes& frame, std::size_t max_frame = kDefaultMaxFrame);

/// Reads one frame. EOFError at a boundary; ProtocolError for an oversized length or EOF inside.
[[nodiscard]] Bytes read_frame(int fd, std::size_t max_frame = kDefaultMaxFrame);

/// As read_frame, but gives up with std::nullopt when no frame *starts* within `timeout`.
/// Once the first byte of a frame has arrived, the rest is read to the end (a frame is never
/// half-consumed), bounded by `timeout` again per wait; a peer that stalls mid-frame longer
/// than that is a ProtocolError.
[[nodiscard]] std::optional<Bytes> read_frame(int fd, std::chrono::milliseconds timeout,
                                              std::size_t max_frame = kDefaultMaxFrame);

/// Validates a header and returns the payload length it announces.
std::size_t parse_frame_header(std::span<const std::byte, kFrameHeaderSize> header, std::size_t max_frame);
void fill_frame_header(std::span<std::byte, kFrameHeaderSize> header, std::size_t length);

/// Incremental reader for non-blocking fds (event loops): call `read_some` when the fd is
/// readable, then take complete frames with `next()`.
class FrameReader {
 public:
  explicit FrameReader(std::size_t max_frame = kDefaultMaxFrame) noexcept : max_frame_(max_frame) {}
  /// Reads what is available without blocking. Returns false at EOF (then `at_boundary()`
  /// tells whether the stream ended cleanly); throws ProtocolError for an oversized length.
  bool read_some(int fd);
  /// Appends bytes obtained elsewhere (tests, fuzzing, TLS layers).
  void feed(std::span<const std::byte> bytes);
  /// The next complete frame's payload, if one is buffered.
  [[nodiscard]] std::optional<Bytes> next();
  /// True when no partial frame is buffered.
  [[nodiscard]] bool at_boundary() const noexcept { return buffer_.size() == consumed_; }

 private:
  std::size_t max_frame_;
  Bytes buffer_;
  std::size_t consumed_ = 0;
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
