// The common half of kin::Manager's proxies: the session to the server, the object's id, and
// the encoding that lets a proxy travel to another process (Python's Token + authkey). A
// decoded proxy joins that process's session for the server (ManagerSession::get), which
// connects on its first call — so a proxy that crossed a fork, a forkserver or a spawn never
// shares a socket with the process it came from.
//
// kin::ManagerFuture<T> is the result of a pipelined proxy call (d.set_async(k, v),
// d.get_async(k), ...): the request is queued and sent with others in one write, and many are
// in flight on one connection at once.
//
//   std::vector<kin::ManagerFuture<long>> fs;
//   for (int k = 0; k < 1000; ++k) fs.push_back(d.get_async(k));
//   for (auto& f : fs) total += f.get();   // the first get() sends what is queued
//
// get() waits for the reply and returns its value, or throws the call's error (KeyError, ...);
// when the server dies every outstanding future's get() throws kin::ManagerLost, and with a
// call_timeout one not answered within it throws kin::TimeoutError (so do those sent after it
// on the same connection). A future belongs to the process that made it.
#pragma once

#include <kin/detail/manager_protocol.hpp>
#include <kin/errors.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

namespace kin {
namespace detail::mgr {
class ProxyBase;
}

template <class T>
class ManagerFuture {
 public:
  ManagerFuture() = default;
  /// Waits for the reply (sending what is queued first) and returns its value, or throws the
  /// call's error; again: the same value or error.
  T get() const {
    if constexpr (std::is_void_v<T>) (void)checked().wait(p_);
    else return decode_(checked().wait(p_));
  }
  /// True once the reply (or the error) is here; sends what is queued, never waits.
  [[nodiscard]] bool ready() const { return checked().ready(p_); }
  /// False for a default-constructed future.
  [[nodiscard]] bool valid() const noexcept { return p_ != nullptr; }

 private:
  friend class detail::mgr::ProxyBase;
  using Decode = T (*)(const Bytes&);
  ManagerFuture(std::shared_ptr<detail::mgr::ManagerSession> s, std::shared_ptr<detail::mgr::Pending> p, Decode d)
      : s_(std::move(s)), p_(std::move(p)), decode_(d) {}
  detail::mgr::ManagerSession& checked() const {
    if (!s_) throw ValueError("kin::ManagerFuture: an empty future (default-constructed)");
    return *s_;
  }
  std::shared_ptr<detail::mgr::ManagerSession> s_;
  std::shared_ptr<detail::mgr::Pending> p_;
  Decode decode_ = nullptr;
};

namespace detail::mgr {

class ProxyBase {
 public:
  ProxyBase() = default;
  ProxyBase(std::shared_ptr<ManagerSession> s, std::uint32_t id) : s_(std::move(s)), id_(id) {}

  /// The object's id on its server (stable for the server's lifetime).
  [[nodiscard]] std::uint32_t id() const noexcept { return id_; }
  /// False for a default-constructed (empty) proxy.
  [[nodiscard]] explicit operator bool() const noexcept { return s_ != nullptr; }
  /// Sends the async requests (…_async) queued in this process for this proxy's server now;
  /// their replies are read when their futures are asked. They are sent anyway when a batch
  /// fills, a future is asked, a synchronous call is made or the last proxy of the server goes.
  void flush() const {
    if (s_) s_->flush();
  }

  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, ProxyBase& x) {
    std::string host, path, key;
    std::uint16_t port = 0;
    std::uint32_t id = 0;
    std::uint64_t max = 0;
    std::int64_t call_timeout_ms = -1;  // the session's bound travels with the proxy (-1: none)
    bool present = false;
    bool tls = false;  // and so do its TLS files (paths: they must exist where it goes)
    std::string cert, tls_key, ca, server_name;
    if constexpr (Inspector::reads_state) {
      present = x.s_ != nullptr;
      if (present) {
        host = x.s_->address().host;
        port = x.s_->address().port;
        path = x.s_->address().path;
        key = x.s_->authkey();
        max = x.s_->max_message();
        if (auto t = x.s_->call_timeout()) call_timeout_ms = t->count();
        if (const auto& t = x.s_->tls()) {
          tls = true;
          cert = t->cert_file;
          tls_key = t->key_file;
          ca = t->ca_file;
          server_name = t->server_name;
        }
        id = x.id_;
      }
    }
    f(present, host, port, path, key, max, call_timeout_ms, id, tls, cert, tls_key, ca, server_name);
    if constexpr (Inspector::writes_state) {
      if (present) {
        std::optional<std::chrono::milliseconds> bound;
        if (call_timeout_ms >= 0) bound = std::chrono::milliseconds{call_timeout_ms};
        std::optional<TlsConfig> t;
        if (tls) t = TlsConfig{cert, tls_key, ca, server_name};
        x.s_ = ManagerSession::get(SocketAddress{host, port, path}, key, max, bound, t);
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
  /// The pipelined form of call(): queues the request; `decode` turns the reply's fields into
  /// the future's value (none for void).
  template <class T>
  ManagerFuture<T> submit(Bytes& frame, T (*decode)(const Bytes&) = nullptr) const {
    if (!s_) throw ValueError("kin::Manager proxy: empty proxy (default-constructed or moved from)");
    return ManagerFuture<T>{s_, s_->submit(frame), decode};
  }

 private:
  std::shared_ptr<ManagerSession> s_;
  std::uint32_t id_ = 0;
};

}  // namespace detail::mgr
}  // namespace kin
