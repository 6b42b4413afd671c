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

constexpr std::size_t kReadChunk = 64 * 1024;
// Storage this large is released once empty, so one huge frame does not pin its memory for
// the connection's life.
constexpr std::size_t kKeepBuffer = 16u << 20;

std::uint32_t to_le(std::uint32_t v) {
  if constexpr (std::endian::native == std::endian::big) return __builtin_bswap32(v);
  return v;
}

void check_payload_size(std::size_t len, std::size_t max_frame) {
  if (len > std::min(max_frame, kAbsoluteMaxFrame))
    throw ValueError("kin: message of " + std::to_string(len) + " bytes exceeds the maximum frame of " +
                     std::to_string(max_frame));
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

void write_frame(int fd, std::span<const std::byte> payload, std::size_t max_frame, const Deadline& deadline) {
  check_payload_size(payload.size(), max_frame);
  std::byte header[kFrameHeaderSize];
  fill_frame_header(std::span<std::byte, kFrameHeaderSize>(header), payload.size());
  iovec iov[2] = {{header, kFrameHeaderSize}, {const_cast<std::byte*>(payload.data()), payload.size()}};
  write_all(fd, iov, payload.empty() ? 1 : 2, FdKind::probe, deadline);
}

void write_prefixed_frame(int fd, Bytes& frame, std::size_t max_frame, FdKind kind, const Deadline& deadline) {
  if (frame.size() < kFrameHeaderSize) throw ValueError("kin: frame buffer lacks its header space");
  const std::size_t len = frame.size() - kFrameHeaderSize;
  check_payload_size(len, max_frame);
  fill_frame_header(std::span<std::byte, kFrameHeaderSize>(frame.data(), kFrameHeaderSize), len);
  write_all(fd, frame.data(), frame.size(), kind, deadline);
}

std::optional<Bytes> read_frame(int fd, const Deadline& deadline, std::size_t max_frame) {
  FrameReader reader{max_frame};
  if (!reader.fill_frame(fd, deadline, FrameReader::ReadAhead::exact)) {
    if (reader.at_boundary()) return std::nullopt;
    throw ProtocolError("kin: the peer stalled in the middle of a frame (" + std::to_string(reader.buffered()) +
                        " bytes of it arrived before the deadline)");
  }
  return reader.next();
}

Bytes read_frame(int fd, std::size_t max_frame) { return *read_frame(fd, Deadline::never(), max_frame); }

std::optional<Bytes> read_frame(int fd, std::chrono::milliseconds timeout, std::size_t max_frame) {
  return read_frame(fd, timeout.count() < 0 ? Deadline::never() : Deadline::after(timeout), max_frame);
}

// ---- FrameReader -----------------------------------------------------------------------------

void FrameReader::clear() noexcept {
  consumed_ += end_ - begin_;
  fds_.clear();
  begin_ = end_ = 0;
  if (capacity_ > kKeepBuffer) {
    data_.reset();
    capacity_ = 0;
  }
}

std::byte* FrameReader::room(std::size_t want) {
  if (capacity_ - end_ >= want) return data_.get() + end_;
  const std::size_t avail = buffered();
  if (begin_ > 0 && capacity_ - avail >= want) {  // enough once the unread bytes move down
    std::memmove(data_.get(), data_.get() + begin_, avail);
  } else {
    const std::size_t cap = std::max(avail + want, capacity_ + capacity_ / 2);
    auto bigger = std::make_unique_for_overwrite<std::byte[]>(cap);
    if (avail > 0) std::memcpy(bigger.get(), data_.get() + begin_, avail);
    data_ = std::move(bigger);
    capacity_ = cap;
  }
  begin_ = 0;
  end_ = avail;
  return data_.get() + end_;
}

void FrameReader::drop(std::size_t len) noexcept {
  begin_ += kFrameHeaderSize + len;
  consumed_ += kFrameHeaderSize + len;
  fds_.drop_until(consumed_);  // fds of a frame taken without them: closed now
  if (begin_ == end_) clear();
}

std::optional<std::size_t> FrameReader::complete_frame() const {
  const std::size_t avail = buffered();
  if (avail < kFrameHeaderSize) return std::nullopt;
  const std::size_t len = parse_frame_header(header(), max_frame_);
  if (avail - kFrameHeaderSize < len) return std::nullopt;
  return len;
}

std::optional<Bytes> FrameReader::next() {
  auto len = complete_frame();
  if (!len) return std::nullopt;
  auto payload = front_payload(*len);
  Bytes out(payload.begin(), payload.end());
  drop(*len);
  return out;
}

void FrameReader::feed(std::span<const std::byte> bytes) {
  if (bytes.empty()) return;
  std::memcpy(room(bytes.size()), bytes.data(), bytes.size());
  end_ += bytes.size();
}

ssize_t FrameReader::read_into(int fd, std::byte* p, std::size_t n) {
  if (!carry_fds_) return ::read(fd, p, n);
  std::vector<unique_fd> got;
  bool truncated = false;
  ssize_t r = recv_some_with_fds(fd, std::span<std::byte>(p, n), got, truncated);
  if (r > 0) {
    const int saved = errno;
    fds_.add(consumed_ + buffered() + static_cast<std::size_t>(r), std::move(got), truncated);
    errno = saved;
  }
  return r;
}

bool FrameReader::read_some(int fd) {
  for (;;) {
    ssize_t r = read_into(fd, room(kReadChunk), kReadChunk);
    const int err = errno;
    if (r > 0) {
      end_ += static_cast<std::size_t>(r);
      // Check the pending header now so an oversized length fails before we buffer more.
      (void)complete_frame();
      if (static_cast<std::size_t>(r) < kReadChunk) return true;
      continue;
    }
    if (r == 0) return false;
    if (err == EINTR) continue;
    if (err == EAGAIN) return true;
    if (err == ECONNRESET) return false;
    throw_errno("read", err);
  }
}

bool FrameReader::fill_once(int fd, const Deadline& deadline, ReadAhead mode) {
  if (complete_frame()) return true;
  const std::size_t avail = buffered();
  std::size_t want;
  if (avail < kFrameHeaderSize) {
    want = mode == ReadAhead::exact ? kFrameHeaderSize - avail : kReadChunk;
  } else {
    const std::size_t missing = kFrameHeaderSize + parse_frame_header(header(), max_frame_) - avail;
    // Room for the rest of an announced frame, but never more than doubling what really
    // arrived: a peer that claims 1 GiB and sends 10 bytes costs ~64 KiB.
    const std::size_t grow = std::max(kReadChunk, avail);
    want = mode == ReadAhead::exact ? std::min(missing, grow) : std::clamp(missing, kReadChunk, grow);
  }
  for (;;) {
    if (!deadline.infinite() && poll_fd(fd, POLLIN, std::chrono::milliseconds{deadline.poll_ms()}) == 0)
      return false;
    ssize_t r = read_into(fd, room(want), want);
    const int err = errno;
    if (r > 0) {
      end_ += static_cast<std::size_t>(r);
      return true;
    }
    if (r == 0 || err == ECONNRESET) {  // a reset peer is a closed peer
      if (at_boundary()) throw EOFError("kin: the peer has closed the connection");
      const std::size_t have = buffered();
      if (have < kFrameHeaderSize)
        throw ProtocolError("kin: truncated frame: EOF after " + std::to_string(have) + " of 4 header bytes");
      throw ProtocolError("kin: truncated frame: EOF after " + std::to_string(have - kFrameHeaderSize) + " of " +
                          std::to_string(parse_frame_header(header(), max_frame_)) + " payload bytes");
    }
    if (err == EINTR) continue;
    if (err == EAGAIN) {  // a non-blocking fd: wait for it (a finite deadline polls above)
      if (deadline.infinite()) poll_fd(fd, POLLIN, std::chrono::milliseconds{-1});
      else if (deadline.expired()) return false;
      continue;
    }
    throw_errno("read", err);
  }
}

bool FrameReader::fill_frame(int fd, const Deadline& deadline, ReadAhead mode) {
  while (!complete_frame())
    if (!fill_once(fd, deadline, mode)) return false;
  return true;
}

}  // namespace kin::detail
