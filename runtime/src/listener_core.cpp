#include <kin/runtime/auth.hpp>
#include <kin/runtime/listener_core.hpp>

#include <kin/errors.hpp>
#include <kin/runtime/syscall.hpp>

#include <poll.h>
#include <unistd.h>

#include <thread>

namespace kin::detail {

ListenerCore::ListenerCore(const SocketAddress& a, std::string authkey, std::chrono::milliseconds handshake_timeout)
    : sock_(listen_on(a)), key_(std::move(authkey)), timeout_(handshake_timeout) {
  address_ = local_address(sock_.get(), a);
}

ListenerCore::~ListenerCore() {
  close();
  std::unique_lock g{mu_};
  cv_.wait(g, [&] { return in_flight_ == 0; });  // each is bounded by the handshake timeout
}

void ListenerCore::close() noexcept {
  if (!sock_) return;
  sock_.reset();
  if (!address_.path.empty()) ::unlink(address_.path.c_str());  // as Python's Listener.close()
}

void ListenerCore::handshake(unique_fd c) {
  std::exception_ptr error;
  try {
    deliver_challenge(c.get(), key_, timeout_);
    answer_challenge(c.get(), key_, timeout_);
  } catch (const AuthenticationError&) {
    error = std::current_exception();
    c.reset();
  } catch (const std::exception&) {
    c.reset();  // garbage, silence or a vanished client: dropped
  }
  std::lock_guard g{mu_};
  if (c) ready_.push_back(std::move(c));
  if (error) failed_.push_back(error);
  --in_flight_;
  cv_.notify_all();
}

unique_fd ListenerCore::accept() {
  using namespace std::chrono_literals;
  for (;;) {
    bool handshaking = false;
    {
      std::unique_lock g{mu_};
      if (!ready_.empty()) {
        unique_fd c = std::move(ready_.front());
        ready_.pop_front();
        return c;
      }
      if (!failed_.empty()) {
        auto e = failed_.front();
        failed_.pop_front();
        std::rethrow_exception(e);
      }
      if (!sock_) throw ValueError("kin::Listener: the listener is closed");
      // Let finished handshakes report while we wait for the next connection.
      handshaking = in_flight_ > 0;
      if (handshaking) cv_.wait_for(g, 5ms);
    }
    if (poll_fd(sock_.get(), POLLIN, handshaking ? 5ms : 50ms) == 0) continue;
    unique_fd c = accept_from(sock_.get());
    if (key_.empty()) return c;
    std::lock_guard g{mu_};
    ++in_flight_;
    std::thread([this, fd = std::move(c)]() mutable { handshake(std::move(fd)); }).detach();
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
