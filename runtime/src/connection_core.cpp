#include <kin/runtime/connection_core.hpp>
#include <kin/runtime/syscall.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace kin::detail {

namespace {

constexpr std::size_t kReadChunk = 64 * 1024;
using std::chrono::milliseconds;

// Writes to a pipe with SIGPIPE blocked in this thread; a SIGPIPE our write raised is
// consumed so it is not delivered later.
ssize_t write_no_sigpipe(int fd, const void* p, std::size_t n) {
  sigset_t pipe_only, old;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  sigset_t pending;
  sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
  ssize_t w = ::write(fd, p, n);
  int err = errno;
  if (w < 0 && err == EPIPE && !was_pending) {
    timespec zero{0, 0};
    while (sigtimedwait(&pipe_only, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = err;
  return w;
}

}  // namespace

ConnectionCore::ConnectionCore(unique_fd fd, bool readable, bool writable, std::size_t max_frame)
    : fd_(std::move(fd)), readable_(readable), writable_(writable), max_frame_(max_frame) {
  struct stat st {};
  is_socket_ = ::fstat(fd_.get(), &st) == 0 && S_ISSOCK(st.st_mode);
}

int ConnectionCore::fileno() const {
  if (!fd_) throw ValueError("kin::Connection: handle is closed");
  return fd_.get();
}

void ConnectionCore::check_readable() const {
  if (!fd_) throw ValueError("kin::Connection: handle is closed");
  if (!readable_) throw ValueError("kin::Connection: connection is write-only");
}

void ConnectionCore::check_writable() const {
  if (!fd_) throw ValueError("kin::Connection: handle is closed");
  if (!writable_) throw ValueError("kin::Connection: connection is read-only");
}

void ConnectionCore::close() noexcept {
  fd_.reset();
  buf_.clear();
  start_ = 0;
}

void ConnectionCore::write_all(const std::byte* p, std::size_t n) {
  while (n > 0) {
    ssize_t w = is_socket_ ? ::send(fd_.get(), p, n, MSG_NOSIGNAL) : write_no_sigpipe(fd_.get(), p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        poll_fd(fd_.get(), POLLOUT, milliseconds{-1});
        continue;
      }
      if (errno == EPIPE || errno == ECONNRESET) throw BrokenPipeError("kin::Connection::send: the peer has closed");
      throw_errno("write");
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

void ConnectionCore::send_prefixed(Bytes& frame) {
  check_writable();
  const std::size_t len = frame.size() - kFrameHeaderSize;
  if (len > std::min(max_frame_, kAbsoluteMaxFrame))
    throw ValueError("kin::Connection::send: message of " + std::to_string(len) +
                     " bytes exceeds the maximum frame of " + std::to_string(max_frame_));
  fill_frame_header(std::span<std::byte, kFrameHeaderSize>(frame.data(), kFrameHeaderSize), len);
  write_all(frame.data(), frame.size());
}

void ConnectionCore::send_bytes(std::span<const std::byte> payload) {
  check_writable();
  if (payload.size() > std::min(max_frame_, kAbsoluteMaxFrame))
    throw ValueError("kin::Connection::send_bytes: message of " + std::to_string(payload.size()) +
                     " bytes exceeds the maximum frame of " + std::to_string(max_frame_));
  std::byte header[kFrameHeaderSize];
  fill_frame_header(std::span<std::byte, kFrameHeaderSize>(header), payload.size());
  if (payload.size() <= 64 * 1024) {  // one write for small messages
    Bytes frame(header, header + kFrameHeaderSize);
    frame.insert(frame.end(), payload.begin(), payload.end());
    write_all(frame.data(), frame.size());
  } else {
    write_all(header, kFrameHeaderSize);
    write_all(payload.data(), payload.size());
  }
}

std::optional<std::size_t> ConnectionCore::buffered_frame() {
  const std::size_t avail = buf_.size() - start_;
  if (avail < kFrameHeaderSize) return std::nullopt;
  std::size_t len = parse_frame_header(std::span<const std::byte, kFrameHeaderSize>(buf_.data() + start_, kFrameHeaderSize), max_frame_);
  if (avail - kFrameHeaderSize < len) return std::nullopt;
  return len;
}

bool ConnectionCore::fill(milliseconds timeout) {
  if (timeout.count() >= 0 && poll_fd(fd_.get(), POLLIN, timeout) == 0) return false;
  if (start_ > 0 && (start_ == buf_.size() || start_ > buf_.size() / 2)) {  // compact
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(start_));
    start_ = 0;
  }
  // Read at least a chunk; for a large announced frame, room for all of it (bounded by
  // max_frame, and grown only as bytes arrive).
  std::size_t want = kReadChunk;
  if (buf_.size() - start_ >= kFrameHeaderSize) {
    std::size_t len = parse_frame_header(std::span<const std::byte, kFrameHeaderSize>(buf_.data() + start_, kFrameHeaderSize), max_frame_);
    std::size_t missing = kFrameHeaderSize + len - (buf_.size() - start_);
    want = std::clamp(missing, kReadChunk, std::max(kReadChunk, buf_.size() - start_));
  }
  const std::size_t old = buf_.size();
  buf_.resize(old + want);
  ssize_t r = retry_eintr([&] { return ::read(fd_.get(), buf_.data() + old, want); });
  if (r < 0 && errno == ECONNRESET) r = 0;
  if (r < 0) {
    buf_.resize(old);
    throw_errno("read");
  }
  buf_.resize(old + static_cast<std::size_t>(r));
  if (r == 0) {
    if (buf_.size() == start_) throw EOFError("kin::Connection::recv: the peer has closed");
    throw ProtocolError("kin::Connection::recv: the peer closed in the middle of a frame (" +
                        std::to_string(buf_.size() - start_) + " bytes of it arrived)");
  }
  return true;
}

Bytes ConnectionCore::take(std::size_t len) {
  auto begin = buf_.begin() + static_cast<std::ptrdiff_t>(start_ + kFrameHeaderSize);
  Bytes out(begin, begin + static_cast<std::ptrdiff_t>(len));
  start_ += kFrameHeaderSize + len;
  if (start_ == buf_.size()) {
    buf_.clear();
    start_ = 0;
  }
  return out;
}

Bytes ConnectionCore::recv_bytes() {
  check_readable();
  for (;;) {
    if (auto len = buffered_frame()) return take(*len);
    fill(milliseconds{-1});
  }
}

std::optional<Bytes> ConnectionCore::recv_bytes(milliseconds timeout) {
  check_readable();
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (auto len = buffered_frame()) return take(*len);
    auto left = std::chrono::ceil<milliseconds>(deadline - std::chrono::steady_clock::now());
    if (!fill(std::max(left, milliseconds{0}))) return std::nullopt;
  }
}

std::size_t ConnectionCore::recv_bytes_into(std::span<std::byte> out) {
  check_readable();
  for (;;) {
    if (auto len = buffered_frame()) {
      if (*len > out.size())
        throw ValueError("kin::Connection::recv_bytes_into: buffer of " + std::to_string(out.size()) +
                         " bytes is too short for a message of " + std::to_string(*len) + " bytes");
      std::memcpy(out.data(), buf_.data() + start_ + kFrameHeaderSize, *len);
      start_ += kFrameHeaderSize + *len;
      return *len;
    }
    fill(milliseconds{-1});
  }
}

bool ConnectionCore::poll(milliseconds timeout) {
  check_readable();
  if (buffered_frame()) return true;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::ceil<milliseconds>(deadline - std::chrono::steady_clock::now());
    try {
      if (!fill(std::max(left, milliseconds{0}))) return false;
    } catch (const EOFError&) {
      return true;  // EOF is "readable": the next recv reports it
    }
    if (buffered_frame()) return true;
  }
}

}  // namespace kin::detail
