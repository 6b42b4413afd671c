// kin::Connection<T>: one end of a Pipe (or of a Listener/Client link) that sends and
// receives values of type T (Python's multiprocessing.connection.Connection).
//
//   auto [a, b] = kin::Pipe<std::string>();
//   a.send("hi");  b.recv();            // "hi"
//   b.recv(100ms);                      // std::nullopt when nothing came in time
//
// recv() after the peer closed (every writer gone) throws kin::EOFError, never hangs; send()
// to a closed peer throws kin::BrokenPipeError (no SIGPIPE death); any use after close() is
// kin::ValueError; a frame over the maximum or bytes that do not decode as T are
// kin::ProtocolError. Copies of a Connection share the same end (like Python references);
// a fork child inherits it, and spawn/forkserver children receive it as an argument (its fd
// travels with SCM_RIGHTS).
//
// Kin objects travel in messages too (Python pickles a Connection through
// multiprocessing.reduction): a Connection, Queue, SharedMemory, Value... sent over a
// Connection arrives usable in the receiving process, as a new holder of the same end, queue or
// segment; plain fds go with kin::send_handle / kin::recv_handle (Python's
// multiprocessing.reduction.send_handle/recv_handle):
//
//   auto [a, b] = kin::Pipe<kin::Connection<int>>();
//   auto [x, y] = kin::Pipe<int>();
//   a.send(x);                          // x's fd rides beside the frame as SCM_RIGHTS
//   auto x2 = b.recv();  x2.send(7);    // y.recv() == 7
//   kin::send_handle(a, file_fd);       // kin::unique_fd f = kin::recv_handle(b);
//
// Only an AF_UNIX socket carries fds: a duplex Pipe or a Listener/Client on a Unix path. On a
// simplex Pipe (a pipe(2)) or a TCP link, sending an fd-holding message is a ValueError that
// says so, and nothing is sent. The receiver takes at most 250 fds per message; more (the
// kernel truncates them) is a ProtocolError for that message, its fds closed. Fds of a message
// nobody receives are closed with the receiving end; a message received as bytes
// (recv_bytes) closes its fds. A Queue cannot carry fd-holding objects (ValueError at put):
// its items are bytes in shared memory.
#pragma once

#include <kin/codec.hpp>
#include <kin/errors.hpp>
#include <kin/runtime/connection_core.hpp>
#include <kin/runtime/handover.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

namespace kin {

namespace detail {
/// The message send_handle writes: a tag (so recv_handle of anything else is a ProtocolError,
/// not a misread) and the fd's slot.
struct PassedHandle {
  static constexpr std::uint32_t kTag = 0x486e696bu;  // "kinH"
  int borrowed = -1;  // sending: the caller's fd, duplicated by handover_export
  unique_fd owned;    // received
  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, PassedHandle& x) {
    std::uint32_t tag = kTag, slot = 0;
    if constexpr (Inspector::reads_state) slot = handover_export(x.borrowed);
    f(tag, slot);
    if constexpr (Inspector::writes_state) {
      if (tag != kTag) throw ProtocolError("kin::recv_handle: the message is not a handle sent by kin::send_handle");
      x.owned = handover_import(slot);
    }
  }
};
}  // namespace detail

template <class T>
class Connection {
  static_assert(serializable<T>, "kin::Connection<T>: T must be kin::serializable (see <kin/codec.hpp>)");

 public:
  /// A closed connection (the state after close(); also what decoding starts from).
  Connection() = default;
  /// Wraps an fd carrying kin frames.
  Connection(unique_fd fd, bool readable, bool writable)
      : core_(std::make_shared<detail::ConnectionCore>(std::move(fd), readable, writable)) {}

  void send(const T& v) {
    Bytes frame(detail::kFrameHeaderSize);
    if constexpr (detail::is_memcpy_able<T>) {  // holds no kin object, so no fd
      encode_into(frame, v);
      core().send_prefixed(frame);
    } else {
      std::vector<unique_fd> fds;  // duplicates of the fds of the kin objects inside v
      {
        detail::HandoverExport scope{fds};
        encode_into(frame, v);
      }
      core().send_prefixed(frame, fds);
    }
  }
  [[nodiscard]] T recv() {
    if constexpr (detail::is_memcpy_able<T>) {
      return decode<T>(core().recv_bytes());
    } else {
      std::vector<unique_fd> fds;  // what decoding does not take is closed on return
      auto b = core().recv_bytes(fds);
      detail::HandoverImport scope{fds};
      return decode<T>(b);
    }
  }
  template <class Rep, class Period>
  [[nodiscard]] std::optional<T> recv(std::chrono::duration<Rep, Period> timeout) {
    std::vector<unique_fd> fds;
    auto b = core().recv_bytes(detail::Deadline::after(timeout), fds);  // bounds the whole message
    if (!b) return std::nullopt;
    detail::HandoverImport scope{fds};
    return decode<T>(*b);
  }
  /// True when a message (or its first bytes, or EOF) is there within `timeout`, as Python's
  /// poll. Reads nothing it does not return, so an end shared with another process loses none.
  template <class Rep = long, class Period = std::ratio<1>>
  [[nodiscard]] bool poll(std::chrono::duration<Rep, Period> timeout = std::chrono::seconds(0)) {
    return core().poll(detail::Deadline::after(timeout));
  }

  void send_bytes(std::span<const std::byte> b) { core().send_bytes(b); }
  [[nodiscard]] std::vector<std::byte> recv_bytes() { return core().recv_bytes(); }
  /// Copies the next message into `buf`; returns its size. Too small: ValueError, and the
  /// message stays for the next recv.
  std::size_t recv_bytes_into(std::span<std::byte> buf) { return core().recv_bytes_into(buf); }

  /// Closes this end for every copy of this Connection in this process.
  void close() noexcept {
    if (core_) core_->close();
  }
  [[nodiscard]] bool closed() const noexcept { return !core_ || core_->closed(); }
  [[nodiscard]] int fileno() const { return core().fileno(); }
  [[nodiscard]] bool readable() const noexcept { return core_ && core_->readable(); }
  [[nodiscard]] bool writable() const noexcept { return core_ && core_->writable(); }

  /// kin::send_handle(*this, fd): sends a duplicate of `fd` as a message of its own.
  void send_handle(int fd) {
    auto& c = core();  // a closed end is ValueError before anything is duplicated
    Bytes frame(detail::kFrameHeaderSize);
    std::vector<unique_fd> fds;
    {
      detail::HandoverExport scope{fds};
      detail::PassedHandle h;
      h.borrowed = fd;
      encode_into(frame, h);
    }
    c.send_prefixed(frame, fds);
  }
  /// kin::recv_handle(*this): the fd of the next message, which must come from send_handle.
  [[nodiscard]] unique_fd recv_handle() {
    std::vector<unique_fd> fds;
    auto b = core().recv_bytes(fds);
    detail::HandoverImport scope{fds};
    return decode<detail::PassedHandle>(b).owned;
  }
  template <class Rep, class Period>
  [[nodiscard]] std::optional<unique_fd> recv_handle(std::chrono::duration<Rep, Period> timeout) {
    std::vector<unique_fd> fds;
    auto b = core().recv_bytes(detail::Deadline::after(timeout), fds);
    if (!b) return std::nullopt;
    detail::HandoverImport scope{fds};
    return decode<detail::PassedHandle>(*b).owned;
  }

  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, Connection& x) {
    std::uint32_t slot = 0;
    bool readable = false, writable = false;
    if constexpr (Inspector::reads_state) {
      slot = detail::handover_export(x.fileno());
      readable = x.readable();
      writable = x.writable();
    }
    f(slot, readable, writable);
    if constexpr (Inspector::writes_state) x = Connection{detail::handover_import(slot), readable, writable};
  }

 private:
  detail::ConnectionCore& core() const {
    if (!core_) throw ValueError("kin::Connection: handle is closed");
    return *core_;
  }
  std::shared_ptr<detail::ConnectionCore> core_;
};

/// Sends a duplicate of the open fd `fd` to the process at the other end of `conn` (Python's
/// multiprocessing.reduction.send_handle; no destination pid is needed). The caller keeps `fd`.
/// ValueError when `conn` is closed or not a Unix socket, OSError (EBADF) when `fd` is not open.
template <class T>
void send_handle(Connection<T>& conn, int fd) {
  conn.send_handle(fd);
}

/// Receives an fd sent with send_handle (Python's recv_handle): a new fd, close-on-exec, owned
/// by the result (`.release()` for a raw int). The same open file as the sender's: offsets and
/// locks are shared. EOFError when the peer closed; ProtocolError when the next message is not
/// a handle.
template <class T>
[[nodiscard]] unique_fd recv_handle(Connection<T>& conn) {
  return conn.recv_handle();
}
/// As recv_handle, or std::nullopt when no handle arrived within `timeout`.
template <class T, class Rep, class Period>
[[nodiscard]] std::optional<unique_fd> recv_handle(Connection<T>& conn, std::chrono::duration<Rep, Period> timeout) {
  return conn.recv_handle(timeout);
}

}  // namespace kin
