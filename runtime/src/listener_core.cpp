#include <kin/runtime/auth.hpp>
#include <kin/runtime/listener_core.hpp>

#include <kin/errors.hpp>

#include <unistd.h>

namespace kin::detail {

ListenerCore::ListenerCore(const SocketAddress& a, std::string authkey, std::chrono::milliseconds handshake_timeout)
    : sock_(listen_on(a)), key_(std::move(authkey)), timeout_(handshake_timeout) {
  address_ = local_address(sock_.get(), a);
}

ListenerCore::~ListenerCore() { close(); }

void ListenerCore::close() noexcept {
  if (!sock_) return;
  sock_.reset();
  if (!address_.path.empty()) ::unlink(address_.path.c_str());  // as Python's Listener.close()
}

unique_fd ListenerCore::accept() {
  if (!sock_) throw ValueError("kin::Listener: the listener is closed");
  for (;;) {
    unique_fd c = accept_from(sock_.get());
    if (key_.empty()) return c;
    try {
      deliver_challenge(c.get(), key_, timeout_);
      answer_challenge(c.get(), key_, timeout_);
      return c;
    } catch (const ProtocolError&) {
      continue;  // garbage, silence or a vanished client: drop it, serve the next
    } catch (const OSError&) {
      continue;  // reset by the peer mid-handshake
    }
  }
}

unique_fd client_connect(const SocketAddress& a, const std::string& authkey, std::chrono::milliseconds timeout) {
  unique_fd c = connect_to(a);
  if (!authkey.empty()) {
    answer_challenge(c.get(), authkey, timeout);
    deliver_challenge(c.get(), authkey, timeout);
  }
  return c;
}

}  // namespace kin::detail
