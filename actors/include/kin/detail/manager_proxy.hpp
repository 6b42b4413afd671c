// The common half of kin::Manager's proxies: the session to the server, the object's id, and
// the encoding that lets a proxy travel to another process (Python's Token + authkey). A
// decoded proxy joins that process's session for the server (ManagerSession::get), which
// connects on its first call — so a proxy that crossed a fork, a forkserver or a spawn never
// shares a socket with the process it came from.
#pragma once

#include <kin/detail/manager_protocol.hpp>
#include <kin/errors.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

namespace kin::detail::mgr {

class ProxyBase {
 public:
  ProxyBase() = default;
  ProxyBase(std::shared_ptr<ManagerSession> s, std::uint32_t id) : s_(std::move(s)), id_(id) {}

  /// The object's id on its server (stable for the server's lifetime).
  [[nodiscard]] std::uint32_t id() const noexcept { return id_; }
  /// False for a default-constructed (empty) proxy.
  [[nodiscard]] explicit operator bool() const noexcept { return s_ != nullptr; }

  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, ProxyBase& x) {
    std::string host, path, key;
    std::uint16_t port = 0;
    std::uint32_t id = 0;
    std::uint64_t max = 0;
    std::int64_t call_timeout_ms = -1;  // the session's bound travels with the proxy (-1: none)
    bool present = false;
    if constexpr (Inspector::reads_state) {
      present = x.s_ != nullptr;
      if (present) {
        host = x.s_->address().host;
        port = x.s_->address().port;
        path = x.s_->address().path;
        key = x.s_->authkey();
        max = x.s_->max_message();
        if (auto t = x.s_->call_timeout()) call_timeout_ms = t->count();
        id = x.id_;
      }
    }
    f(present, host, port, path, key, max, call_timeout_ms, id);
    if constexpr (Inspector::writes_state) {
      if (present) {
        std::optional<std::chrono::milliseconds> bound;
        if (call_timeout_ms >= 0) bound = std::chrono::milliseconds{call_timeout_ms};
        x.s_ = ManagerSession::get(SocketAddress{host, port, path}, key, max, bound);
        x.id_ = id;
      } else {
        x.s_.reset();
        x.id_ = 0;
      }
    }
  }

 protected:
  [[nodiscard]] Bytes request(Op op) const { return begin_request(op, id_); }
  Bytes call(Bytes& frame) const {
    if (!s_) throw ValueError("kin::Manager proxy: empty proxy (default-constructed or moved from)");
    return s_->call(frame);
  }

 private:
  std::shared_ptr<ManagerSession> s_;
  std::uint32_t id_ = 0;
};

}  // namespace kin::detail::mgr
