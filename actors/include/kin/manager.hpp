// kin::Manager: a server process that keeps shared objects — dicts, lists, namespaces, queues,
// joinable queues, locks, conditions, events, barriers, values, arrays, and objects of user
// types registered with register_type — which other processes reach through proxies (Python's
// multiprocessing.Manager / SyncManager, and BaseManager's register and remote serve/connect).
//
//   kin::Manager m;                                   // starts the server process
//   auto d = m.dict<std::string, int>();
//   auto l = m.list<int>();
//   kin::Process p{worker, d, l};  p.start();         // proxies travel (any start method)
//   d["hits"] += 1;                                   // atomic on the server, one round trip
//   p.join();  auto snapshot = d.to_map();
//   // ~Manager shuts the server down
//
// Remote: `kin::Manager::serve(kin::Address{"0.0.0.0", 50000}, "key")` serves in the calling
// process until a client calls shutdown(); `auto m = kin::Manager::connect(address, "key")`
// reaches it (TCP or a Unix socket path), and `m.dict<K, V>("scores")` gives every client the
// same named object. Clients authenticate with an HMAC challenge on the authkey before any
// payload is decoded; a wrong key is kin::AuthenticationError. A local Manager listens on a
// private Unix socket with a random key. With kin::TlsOptions (serve's fifth argument,
// connect's fourth) the connections are TLS, the HMAC handshake inside it. Pipelined calls
// (`d.get_async(k)` → kin::ManagerFuture) put many requests in flight on one connection.
//
// Every proxy call is one request on the server, which runs requests one at a time: each
// operation is atomic, and so are the compound ones (setdefault, pop, update, add, apply).
// Failure: when the server process dies, every proxy call — one already waiting included —
// raises kin::ManagerLost, never hangs (a local server is a daemon child: it also dies with its
// owner). A malformed or oversized request is refused with kin::ProtocolError and the server
// goes on serving the others. A client that dies holding a LockProxy (or a ConditionProxy's
// lock) releases it. User types: register_type<T>("Name", kin::method<&T::m>("m"), ...) at
// namespace scope, then m.make<T>() (object_proxy.hpp says where registrations reach). The
// objects live as long as the server (they are not reference-counted as in Python). With
// ManagerOptions::restart the owner restarts a dead server, and the loss of its state is
// explicit: the old proxies raise ManagerLost, never silently see an empty dict. A server that
// is alive but does not answer (SIGSTOP) makes calls wait, unless ManagerOptions::call_timeout
// bounds them (then kin::TimeoutError).
#pragma once

#include <kin/address.hpp>
#include <kin/array_proxy.hpp>
#include <kin/barrier_proxy.hpp>
#include <kin/condition_proxy.hpp>
#include <kin/dict_proxy.hpp>
#include <kin/event_proxy.hpp>
#include <kin/joinable_queue_proxy.hpp>
#include <kin/list_proxy.hpp>
#include <kin/lock_proxy.hpp>
#include <kin/namespace_proxy.hpp>
#include <kin/object_proxy.hpp>
#include <kin/queue_proxy.hpp>
#include <kin/start_method.hpp>
#include <kin/value_proxy.hpp>

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

namespace kin {

/// TLS for a remote manager (Manager::serve / Manager::connect): PEM files. The server gives
/// cert_file and key_file (and ca_file to require client certificates signed by it); a client
/// gives ca_file (empty: the system's CAs) to verify the server's certificate, whose name must
/// match server_name (empty: the host it connects to, a DNS name or an IP literal), and
/// cert_file/key_file when the server asks for one. kin's HMAC handshake on the authkey runs
/// inside TLS. A certificate that fails verification is kin::AuthenticationError.
using TlsOptions = detail::TlsConfig;

struct ManagerOptions {
  std::optional<StartMethod> start_method{};  // empty: kin::get_start_method()
  /// Where the server listens: empty for a private Unix socket; a TCP address (port 0: any
  /// free port, see Manager::address()) or a socket path to reach it from unrelated processes.
  Address address{};
  /// The key clients must prove they know; empty: a random one.
  std::string authkey{};
  /// The largest request or reply, in bytes; a larger request is refused (ProtocolError).
  std::size_t max_message = std::size_t{64} << 20;
  /// How long the server may take to start.
  std::chrono::milliseconds start_timeout = std::chrono::seconds(10);
  /// Supervised: when the server dies, start a new one at the same address with the same key
  /// (at most `max_restarts` times in a row without a clean minute between). Its state is gone:
  /// the first call of every existing proxy raises kin::ManagerLost, and so does every later
  /// call of a proxy made before the restart; proxies made after it work.
  bool restart = false;
  int max_restarts = 3;
  /// The longest a proxy call waits for a server that stops answering (stopped with SIGSTOP,
  /// livelocked, a host gone silent) before kin::TimeoutError; unset: no bound (a call waits
  /// as long as the server lives). It bounds each request — connecting, sending, the reply —
  /// so it must exceed the longest request the server may run (a registered method, a large
  /// value's transfer). A blocking call (Queue get/put, acquire, Event/Condition/Barrier wait,
  /// JoinableQueue join) keeps its own timeout and ends by that timeout plus call_timeout; while
  /// it waits, the server is pinged every call_timeout, so an untimed one ends within about
  /// twice call_timeout of the server going silent. After a TimeoutError the connection is
  /// closed (a late reply on it would answer the next request) and the next call opens a new
  /// one; the server, when it resumes, treats the close as a client leaving: a request still
  /// waiting there is dropped, never answered, and a Lock held through that connection is
  /// released. A request it had already received may still run: the outcome of a timed-out
  /// call is unknown (docs/managers.md, "Deadlines"). Proxies carry the bound to the processes
  /// they are passed to. Also Manager::connect's third argument.
  std::optional<std::chrono::milliseconds> call_timeout{};
};

class Manager {
 public:
  /// Starts a server process (Python's `Manager()`).
  Manager();
  explicit Manager(ManagerOptions options);
  Manager(Manager&&) noexcept;
  Manager& operator=(Manager&&) noexcept;
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;
  /// Shuts down the server this Manager started (not one it connected to).
  ~Manager();

  /// A client of a server started elsewhere (Python's BaseManager.connect). AuthenticationError
  /// for a wrong key, ManagerLost when nothing serves there; with a `call_timeout`
  /// (ManagerOptions::call_timeout) TimeoutError when it does not answer within it. Over TCP,
  /// a server whose host vanishes without closing the connection is ManagerLost within about
  /// 10 s even without a call_timeout (TCP keepalive and TCP_USER_TIMEOUT).
  /// With `tls`, over TLS (TlsOptions: the CA to trust, the name to expect): a server whose
  /// certificate does not verify, or one not speaking TLS, is AuthenticationError.
  [[nodiscard]] static Manager connect(const Address& address, const std::string& authkey,
                                       std::optional<std::chrono::milliseconds> call_timeout = std::nullopt,
                                       const std::optional<TlsOptions>& tls = std::nullopt);
  /// Serves in the calling process until a client calls shutdown() (Python's serve_forever).
  /// `on_ready` is called with the bound address once it listens. With `tls` (a certificate
  /// and its key, TlsOptions) clients must connect with TLS: a plaintext one is disconnected
  /// within ~2 s (it sees ManagerLost), one that fails the TLS handshake at once.
  static void serve(const Address& address, const std::string& authkey,
                    const std::function<void(const Address&)>& on_ready = {},
                    std::size_t max_message = std::size_t{64} << 20,
                    const std::optional<TlsOptions>& tls = std::nullopt);

  /// Stops the server (this Manager's own, or the one it is connected to) and, for its own,
  /// waits for the process to end. Later proxy calls raise ManagerLost. Idempotent.
  void shutdown();

  /// Where the server listens, and its key: with both, Manager::connect reaches it.
  [[nodiscard]] const Address& address() const;
  [[nodiscard]] const std::string& authkey() const;
  /// The server process's pid, for a Manager that started one.
  [[nodiscard]] std::optional<pid_t> pid() const;

  template <class K, class V>
  [[nodiscard]] DictProxy<K, V> dict(const std::string& name = {}) {
    return DictProxy<K, V>{session(), create(detail::mgr::Kind::dict, name)};
  }
  template <class T>
  [[nodiscard]] ListProxy<T> list(const std::string& name = {}) {
    return ListProxy<T>{session(), create(detail::mgr::Kind::list, name)};
  }
  [[nodiscard]] NamespaceProxy namespace_(const std::string& name = {}) {
    return NamespaceProxy{session(), create(detail::mgr::Kind::dict, name)};
  }
  /// A queue of at most `maxsize` items (0: unbounded).
  template <class T>
  [[nodiscard]] QueueProxy<T> Queue(std::size_t maxsize = 0) {  // NOLINT(readability-identifier-naming): Python's name
    return QueueProxy<T>{session(), create(detail::mgr::Kind::queue, {}, static_cast<std::int64_t>(maxsize))};
  }
  template <class T>
  [[nodiscard]] QueueProxy<T> Queue(const std::string& name, std::size_t maxsize = 0) {  // NOLINT
    return QueueProxy<T>{session(), create(detail::mgr::Kind::queue, name, static_cast<std::int64_t>(maxsize))};
  }
  /// A queue whose consumers call task_done() and whose join() waits for them (Python's
  /// m.JoinableQueue(maxsize)).
  template <class T>
  [[nodiscard]] JoinableQueueProxy<T> JoinableQueue(std::size_t maxsize = 0) {  // NOLINT
    return JoinableQueueProxy<T>{session(), create(detail::mgr::Kind::joinable_queue, {}, static_cast<std::int64_t>(maxsize))};
  }
  template <class T>
  [[nodiscard]] JoinableQueueProxy<T> JoinableQueue(const std::string& name, std::size_t maxsize = 0) {  // NOLINT
    return JoinableQueueProxy<T>{session(), create(detail::mgr::Kind::joinable_queue, name, static_cast<std::int64_t>(maxsize))};
  }
  /// A fixed-size array holding `init` (Python's m.Array(typecode, sequence)).
  template <class T>
  [[nodiscard]] ArrayProxy<T> Array(const std::vector<T>& init) {  // NOLINT
    ListProxy<T> l{session(), create(detail::mgr::Kind::list, {})};
    l.extend(init);
    return ArrayProxy<T>{std::move(l)};
  }
  /// `n` value-initialised elements (Python's m.Array('i', n)).
  template <class T>
  [[nodiscard]] ArrayProxy<T> Array(std::size_t n) {  // NOLINT
    return Array<T>(std::vector<T>(n));
  }
  [[nodiscard]] LockProxy Lock(const std::string& name = {}) {  // NOLINT
    return LockProxy{session(), create(detail::mgr::Kind::lock, name)};
  }
  [[nodiscard]] RLockProxy RLock(const std::string& name = {}) {  // NOLINT
    return RLockProxy{session(), create(detail::mgr::Kind::rlock, name)};
  }
  [[nodiscard]] SemaphoreProxy Semaphore(std::int64_t value = 1, const std::string& name = {}) {  // NOLINT
    return SemaphoreProxy{session(), create(detail::mgr::Kind::semaphore, name, value)};
  }
  [[nodiscard]] BoundedSemaphoreProxy BoundedSemaphore(std::int64_t value = 1, const std::string& name = {}) {  // NOLINT
    return BoundedSemaphoreProxy{session(), create(detail::mgr::Kind::bounded_semaphore, name, value)};
  }
  /// A condition over a new RLock of its own (Python's m.Condition()).
  [[nodiscard]] ConditionProxy Condition(const std::string& name = {}) {  // NOLINT
    return ConditionProxy{session(), create(detail::mgr::Kind::condition, name)};
  }
  /// A condition over `lock`, a Lock or RLock of this manager (Python's m.Condition(lock)).
  [[nodiscard]] ConditionProxy Condition(const LockProxy& lock, const std::string& name = {}) {  // NOLINT
    return ConditionProxy{session(), create(detail::mgr::Kind::condition, name, lock_id(lock))};
  }
  [[nodiscard]] ConditionProxy Condition(const RLockProxy& lock, const std::string& name = {}) {  // NOLINT
    return ConditionProxy{session(), create(detail::mgr::Kind::condition, name, lock_id(lock))};
  }
  [[nodiscard]] EventProxy Event(const std::string& name = {}) {  // NOLINT
    return EventProxy{session(), create(detail::mgr::Kind::event, name)};
  }
  /// A barrier for `parties` waiters (Python's m.Barrier(parties)).
  [[nodiscard]] BarrierProxy Barrier(std::int64_t parties, const std::string& name = {}) {  // NOLINT
    return BarrierProxy{session(), create(detail::mgr::Kind::barrier, name, parties)};
  }
  /// A value of any serializable T, starting at `init`.
  template <class T>
  [[nodiscard]] ValueProxy<T> Value(const T& init = T{}) {  // NOLINT
    Bytes b = encode(init);
    return ValueProxy<T>{session(), create(detail::mgr::Kind::dict, {}, 0, &b)};
  }

  /// Lets the server keep objects of type T (default-constructed) and run the listed methods
  /// on them, each `kin::method<&T::m>("m")` or `KIN_METHOD(T, m)` (Python's
  /// BaseManager.register). Returns true, to be called at namespace scope:
  ///   [[maybe_unused]] static const bool r = kin::Manager::register_type<Counter>("Counter", ...);
  /// The name must be the same in every process. Only a fork-started server sees a
  /// registration made after kin::init (object_proxy.hpp). Registering a name again replaces it.
  template <class T, auto... Ms>
  static bool register_type(const std::string& name, detail::mgr::MethodSpec<Ms>... methods) {
    static_assert(std::is_default_constructible_v<T>, "kin::Manager::register_type<T>: the server default-constructs T");
    static_assert((detail::mgr::check_method<T, Ms>() && ...));
    if (name.empty()) throw ValueError("kin::Manager::register_type: an empty type name");
    detail::mgr::ObjectType type;
    type.make = []() -> void* { return new T(); };
    type.destroy = [](void* p) noexcept { delete static_cast<T*>(p); };
    (type.methods.emplace_back(methods.name, &detail::mgr::invoke_method<T, Ms>), ...);
    ((detail::mgr::method_name<Ms>() = methods.name), ...);
    detail::mgr::object_type_name<T>() = name;
    detail::mgr::register_object_type(name, std::move(type));
    return true;
  }
  /// A new T on the server — or, with a name, the one of that name every client shares. T must
  /// be registered in this process and in the server's (else kin::ValueError).
  template <class T>
  [[nodiscard]] ObjectProxy<T> make(const std::string& name = {}) {
    const std::string& type = detail::mgr::object_type_name<T>();
    if (type.empty())
      throw ValueError("kin::Manager::make<T>: T is not registered in this process (kin::Manager::register_type<T>)");
    Bytes b(type.size());
    std::memcpy(b.data(), type.data(), type.size());
    return ObjectProxy<T>{session(), create(detail::mgr::Kind::object, name, 0, &b)};
  }

 private:
  struct Impl;
  Manager(std::unique_ptr<Impl> impl);
  /// This Manager started the server (connect() made none).
  [[nodiscard]] bool owns_server() const;
  [[nodiscard]] std::shared_ptr<detail::mgr::ManagerSession> session() const;
  std::uint32_t create(detail::mgr::Kind kind, const std::string& name, std::int64_t arg = 0,
                       const Bytes* init = nullptr);
  static std::int64_t lock_id(const detail::mgr::ProxyBase& lock) {
    if (!lock) throw ValueError("kin::Manager::Condition: an empty lock proxy");
    return lock.id();
  }

  std::unique_ptr<Impl> impl_;
};

}  // namespace kin
