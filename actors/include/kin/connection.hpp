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
    encode_into(frame, v);
    core().send_prefixed(frame);
  }
  [[nodiscard]] T recv() { return decode<T>(core().recv_bytes()); }
  template <class Rep, class Period>
  [[nodiscard]] std::optional<T> recv(std::chrono::duration<Rep, Period> timeout) {
    auto b = core().recv_bytes(detail::Deadline::after(timeout));  // bounds the whole message
    if (!b) return std::nullopt;
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

}  // namespace kin
