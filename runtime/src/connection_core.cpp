#include <kin/runtime/connection_core.hpp>
#include <kin/runtime/handover.hpp>
#include <kin/runtime/syscall.hpp>

#include <poll.h>
#include <sys/uio.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace kin::detail {

using std::chrono::milliseconds;

ConnectionCore::ConnectionCore(unique_fd fd, bool readable, bool writable, std::size_t max_frame)
    : fd_(std::move(fd)),
      readable_(readable),
      writable_(writable),
      kind_(fd_kind(fd_.get())),
      carries_fds_(kind_ == FdKind::socket && is_unix_socket(fd_.get())),
      max_frame_(max_frame),
      reader_(max_frame) {
  reader_.carry_fds(carries_fds_);
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
  reader_.clear();
}

void ConnectionCore::write_iov(iovec* iov, int n) {
  try {
    write_all(fd_.get(), iov, n, kind_);
  } catch (const BrokenPipeError&) {
    throw BrokenPipeError("kin::Connection::send: the peer has closed");
  }
}

void ConnectionCore::send_prefixed(Bytes& frame, const std::vector<unique_fd>& fds) {
  check_writable();
  if (frame.size() < kFrameHeaderSize) throw ValueError("kin: frame buffer lacks its header space");
  const std::size_t len = frame.size() - kFrameHeaderSize;
  if (len > std::min(max_frame_, kAbsoluteMaxFrame))
    throw ValueError("kin::Connection::send: message of " + std::to_string(len) +
                     " bytes exceeds the maximum frame of " + std::to_string(max_frame_));
  fill_frame_header(std::span<std::byte, kFrameHeaderSize>(frame.data(), kFrameHeaderSize), len);
  if (!fds.empty()) {
    if (!carries_fds_)
      throw ValueError(std::string("kin::Connection::send: this message holds fds (a Connection, Queue, "
                                   "SharedMemory... or a send_handle), which only an AF_UNIX socket can carry, "
                                   "and this end is ") +
                       (kind_ == FdKind::socket ? "a TCP socket" : "a pipe(2) (a simplex Pipe)") +
                       ": use a duplex kin::Pipe<T>() (a socketpair) or a Listener/Client on a Unix-socket path");
    if (fds.size() > kMaxFdsPerMessage)
      throw ValueError("kin::Connection::send: " + std::to_string(fds.size()) + " fds in one message (at most " +
                       std::to_string(kMaxFdsPerMessage) + ")");
    std::vector<int> raw;
    raw.reserve(fds.size());
    for (auto& f : fds) raw.push_back(f.get());
    try {
      send_with_fds(fd_.get(), frame, raw);
    } catch (const BrokenPipeError&) {
      throw BrokenPipeError("kin::Connection::send: the peer has closed");
    }
    return;
  }
  iovec iov{frame.data(), frame.size()};
  write_iov(&iov, 1);
}

void ConnectionCore::send_bytes(std::span<const std::byte> payload) {
  check_writable();
  if (payload.size() > std::min(max_frame_, kAbsoluteMaxFrame))
    throw ValueError("kin::Connection::send_bytes: message of " + std::to_string(payload.size()) +
                     " bytes exceeds the maximum frame of " + std::to_string(max_frame_));
  std::byte header[kFrameHeaderSize];
  fill_frame_header(std::span<std::byte, kFrameHeaderSize>(header), payload.size());
  iovec iov[2] = {{header, kFrameHeaderSize}, {const_cast<std::byte*>(payload.data()), payload.size()}};
  write_iov(iov, payload.empty() ? 1 : 2);  // one gathered write, no copy
}

Bytes ConnectionCore::take(std::size_t len, std::vector<unique_fd>* fds) {
  bool truncated = false;
  auto came = reader_.take_fds(len, truncated);  // closed on return unless the caller wants them
  auto p = reader_.front_payload(len);
  Bytes out(p.begin(), p.end());
  reader_.drop(len);
  if (fds != nullptr) {
    if (truncated)
      throw ProtocolError("kin::Connection::recv: the message came with more fds than a receiver takes (at most " +
                          std::to_string(kMaxFdsPerMessage) + "); the kernel cut them off, so it was dropped");
    for (auto& f : came) fds->push_back(std::move(f));
  }
  return out;
}

Bytes ConnectionCore::recv_bytes() {
  check_readable();
  reader_.fill_frame(fd_.get(), Deadline::never(), FrameReader::ReadAhead::buffered);
  return take(*reader_.complete_frame(), nullptr);
}

std::optional<Bytes> ConnectionCore::recv_bytes(const Deadline& deadline) {
  check_readable();
  if (!reader_.fill_frame(fd_.get(), deadline, FrameReader::ReadAhead::buffered)) return std::nullopt;
  return take(*reader_.complete_frame(), nullptr);
}

Bytes ConnectionCore::recv_bytes(std::vector<unique_fd>& fds) {
  check_readable();
  reader_.fill_frame(fd_.get(), Deadline::never(), FrameReader::ReadAhead::buffered);
  return take(*reader_.complete_frame(), &fds);
}

std::optional<Bytes> ConnectionCore::recv_bytes(const Deadline& deadline, std::vector<unique_fd>& fds) {
  check_readable();
  if (!reader_.fill_frame(fd_.get(), deadline, FrameReader::ReadAhead::buffered)) return std::nullopt;
  return take(*reader_.complete_frame(), &fds);
}

std::size_t ConnectionCore::recv_bytes_into(std::span<std::byte> out) {
  check_readable();
  reader_.fill_frame(fd_.get(), Deadline::never(), FrameReader::ReadAhead::buffered);
  const std::size_t len = *reader_.complete_frame();
  if (len > out.size())
    throw ValueError("kin::Connection::recv_bytes_into: buffer of " + std::to_string(out.size()) +
                     " bytes is too short for a message of " + std::to_string(len) + " bytes");
  if (len != 0) std::memcpy(out.data(), reader_.front_payload(len).data(), len);
  reader_.drop(len);  // fds that came with it are closed
  return len;
}

bool ConnectionCore::poll(const Deadline& deadline) {
  check_readable();
  try {
    if (reader_.complete_frame()) return true;
    // Nothing of ours is buffered: ask the kernel, read nothing (another process sharing this
    // end may be the one to take the next message).
    if (reader_.at_boundary())
      return poll_fd(fd_.get(), POLLIN, milliseconds{deadline.poll_ms()}) != 0;
    // A frame is begun: its rest is ours alone, and we read no further than its end.
    return reader_.fill_frame(fd_.get(), deadline, FrameReader::ReadAhead::exact);
  } catch (const EOFError&) {
    return true;  // EOF is "readable": the next recv reports it
  } catch (const ProtocolError&) {
    return true;  // so is a broken frame: the next recv raises it
  }
}

}  // namespace kin::detail
