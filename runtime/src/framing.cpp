#include <kin/runtime/framing.hpp>
#include <kin/runtime/syscall.hpp>

#include <poll.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <string>

namespace kin::detail {

namespace {

using std::chrono::milliseconds;
constexpr milliseconds kForever{-1};
constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::size_t kGrowStep = 16u << 20;  // payload buffers grow as bytes arrive

std::uint32_t to_le(std::uint32_t v) {
  if constexpr (std::endian::native == std::endian::big) return __builtin_bswap32(v);
  return v;
}

void wait_for(int fd, short events, milliseconds timeout, const char* what) {
  short rev = poll_fd(fd, events, timeout);
  if (rev == 0) throw ProtocolError(std::string("kin: peer stalled ") + what);
}

// Writes all of iov[0..n), retrying short writes, EINTR and EAGAIN (non-blocking fds).
void write_all(int fd, iovec* iov, int n) {
  while (n > 0) {
    ssize_t w = ::writev(fd, iov, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        poll_fd(fd, POLLOUT, kForever);
        continue;
      }
      throw_errno("write");
    }
    auto left = static_cast<std::size_t>(w);
    while (n > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      ++iov;
      --n;
    }
    if (n > 0) {
      iov->iov_base = static_cast<char*>(iov->iov_base) + left;
      iov->iov_len -= left;
    }
  }
}

// Reads up to n bytes; 0 means EOF. Waits (poll) on EAGAIN, bounded by `timeout` per wait.
std::size_t read_some_blocking(int fd, std::byte* p, std::size_t n, milliseconds timeout,
                               const char* what) {
  for (;;) {
    ssize_t r = ::read(fd, p, n);
    if (r >= 0) return static_cast<std::size_t>(r);
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      wait_for(fd, POLLIN, timeout, what);
      continue;
    }
    if (errno == ECONNRESET) return 0;  // a reset peer is a closed peer
    throw_errno("read");
  }
}

// Reads one frame after its first header byte(s) are known to be coming.
Bytes read_frame_body(int fd, std::size_t max_frame, milliseconds timeout) {
  std::byte header[kFrameHeaderSize];
  std::size_t got = 0;
  while (got < kFrameHeaderSize) {
    auto r = read_some_blocking(fd, header + got, kFrameHeaderSize - got, timeout,
                                "in the middle of a frame header");
    if (r == 0) {
      if (got == 0) throw EOFError("kin: peer closed the connection");
      throw ProtocolError("kin: truncated frame: EOF after " + std::to_string(got) +
                          " of 4 header bytes");
    }
    got += r;
  }
  const std::size_t len = parse_frame_header(std::span<const std::byte, kFrameHeaderSize>(header), max_frame);
  Bytes payload;
  payload.resize(std::min(len, kGrowStep));
  std::size_t have = 0;
  while (have < len) {
    if (payload.size() == have) payload.resize(std::min(len, have + std::max(have, kGrowStep)));
    auto r = read_some_blocking(fd, payload.data() + have, payload.size() - have, timeout,
                                "in the middle of a frame");
    if (r == 0)
      throw ProtocolError("kin: truncated frame: EOF after " + std::to_string(have) + " of " +
                          std::to_string(len) + " payload bytes");
    have += r;
  }
  return payload;
}

}  // namespace

std::size_t parse_frame_header(std::span<const std::byte, kFrameHeaderSize> header, std::size_t max_frame) {
  std::uint32_t raw;
  std::memcpy(&raw, header.data(), sizeof raw);
  const std::size_t len = to_le(raw);
  if (len > max_frame)
    throw ProtocolError("kin: frame of " + std::to_string(len) + " bytes exceeds the maximum of " +
                        std::to_string(max_frame));
  return len;
}

void fill_frame_header(std::span<std::byte, kFrameHeaderSize> header, std::size_t length) {
  std::uint32_t raw = to_le(static_cast<std::uint32_t>(length));
  std::memcpy(header.data(), &raw, sizeof raw);
}

void write_frame(int fd, std::span<const std::byte> payload, std::size_t max_frame) {
  if (payload.size() > std::min(max_frame, kAbsoluteMaxFrame))
    throw ValueError("kin: message of " + std::to_string(payload.size()) +
                     " bytes exceeds the maximum frame of " + std::to_string(max_frame));
  std::byte header[kFrameHeaderSize];
  fill_frame_header(std::span<std::byte, kFrameHeaderSize>(header), payload.size());
  iovec iov[2] = {{header, kFrameHeaderSize}, {const_cast<std::byte*>(payload.data()), payload.size()}};
  write_all(fd, iov, payload.empty() ? 1 : 2);
}

void write_prefixed_frame(int fd, Bytes& frame, std::size_t max_frame) {
  if (frame.size() < kFrameHeaderSize) throw ValueError("kin: frame buffer lacks its header space");
  const std::size_t len = frame.size() - kFrameHeaderSize;
  if (len > std::min(max_frame, kAbsoluteMaxFrame))
    throw ValueError("kin: message of " + std::to_string(len) +
                     " bytes exceeds the maximum frame of " + std::to_string(max_frame));
  fill_frame_header(std::span<std::byte, kFrameHeaderSize>(frame.data(), kFrameHeaderSize), len);
  iovec iov{frame.data(), frame.size()};
  write_all(fd, &iov, 1);
}

Bytes read_frame(int fd, std::size_t max_frame) { return read_frame_body(fd, max_frame, kForever); }

std::optional<Bytes> read_frame(int fd, milliseconds timeout, std::size_t max_frame) {
  if (timeout.count() >= 0 && (poll_fd(fd, POLLIN, timeout) == 0)) return std::nullopt;
  return read_frame_body(fd, max_frame, timeout.count() >= 0 ? std::max(timeout, milliseconds{1000}) : kForever);
}

bool FrameReader::read_some(int fd) {
  for (;;) {
    if (consumed_ > 0 && consumed_ == buffer_.size()) {
      buffer_.clear();
      consumed_ = 0;
    }
    std::size_t old = buffer_.size();
    buffer_.resize(old + kReadChunk);
    ssize_t r = ::read(fd, buffer_.data() + old, kReadChunk);
    buffer_.resize(old + static_cast<std::size_t>(std::max<ssize_t>(r, 0)));
    if (r > 0) {
      // Check the pending header now so an oversized length fails before we buffer more.
      if (buffer_.size() - consumed_ >= kFrameHeaderSize)
        parse_frame_header(std::span<const std::byte, kFrameHeaderSize>(buffer_.data() + consumed_, kFrameHeaderSize), max_frame_);
      if (static_cast<std::size_t>(r) < kReadChunk) return true;
      continue;
    }
    if (r == 0) return false;
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return true;
    if (errno == ECONNRESET) return false;
    throw_errno("read");
  }
}

void FrameReader::feed(std::span<const std::byte> bytes) {
  buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
}

std::optional<Bytes> FrameReader::next() {
  const std::size_t avail = buffer_.size() - consumed_;
  if (avail < kFrameHeaderSize) return std::nullopt;
  const std::size_t len = parse_frame_header(
      std::span<const std::byte, kFrameHeaderSize>(buffer_.data() + consumed_, kFrameHeaderSize), max_frame_);
  if (avail - kFrameHeaderSize < len) return std::nullopt;
  auto begin = buffer_.begin() + static_cast<std::ptrdiff_t>(consumed_ + kFrameHeaderSize);
  Bytes payload(begin, begin + static_cast<std::ptrdiff_t>(len));
  consumed_ += kFrameHeaderSize + len;
  if (consumed_ == buffer_.size()) {
    buffer_.clear();
    consumed_ = 0;
  }
  return payload;
}

}  // namespace kin::detail
