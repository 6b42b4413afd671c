#include <kin/runtime/auth.hpp>
#include <kin/runtime/listener_core.hpp>

#include <kin/errors.hpp>
#include <kin/runtime/runtime.hpp>
#include <kin/runtime/syscall.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <deque>
#include <exception>
#include <mutex>
#include <set>

namespace kin::detail {

namespace {

// One client in its handshake. Touched only on the runtime thread.
struct Conn {
  Conn(unique_fd f, const std::string& key) : fd(std::move(f)), hs(key, Handshake::Role::server) {}
  unique_fd fd;
  Handshake hs;
  std::string out;
  std::size_t off = 0;
  Runtime::Id watch = 0;
  bool watching = false;
  Runtime::Id timer = 0;
  bool done = false;
};

using ConnPtr = std::shared_ptr<Conn>;

}  // namespace

struct ListenerCore::Shared {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<unique_fd> ready;            // authenticated, not yet returned by accept()
  std::deque<std::exception_ptr> failed;  // wrong keys, reported by accept()
  bool closed = false;
  unique_fd sock;
  std::string path;  // a Unix socket's, unlinked at close
  std::string key;
  std::chrono::milliseconds timeout{};
  // Runtime thread only.
  bool armed = false;
  pid_t armed_in = 0;  // the process whose runtime holds listen_watch (a fork child has none)
  Runtime::Id listen_watch = 0;
  std::set<ConnPtr> conns;
};

namespace {

using SharedPtr = std::shared_ptr<ListenerCore::Shared>;

void arm(const SharedPtr& s);

std::size_t pending(const SharedPtr& s) {
  std::lock_guard g{s->mu};
  return s->ready.size() + s->failed.size() + s->conns.size();
}

bool is_closed(const SharedPtr& s) {
  std::lock_guard g{s->mu};
  return s->closed;
}

void drop(const SharedPtr& s, const ConnPtr& c) {
  if (c->done) return;
  c->done = true;
  auto& rt = Runtime::get();
  if (c->watching) rt.unwatch_fd(c->watch);  // inline: this is the runtime thread
  c->watching = false;
  rt.cancel_timer(c->timer);
  c->fd.reset();
  s->conns.erase(c);
  arm(s);
}

void deliver(const SharedPtr& s, const ConnPtr& c) {
  c->done = true;
  Runtime::get().cancel_timer(c->timer);
  set_nonblocking(c->fd.get(), false);
  {
    std::lock_guard g{s->mu};
    if (!s->closed) s->ready.push_back(std::move(c->fd));
    s->cv.notify_all();
  }
  c->fd.reset();
  s->conns.erase(c);
}

void fail(const SharedPtr& s, const ConnPtr& c, std::exception_ptr e) {
  {
    std::lock_guard g{s->mu};
    if (!s->closed) s->failed.push_back(std::move(e));
    s->cv.notify_all();
  }
  drop(s, c);
}

void pump(const SharedPtr& s, const ConnPtr& c);

void wait_for(const SharedPtr& s, const ConnPtr& c, Readiness r) {
  c->watching = true;
  c->watch = Runtime::get().watch_fd(c->fd.get(), r, [s, c] {
    c->watching = false;
    if (!c->done) pump(s, c);
  });
}

// Moves the handshake on as far as the socket allows without blocking.
void pump(const SharedPtr& s, const ConnPtr& c) {
  if (is_closed(s)) return drop(s, c);
  for (;;) {
    if (c->off == c->out.size()) {
      c->out = c->hs.take_output();
      c->off = 0;
    }
    while (c->off < c->out.size()) {
      ssize_t n = ::send(c->fd.get(), c->out.data() + c->off, c->out.size() - c->off, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n >= 0) {
        c->off += static_cast<std::size_t>(n);
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return wait_for(s, c, Readiness::write);
      } else if (errno != EINTR) {
        // The client is gone. A wrong key is still reported: it is what happened.
        if (!c->hs.failed()) return drop(s, c);
        c->off = c->out.size();
      }
    }
    if (c->hs.failed()) {
      try {
        c->hs.check();
      } catch (const AuthenticationError&) {
        return fail(s, c, std::current_exception());
      } catch (...) {
      }
      return drop(s, c);
    }
    if (c->hs.finished()) return deliver(s, c);
    char buf[512];
    ssize_t n = ::recv(c->fd.get(), buf, std::min(c->hs.want(), sizeof buf), MSG_DONTWAIT);
    if (n > 0) {
      try {
        c->hs.feed(buf, static_cast<std::size_t>(n));
      } catch (const std::exception&) {
        return drop(s, c);  // garbage: dropped
      }
    } else if (n == 0) {
      return drop(s, c);
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return wait_for(s, c, Readiness::read);
    } else if (errno != EINTR) {
      return drop(s, c);
    }
  }
}

void start_handshake(const SharedPtr& s, unique_fd fd) {
  auto c = std::make_shared<Conn>(std::move(fd), s->key);
  s->conns.insert(c);
  // One timer for the whole handshake: a client that dribbles bytes cannot stretch it.
  c->timer = Runtime::get().call_at(Deadline::after(s->timeout), [s, w = std::weak_ptr<Conn>(c)] {
    if (auto conn = w.lock()) drop(s, conn);
  });
  pump(s, c);
}

void on_acceptable(const SharedPtr& s) {
  if (is_closed(s)) return;
  try {
    for (int i = 0; i < 64 && pending(s) < ListenerCore::kMaxPending; ++i) {
      unique_fd fd = try_accept(s->sock.get());
      if (!fd) break;
      if (s->key.empty()) {
        set_nonblocking(fd.get(), false);
        std::lock_guard g{s->mu};
        s->ready.push_back(std::move(fd));
        s->cv.notify_all();
      } else {
        start_handshake(s, std::move(fd));
      }
    }
  } catch (const std::exception&) {
    // Out of fds or memory: the connection stays in the backlog; try again shortly rather
    // than spin on a socket that stays readable.
    Runtime::get().call_at(Deadline::after(std::chrono::milliseconds{100}), [s] { arm(s); });
    return;
  }
  arm(s);
}

// Watches the listening socket unless closed, already watched, or enough is pending.
void arm(const SharedPtr& s) {
  if (s->armed_in != ::getpid()) {
    // A fork child holds the Listener now: its fresh runtime watches nothing, and the
    // handshakes in flight at the fork are the parent's (their watches and timers lived on
    // the parent's runtime). Close the copies without a word; the parent answers them.
    s->armed = false;
    s->armed_in = ::getpid();
    s->conns.clear();
  }
  if (s->armed || is_closed(s) || pending(s) >= ListenerCore::kMaxPending) return;
  s->armed = true;
  s->listen_watch = Runtime::get().watch_fd(s->sock.get(), Readiness::read, [s] {
    s->armed = false;
    on_acceptable(s);
  });
}

}  // namespace

ListenerCore::ListenerCore(const SocketAddress& a, std::string authkey, std::chrono::milliseconds handshake_timeout,
                           int backlog)
    : shared_(std::make_shared<Shared>()) {
  shared_->sock = listen_on(a, backlog);
  address_ = local_address(shared_->sock.get(), a);
  set_nonblocking(shared_->sock.get(), true);  // the runtime thread must never block in accept
  shared_->path = a.path;
  shared_->key = std::move(authkey);
  shared_->timeout = handshake_timeout;
  Runtime::get().post([s = shared_] { arm(s); });
}

ListenerCore::~ListenerCore() { close(); }

bool ListenerCore::closed() const noexcept {
  std::lock_guard g{shared_->mu};
  return shared_->closed;
}

void ListenerCore::close() noexcept {
  auto s = shared_;
  {
    std::lock_guard g{s->mu};
    if (s->closed) return;
    s->closed = true;
    s->ready.clear();
    s->failed.clear();
    s->cv.notify_all();
  }
  // On the runtime thread: stop watching, then drop the handshakes in flight (no waiting for
  // any client) and close the socket. A short round trip, never a wait on a client.
  try {
    Runtime::get().run([s] {
      if (s->armed) Runtime::get().unwatch_fd(s->listen_watch);
      s->armed = false;
      for (auto conns = s->conns; auto& c : conns) drop(s, c);
      s->sock.reset();
    });
  } catch (...) {
    s->sock.reset();  // cannot start a runtime thread: nothing was watched in this process
  }
  if (!s->path.empty()) ::unlink(s->path.c_str());  // as Python's Listener.close()
}

unique_fd ListenerCore::accept() {
  auto s = shared_;
  unique_fd c;
  Runtime::get().post([s] { arm(s); });  // a no-op unless this process has not armed it yet
  {
    std::unique_lock g{s->mu};
    s->cv.wait(g, [&] { return s->closed || !s->ready.empty() || !s->failed.empty(); });
    if (s->closed) throw ValueError("kin::Listener: the listener is closed");
    if (s->ready.empty()) {
      auto e = s->failed.front();
      s->failed.pop_front();
      Runtime::get().post([s] { arm(s); });
      std::rethrow_exception(e);
    }
    c = std::move(s->ready.front());
    s->ready.pop_front();
  }
  Runtime::get().post([s] { arm(s); });  // in case the pending bound had paused accepting
  return c;
}

unique_fd client_connect(const SocketAddress& a, const std::string& authkey, std::chrono::milliseconds timeout) {
  const auto deadline = Deadline::after(timeout);  // one bound for connect and handshake together
  unique_fd c = connect_to(a, deadline);
  if (!authkey.empty()) run_handshake(c.get(), authkey, Handshake::Role::client, deadline);
  return c;
}

}  // namespace kin::detail
