// kin::Node and the peer side of kin::spawn_process(sys, kin::on(...), ...): kin's authkey
// handshake (runtime/listener_core.hpp) in front of CAF's BASP, which then runs over the
// authenticated TCP socket through the broker's "existing fd" handlers (cheatsheet §3.6):
// publish_atom on the node, connect_atom on the peer. No doorman, no node-info query (G12).
//
//   peer                                        node
//   client_connect(addr, key)  ── HMAC ──►      ListenerCore::accept()  (wrong key: dropped)
//   connect_atom(scribe)       ── BASP ──►      publish_atom(scribe, service)
//   request(service, spawn, entry, sig, args, keeper) → the process actor's handle
//
// The service starts only KIN_ENTRY functions, through the starter a spawn_process(on(...))
// call of the same program registered for the signature. Every process belongs to the
// peer's keeper (one hidden actor per peer system, kept in its registry): the node monitors
// it and stops the peer's processes when it goes down (the peer's system ended, or BASP lost
// the connection).
#include <kin/node.hpp>

#include <kin/errors.hpp>
#include <kin/runtime/entry_registry.hpp>
#include <kin/runtime/listener_core.hpp>
#include <kin/runtime/socket_util.hpp>

#include <caf/actor_registry.hpp>
#include <caf/all.hpp>
#include <caf/io/basp_broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/network/multiplexer.hpp>

#include <cxxabi.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace kin {

namespace {

using node_spawn_atom = caf::atom_constant<caf::atom("kin_spawn")>;
constexpr caf::atom_value kKeeperName = caf::atom("kin_nodes");

// A loss the peer does not announce: probes after 2 s idle (BASP's heartbeats keep it busier
// than that), and unacknowledged data (a heartbeat) ends the connection after 4 s. With the
// 500 ms heartbeat that is kNodeLossBound.
detail::KeepAlive node_keepalive() {
  return detail::KeepAlive{.idle = std::chrono::seconds(2), .interval = std::chrono::seconds(1), .count = 3,
                           .user_timeout = std::chrono::milliseconds(4000)};
}

detail::SocketAddress parse_address(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    throw ValueError("kin::Node: address '" + text + "' is not HOST:PORT");
  std::string host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  char* end = nullptr;
  errno = 0;
  unsigned long port = std::strtoul(text.c_str() + colon + 1, &end, 10);
  if (errno != 0 || *end != '\0' || port > 65535) throw ValueError("kin::Node: bad port in '" + text + "'");
  return detail::SocketAddress{.host = host, .port = static_cast<std::uint16_t>(port), .path = {}};
}

std::string type_name_of(const std::exception& e) {
  int status = 0;
  char* s = abi::__cxa_demangle(typeid(e).name(), nullptr, nullptr, &status);
  std::string r = status == 0 && s != nullptr ? s : typeid(e).name();
  std::free(s);
  return r;
}

struct StarterTable {
  std::mutex mu;
  std::map<std::string, detail::RemoteStarter> starters;
};
StarterTable& starter_table() {
  static StarterTable t;  // function-local: usable from any static initialiser
  return t;
}

detail::RemoteStarter find_starter(const std::string& signature) {
  auto& t = starter_table();
  std::lock_guard g{t.mu};
  auto it = t.starters.find(signature);
  return it == t.starters.end() ? nullptr : it->second;
}

// ---- node side ---------------------------------------------------------------------------

struct ServiceState {
  std::map<caf::actor_addr, std::vector<caf::actor>> owned;  // keeper -> the processes it asked for
  std::map<caf::actor_addr, caf::actor_addr> owner_of;       // process -> keeper
};

caf::behavior node_service(caf::stateful_actor<ServiceState>* self, ActorSystem* sys) {
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    if (auto it = st.owned.find(dm.source); it != st.owned.end()) {
      // The peer is gone (its system ended or the connection was lost): so are its processes.
      for (auto& a : it->second) {
        st.owner_of.erase(a.address());
        caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
      }
      st.owned.erase(it);
      return;
    }
    if (auto it = st.owner_of.find(dm.source); it != st.owner_of.end()) {
      auto& v = st.owned[it->second];
      v.erase(std::remove_if(v.begin(), v.end(), [&](const caf::actor& a) { return a.address() == dm.source; }),
              v.end());
      st.owner_of.erase(it);
    }
  });
  return {
      [self, sys](node_spawn_atom, const std::string& entry, const std::string& signature, const std::string& args,
                  const caf::actor& owner) -> caf::message {
        // Always (kind, what, actor): kind is empty on success.
        auto refuse = [](std::string kind, std::string what) { return caf::make_message(std::move(kind), std::move(what), caf::actor{}); };
        auto fn = detail::entry_named(entry);
        if (!fn) return refuse("StartMethodError", "no KIN_ENTRY named '" + entry + "' on this node");
        auto starter = find_starter(signature);
        if (starter == nullptr)
          return refuse("StartMethodError",
                        "this node's program never starts '" + entry +
                                       "' with these argument types remotely (not the same build as the peer?)");
        caf::actor a;
        try {
          a = starter(*sys, *fn, args);
        } catch (const std::exception& e) {
          return refuse(type_name_of(e), e.what());
        }
        auto& st = self->state;
        if (owner) {
          auto key = owner.address();
          if (st.owned.find(key) == st.owned.end()) self->monitor(owner);
          st.owned[key].push_back(a);
          st.owner_of[a.address()] = key;
          self->monitor(a);
        }
        return caf::make_message(std::string(), std::string(), a);
      },
  };
}

}  // namespace

bool detail::register_remote_starter(const char* signature, RemoteStarter starter) noexcept {
  try {
    auto& t = starter_table();
    std::lock_guard g{t.mu};
    t.starters.emplace(signature, starter);
    return true;
  } catch (...) {
    return false;
  }
}

bool node_lost(const caf::error& reason) {
  static const caf::error lost = caf::make_error(caf::exit_reason::remote_link_unreachable);
  return reason.category() == lost.category() && reason.code() == lost.code();
}

struct Node::Impl {
  explicit Impl(NodeOptions o)
      : options(std::move(o)),
        sys((options.system.network = true, options.system)),
        listener(parse_address(options.listen), options.authkey, options.handshake_timeout) {}

  void accept_loop() {
    for (;;) {
      unique_fd fd;
      try {
        fd = listener.accept();
      } catch (const AuthenticationError&) {
        refused.fetch_add(1);
        continue;
      } catch (const ValueError&) {
        return;  // closed
      } catch (const std::exception& e) {
        if (listener.closed()) return;
        std::fprintf(stderr, "kin node: accept: %s\n", e.what());
        std::this_thread::sleep_for(std::chrono::milliseconds(100));  // EMFILE and the like: do not spin
        continue;
      }
      try {
        detail::set_keepalive(fd.get(), node_keepalive());
      } catch (const std::exception& e) {
        std::fprintf(stderr, "kin node: keepalive: %s\n", e.what());
      }
      auto& mm = sys.middleman();
      auto basp = mm.named_broker<caf::io::basp_broker>(caf::atom("BASP"));
      // Every connection publishes the same actor, so one label serves all (it is only carried
      // in BASP's server handshake).
      caf::io::scribe_ptr sc = mm.backend().new_scribe(fd.release());
      caf::anon_send(basp, caf::publish_atom::value, std::move(sc), listener.address().port,
                     caf::actor_cast<caf::strong_actor_ptr>(service), std::set<std::string>{});
      accepted.fetch_add(1);
    }
  }

  NodeOptions options;
  ActorSystem sys;
  detail::ListenerCore listener;
  caf::actor service;
  std::thread acceptor;
  std::atomic<std::size_t> accepted{0};
  std::atomic<std::size_t> refused{0};
};

Node::Node(NodeOptions options) {
  if (options.authkey.empty()) throw ValueError("kin::Node: the authkey must not be empty");
  impl_ = std::make_unique<Impl>(std::move(options));
  impl_->service = impl_->sys.spawn(node_service, &impl_->sys);
  impl_->acceptor = std::thread([i = impl_.get()] { i->accept_loop(); });
}

Node::~Node() {
  impl_->listener.close();
  impl_->acceptor.join();
  caf::anon_send_exit(impl_->service, caf::exit_reason::user_shutdown);
  impl_->service = nullptr;
}

std::string Node::address() const {
  const auto& a = impl_->listener.address();
  return a.host + ":" + std::to_string(a.port);
}
std::uint16_t Node::port() const noexcept { return impl_->listener.address().port; }
std::size_t Node::peers_accepted() const noexcept { return impl_->accepted.load(); }
std::size_t Node::peers_refused() const noexcept { return impl_->refused.load(); }
ActorSystem& Node::system() noexcept { return impl_->sys; }

namespace {
std::atomic<int> signal_pipe_write{-1};
std::atomic<pid_t> signal_owner{0};
extern "C" void on_stop_signal(int sig) {
  // A child forked by the node (the fork start method) inherits this handler: there the
  // signal must do what it does by default, not stop the node through the inherited pipe.
  if (::getpid() != signal_owner.load()) {
    ::signal(sig, SIG_DFL);
    ::raise(sig);
    return;
  }
  int fd = signal_pipe_write.load();
  if (fd < 0) return;
  char c = static_cast<char>(sig);
  [[maybe_unused]] auto n = ::write(fd, &c, 1);
}
}  // namespace

int Node::wait_for_signal() {
  // A handler (any thread may take the signal: CAF's and the runtime's threads do not block it)
  // that wakes this thread through a pipe.
  int p[2];
  if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) throw OSError(errno, "kin::Node: pipe2");
  signal_pipe_write.store(p[1]);
  signal_owner.store(::getpid());
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  struct sigaction old_term {}, old_int {};
  ::sigaction(SIGTERM, &sa, &old_term);
  ::sigaction(SIGINT, &sa, &old_int);
  char c = 0;
  for (;;) {
    pollfd pfd{p[0], POLLIN, 0};
    int r = ::poll(&pfd, 1, -1);
    if (r < 0 && errno == EINTR) continue;
    if (r > 0 && ::read(p[0], &c, 1) == 1) break;
  }
  ::sigaction(SIGTERM, &old_term, nullptr);
  ::sigaction(SIGINT, &old_int, nullptr);
  signal_pipe_write.store(-1);
  ::close(p[0]);
  ::close(p[1]);
  return static_cast<unsigned char>(c);
}

// ---- peer side ---------------------------------------------------------------------------

namespace {

struct KeeperState {
  std::map<std::string, caf::actor> nodes;  // address -> the node's service
};

caf::behavior node_keeper(caf::stateful_actor<KeeperState>* self) {
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& m = self->state.nodes;
    for (auto it = m.begin(); it != m.end();) it = it->second.address() == dm.source ? m.erase(it) : std::next(it);
  });
  return {
      [self](caf::get_atom, const std::string& addr) -> caf::actor {
        auto it = self->state.nodes.find(addr);
        return it == self->state.nodes.end() ? caf::actor{} : it->second;
      },
      [self](caf::put_atom, const std::string& addr, const caf::actor& service) {
        self->monitor(service);
        self->state.nodes[addr] = service;
      },
      [self](caf::delete_atom, const std::string& addr) { self->state.nodes.erase(addr); },
  };
}

std::mutex connect_mu;  // one connect at a time per process: one BASP connection per node

caf::actor keeper_of(ActorSystem& sys) {
  auto& reg = sys.registry();
  if (auto k = reg.get(kKeeperName)) return caf::actor_cast<caf::actor>(k);
  // Hidden: the system's shutdown does not wait for it; the registry drops it at the end.
  auto k = sys.spawn<caf::hidden>(node_keeper);
  reg.put(kKeeperName, caf::actor_cast<caf::strong_actor_ptr>(k));
  return k;
}

}  // namespace

void detail::stop_node_peer(caf::actor_system& sys) noexcept {
  try {
    auto k = sys.registry().get(kKeeperName);
    if (!k) return;
    auto keeper = caf::actor_cast<caf::actor>(std::move(k));
    sys.registry().erase(kKeeperName);
    caf::scoped_actor self{sys};
    self->monitor(keeper);
    caf::anon_send_exit(keeper, caf::exit_reason::user_shutdown);
    self->receive([](caf::down_msg&) {}, caf::after(std::chrono::seconds(2)) >> [] {});
  } catch (...) {
    // Shutting down: nothing left to report to.
  }
}

namespace {

caf::actor connect_node(ActorSystem& sys, const RemoteNode& node) {
  auto fd = detail::client_connect(parse_address(node.address), node.authkey, node.timeout);
  detail::set_keepalive(fd.get(), node_keepalive());
  auto& mm = sys.middleman();
  auto basp = mm.named_broker<caf::io::basp_broker>(caf::atom("BASP"));
  caf::io::scribe_ptr sc = mm.backend().new_scribe(fd.release());
  caf::scoped_actor self{sys};
  caf::actor service;
  std::string failure;
  self->request(basp, node.timeout, caf::connect_atom::value, std::move(sc), std::uint16_t{1})
      .receive(
          [&](caf::node_id&, caf::strong_actor_ptr& ptr, std::set<std::string>&) {
            service = caf::actor_cast<caf::actor>(std::move(ptr));
            if (!service) failure = "the node published no service";
          },
          [&](caf::error& e) { failure = sys.render(e); });
  if (!service) throw ProtocolError("kin::spawn_process: BASP connection to node " + node.address + " failed: " + failure);
  return service;
}

}  // namespace

caf::actor detail::spawn_remote(ActorSystem& sys, const RemoteNode& node, std::uintptr_t fn, const char* signature,
                                std::string args) {
  if (!sys.has_middleman())
    throw ValueError("kin::spawn_process(sys, kin::on(...)): the system has no network; construct it with "
                     "kin::ActorSystemOptions{.network = true}");
  auto entry = entry_name_of(fn);
  if (!entry) throw StartMethodError("kin::spawn_process(sys, kin::on(...)): the function must be registered with KIN_ENTRY");
  caf::scoped_actor self{sys};
  for (int attempt = 0;; ++attempt) {
    caf::actor keeper, service;
    {
      std::lock_guard g{connect_mu};
      keeper = keeper_of(sys);
      self->request(keeper, node.timeout, caf::get_atom::value, node.address)
          .receive([&](caf::actor& a) { service = std::move(a); }, [&](caf::error&) {});
      if (!service) {
        service = connect_node(sys, node);
        self->send(keeper, caf::put_atom::value, node.address, service);
      }
    }
    caf::actor result;
    std::string kind, what;
    bool lost = false;
    self->request(service, node.timeout, node_spawn_atom::value, *entry, std::string(signature), args, keeper)
        .receive(
                 [&](std::string& k, std::string& w, caf::actor& a) {
                   kind = std::move(k);
                   what = std::move(w);
                   result = std::move(a);
                 },
                 [&](caf::error& e) {
                   lost = e == caf::sec::request_receiver_down || node_lost(e);
                   kind = "error";
                   what = sys.render(e);
                 });
    if (result) return result;
    if (lost && attempt == 0) {  // a cached connection that died since: connect again, once
      self->send(keeper, caf::delete_atom::value, node.address);
      continue;
    }
    std::string where = "kin::spawn_process on node " + node.address + ": ";
    if (kind == "StartMethodError") throw StartMethodError(where + what);
    if (kind == "error") {
      if (what.find("request_timeout") != std::string::npos) throw TimeoutError(where + what);
      throw ProtocolError(where + what);
    }
    throw RemoteError(kind, where + what, 0);
  }
}

}  // namespace kin
