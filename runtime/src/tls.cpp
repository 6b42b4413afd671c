// TLS relays (tls.hpp): OpenSSL sessions on non-blocking sockets, one thread per connection
// copying between the TLS session and a plain local socket.
#include <kin/runtime/tls.hpp>

#include <kin/errors.hpp>
#include <kin/runtime/runtime.hpp>
#include <kin/runtime/syscall.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <list>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace kin::detail {
namespace {

struct CtxFree {
  void operator()(SSL_CTX* c) const noexcept { SSL_CTX_free(c); }
};
struct SslFree {
  void operator()(SSL* s) const noexcept { SSL_free(s); }
};
using Ctx = std::unique_ptr<SSL_CTX, CtxFree>;
using Ssl = std::unique_ptr<SSL, SslFree>;

// What OpenSSL queued about the last failure, in words.
std::string ssl_errors() {
  std::string s;
  char buf[256];
  for (unsigned long e = ERR_get_error(); e != 0; e = ERR_get_error()) {
    ERR_error_string_n(e, buf, sizeof buf);
    if (!s.empty()) s.append("; ");
    s.append(buf);
  }
  return s.empty() ? std::string("no detail from OpenSSL") : s;
}

// ---- the relays' sockets in a fork child -----------------------------------------------------
// A child inherits the relays' sockets but none of their threads: it closes its copies, so a
// connection ends when the parent's side closes it, as a plain connection does.
std::mutex g_relay_mu;
std::vector<int> g_relay_fds;
void relay_prepare() { g_relay_mu.lock(); }
void relay_parent() { g_relay_mu.unlock(); }
void relay_child() {
  for (int fd : g_relay_fds) ::close(fd);
  g_relay_fds.clear();
  g_relay_mu.unlock();
}
[[maybe_unused]] const int g_relay_hook = at_fork(relay_prepare, relay_parent, relay_child);

// Keeps the relay's fds listed while it runs (and closes them at the end, like unique_fd).
class RelayFds {
 public:
  RelayFds(unique_fd net, unique_fd plain) : net_(std::move(net)), plain_(std::move(plain)) {
    std::lock_guard g{g_relay_mu};
    g_relay_fds.push_back(net_.get());
    g_relay_fds.push_back(plain_.get());
  }
  RelayFds(const RelayFds&) = delete;
  RelayFds& operator=(const RelayFds&) = delete;
  ~RelayFds() {
    std::lock_guard g{g_relay_mu};
    std::erase(g_relay_fds, net_.get());
    std::erase(g_relay_fds, plain_.get());
  }
  [[nodiscard]] int net() const noexcept { return net_.get(); }
  [[nodiscard]] int plain() const noexcept { return plain_.get(); }

 private:
  unique_fd net_, plain_;
};

Ctx make_ctx(const TlsConfig& c, bool server) {
  Ctx ctx{SSL_CTX_new(server ? TLS_server_method() : TLS_client_method())};
  if (!ctx) throw OSError(ENOMEM, "SSL_CTX_new: " + ssl_errors());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (server && c.cert_file.empty()) throw ValueError("kin TLS: a server needs a certificate (cert_file) and its key (key_file)");
  if (!c.cert_file.empty()) {
    const std::string& key = c.key_file.empty() ? c.cert_file : c.key_file;
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), c.cert_file.c_str()) != 1)
      throw ValueError(std::string("kin TLS: cannot load the certificate ").append(c.cert_file).append(": ").append(ssl_errors()));
    if (SSL_CTX_use_PrivateKey_file(ctx.get(), key.c_str(), SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx.get()) != 1)
      throw ValueError(std::string("kin TLS: cannot load the private key ").append(key).append(" (or it does not match the certificate): ").append(ssl_errors()));
  }
  if (!c.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx.get(), c.ca_file.c_str(), nullptr) != 1)
      throw ValueError(std::string("kin TLS: cannot load the CA file ").append(c.ca_file).append(": ").append(ssl_errors()));
  } else if (!server) {
    SSL_CTX_set_default_verify_paths(ctx.get());
  }
  if (!server) SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  else if (!c.ca_file.empty()) SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  return ctx;
}

// Waits for `events` on `fd` or for `stop` (-1: none) to become readable; 0 when the deadline
// passed or stop fired, else the revents.
short wait_for(int fd, short events, int stop, const Deadline& deadline) {
  for (;;) {
    pollfd p[2] = {{fd, events, 0}, {stop, POLLIN, 0}};
    const int r = ::poll(p, stop >= 0 ? 2 : 1, deadline.poll_ms());
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return 0;
    if (stop >= 0 && p[1].revents != 0) return 0;
    return p[0].revents;
  }
}

enum class Shake { done, failed, timed_out };

// Runs SSL_connect / SSL_accept on the non-blocking socket until it completes.
Shake handshake(SSL* ssl, int fd, bool server, int stop, const Deadline& deadline, std::string& why) {
  for (;;) {
    ERR_clear_error();
    const int r = server ? SSL_accept(ssl) : SSL_connect(ssl);
    if (r == 1) return Shake::done;
    const int e = SSL_get_error(ssl, r);
    short ev = 0;
    if (e == SSL_ERROR_WANT_READ) ev = POLLIN;
    else if (e == SSL_ERROR_WANT_WRITE) ev = POLLOUT;
    else {
      const long v = SSL_get_verify_result(ssl);
      if (v != X509_V_OK) why = std::string("certificate verify failed: ").append(X509_verify_cert_error_string(v));
      else if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN) why = "the peer closed the connection during the TLS handshake (is it speaking TLS?)";
      else why = ssl_errors();
      return Shake::failed;
    }
    if (wait_for(fd, ev, stop, deadline) == 0) return deadline.expired() ? Shake::timed_out : Shake::failed;
  }
}

// Copies between the TLS session on `fds.net()` and the plain socket `fds.plain()` (both
// non-blocking) until either side closes or `stop` (-1: none) becomes readable.
void relay(SSL* ssl, const RelayFds& fds, int stop) {
  const int net = fds.net(), plain = fds.plain();
  std::string to_plain, to_net;
  char buf[16384];
  bool net_eof = false, plain_eof = false;
  for (;;) {
    bool progress = false;
    short net_ev = 0, plain_ev = 0;
    if (!net_eof && to_plain.empty()) {
      ERR_clear_error();
      const int n = SSL_read(ssl, buf, sizeof buf);
      if (n > 0) {
        to_plain.assign(buf, static_cast<std::size_t>(n));
        progress = true;
      } else {
        const int e = SSL_get_error(ssl, n);
        if (e == SSL_ERROR_WANT_READ) net_ev |= POLLIN;
        else if (e == SSL_ERROR_WANT_WRITE) net_ev |= POLLOUT;
        else net_eof = progress = true;  // closed, reset or a bad record: this connection ends
      }
    }
    if (!to_plain.empty()) {
      const ssize_t w = ::send(plain, to_plain.data(), to_plain.size(), MSG_NOSIGNAL);
      if (w > 0) {
        to_plain.erase(0, static_cast<std::size_t>(w));
        progress = true;
      } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        plain_ev |= POLLOUT;
      } else if (!(w < 0 && errno == EINTR)) {
        return;  // the plain side is gone
      }
    }
    if (net_eof && to_plain.empty()) return;  // the TLS peer closed: so does the plain side
    if (!plain_eof && to_net.empty()) {
      const ssize_t n = ::recv(plain, buf, sizeof buf, 0);
      if (n > 0) {
        to_net.assign(buf, static_cast<std::size_t>(n));
        progress = true;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        plain_ev |= POLLIN;
      } else if (!(n < 0 && errno == EINTR)) {
        plain_eof = progress = true;
      }
    }
    if (!to_net.empty()) {
      ERR_clear_error();
      const int n = SSL_write(ssl, to_net.data(), static_cast<int>(to_net.size()));
      if (n > 0) {
        to_net.erase(0, static_cast<std::size_t>(n));
        progress = true;
      } else {
        const int e = SSL_get_error(ssl, n);
        if (e == SSL_ERROR_WANT_READ) net_ev |= POLLIN;
        else if (e == SSL_ERROR_WANT_WRITE) net_ev |= POLLOUT;
        else return;
      }
    }
    if (plain_eof && to_net.empty()) {
      (void)SSL_shutdown(ssl);  // best effort: tell the peer this is a clean end
      return;
    }
    if (progress) continue;
    // (an fd with nothing to wait for is left out: its POLLHUP would wake this loop forever)
    pollfd p[3] = {{net_ev != 0 ? net : -1, net_ev, 0}, {plain_ev != 0 ? plain : -1, plain_ev, 0}, {stop, POLLIN, 0}};
    const int r = ::poll(p, 3, -1);
    if (r < 0 && errno != EINTR) return;
    if (stop >= 0 && p[2].revents != 0) return;
  }
}

// OpenSSL writes to the socket with write(): a peer that is gone would raise SIGPIPE. A relay
// thread blocks every signal for its life (a SIGPIPE left pending on it is dropped with it; the
// program's signal handlers run on the program's threads); a handshake on a caller's thread
// blocks SIGPIPE around it (ThreadSignalBlock, syscall.hpp).
// Starts `fn` on a new thread with every signal blocked from its first instruction.
template <class F>
std::thread start_blocked(F&& fn) {
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_BLOCK, &all, &old);
  std::thread t;
  try {
    t = std::thread(std::forward<F>(fn));
  } catch (...) {
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    throw;
  }
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return t;
}

void tune_tcp(int fd) {
  int one = 1;  // frames are small writes: no Nagle delay
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  try {
    set_keepalive(fd);
  } catch (const OSError&) {
    // a socket this kernel gives no keepalive options: relay it without
  }
}

}  // namespace

unique_fd tls_connect(unique_fd tcp, const TlsConfig& config, const std::string& host, const Deadline& deadline) {
  Ctx ctx = make_ctx(config, false);
  Ssl ssl{SSL_new(ctx.get())};
  if (!ssl) throw OSError(ENOMEM, "SSL_new: " + ssl_errors());
  tune_tcp(tcp.get());
  set_nonblocking(tcp.get(), true);
  SSL_set_fd(ssl.get(), tcp.get());
  const std::string& name = config.server_name.empty() ? host : config.server_name;
  if (!name.empty()) {
    in6_addr ip{};
    const bool literal = ::inet_pton(AF_INET, name.c_str(), &ip) == 1 || ::inet_pton(AF_INET6, name.c_str(), &ip) == 1;
    if (literal) {
      (void)X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl.get()), name.c_str());
    } else {
      (void)SSL_set_tlsext_host_name(ssl.get(), name.c_str());
      (void)SSL_set1_host(ssl.get(), name.c_str());
    }
  }
  std::string why;
  Shake shake = Shake::failed;
  {
    ThreadSignalBlock no_sigpipe{SIGPIPE};
    shake = handshake(ssl.get(), tcp.get(), false, -1, deadline, why);
    no_sigpipe.consume();
  }
  switch (shake) {
    case Shake::done: break;
    case Shake::timed_out: throw TimeoutError("kin TLS: the handshake with " + host + " did not finish in time");
    case Shake::failed: throw AuthenticationError("kin::AuthenticationError: TLS handshake with " + host + " failed: " + why);
  }
  int sp[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0) throw_errno("socketpair");
  unique_fd mine{sp[0]}, theirs{sp[1]};
  set_nonblocking(theirs.get(), true);
  auto fds = std::make_unique<RelayFds>(std::move(tcp), std::move(theirs));
  // Detached: it ends when the caller closes its end (or the server closes the connection).
  start_blocked([ctx = std::move(ctx), ssl = std::move(ssl), fds = std::move(fds)] { relay(ssl.get(), *fds, -1); }).detach();
  return mine;
}

struct TlsFront::Impl {
  Ctx ctx;
  unique_fd listen;
  SocketAddress bound;
  SocketAddress inner;
  unique_fd stop_r, stop_w;
  std::thread acceptor;
  std::mutex mu;
  struct Relay {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::list<Relay> relays;
  bool closed = false;

  void serve_one(unique_fd tcp) {
    tune_tcp(tcp.get());
    set_nonblocking(tcp.get(), true);
    Ssl ssl{SSL_new(ctx.get())};
    if (!ssl) return;
    SSL_set_fd(ssl.get(), tcp.get());
    // A TLS client speaks first (its ClientHello); a plaintext kin client waits for the
    // server's challenge instead. Closing a silent peer soon ends that wait cleanly (EOF).
    if (wait_for(tcp.get(), POLLIN, stop_r.get(), Deadline::after(std::chrono::seconds(2))) == 0) return;
    std::string why;
    if (handshake(ssl.get(), tcp.get(), true, stop_r.get(), Deadline::after(std::chrono::seconds(10)), why) != Shake::done) return;
    unique_fd plain;
    try {
      plain = connect_to(inner, Deadline::after(std::chrono::seconds(5)));
      set_nonblocking(plain.get(), true);
    } catch (const std::exception&) {
      return;  // the inner listener is gone: shutting down
    }
    RelayFds fds{std::move(tcp), std::move(plain)};
    relay(ssl.get(), fds, stop_r.get());
  }

  void reap_finished() {
    std::lock_guard g{mu};
    for (auto it = relays.begin(); it != relays.end();) {
      if (!it->done->load()) {
        ++it;
        continue;
      }
      it->thread.join();
      it = relays.erase(it);
    }
  }

  void accept_loop() {
    for (;;) {
      if (wait_for(listen.get(), POLLIN, stop_r.get(), Deadline::never()) == 0) return;
      unique_fd c;
      try {
        c = try_accept(listen.get());
      } catch (const std::exception&) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));  // EMFILE and the like
        continue;
      }
      if (!c) continue;
      reap_finished();
      auto done = std::make_shared<std::atomic<bool>>(false);
      std::lock_guard g{mu};
      relays.push_back(Relay{start_blocked([this, done, fd = std::make_shared<unique_fd>(std::move(c))]() mutable {
                               serve_one(std::move(*fd));
                               done->store(true);
                             }),
                             done});
    }
  }
};

TlsFront::TlsFront(const SocketAddress& listen_at, const TlsConfig& config, SocketAddress inner)
    : impl_(std::make_unique<Impl>()) {
  auto& im = *impl_;
  im.ctx = make_ctx(config, true);
  im.listen = listen_on(listen_at);
  im.bound = local_address(im.listen.get(), listen_at);
  im.inner = std::move(inner);
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) throw_errno("pipe2");
  im.stop_r.reset(p[0]);
  im.stop_w.reset(p[1]);
  im.acceptor = start_blocked([&im] { im.accept_loop(); });
}

TlsFront::~TlsFront() { close(); }

const SocketAddress& TlsFront::address() const noexcept { return impl_->bound; }

void TlsFront::close() noexcept {
  auto& im = *impl_;
  if (im.closed) return;
  im.closed = true;
  const char b = 1;
  (void)!::write(im.stop_w.get(), &b, 1);  // wakes the acceptor and every relay
  im.acceptor.join();
  std::lock_guard g{im.mu};
  for (auto& r : im.relays) r.thread.join();
  im.relays.clear();
  im.listen.reset();
}

}  // namespace kin::detail
