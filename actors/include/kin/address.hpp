// kin::Address: where a Listener listens and a Client connects — a TCP host and port
// (port 0 lets the system choose; Listener::address() tells which), or a Unix socket path.
#pragma once

#include <cstdint>
#include <string>

namespace kin {

struct Address {
  std::string host;          // TCP: "127.0.0.1", "0.0.0.0", a name
  std::uint16_t port = 0;    // TCP port (0 = any free one, for a Listener)
  std::string path;          // Unix socket path; when set, host/port are unused

  Address() = default;
  Address(std::string h, std::uint16_t p) : host(std::move(h)), port(p) {}
  static Address unix_path(std::string p) {
    Address a;
    a.path = std::move(p);
    return a;
  }
  [[nodiscard]] bool is_unix() const noexcept { return !path.empty(); }
  friend bool operator==(const Address&, const Address&) = default;

  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, Address& x) {
    return f(x.host, x.port, x.path);
  }
};

}  // namespace kin
