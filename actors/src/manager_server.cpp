// The server of kin::Manager: one Boost.Asio event loop on one thread owns every shared object,
// so each request runs to completion before the next — the atomicity of Python's manager
// without a GIL or a thread per client. Connections come authenticated from a ListenerCore
// (HMAC handshake on the runtime thread, before any payload is read) through one accept thread.
// Blocking operations (a Queue get, a Lock acquire, an Event wait) park their connection on the
// object and are answered when they can complete or at their timeout (one timer per
// connection), never by polling. A Condition is a waiter list beside a Lock or RLock object: a
// wait releases the lock and parks on the condition; notify (or the timeout) moves the waiter
// to the lock's waiters, so it is answered only once it holds the lock again — every lock
// rule (arrival order, release by a dead holder) is the lock's own. A registered type's
// object runs only its registered methods, on this thread, one request at a time. A client
// that closes (dies) is forgotten at once: its parked request is dropped, the Locks it holds
// are released — and so is one whose host vanished (TCP keepalive fails its socket), and one
// that gave up (a call_timeout) before its parked request was answered: a waiter's socket is
// looked at before it is handed an item or a lock. A malformed request gets a ProtocolError
// reply and the connection goes on; a frame over the size limit cannot be resynchronised, so it
// gets the reply and the connection is closed. Nothing a client sends can stop the others.
#include <kin/detail/manager_protocol.hpp>

#include <kin/errors.hpp>
#include <kin/runtime/auth.hpp>
#include <kin/runtime/listener_core.hpp>
#include <kin/runtime/tls.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <fcntl.h>
#include <sched.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace kin::detail::mgr {
namespace {

namespace asio = boost::asio;

struct Conn;

struct Waiter {
  std::weak_ptr<Conn> conn;
  Op op;
  std::string item;        // q_put: the item
  std::int64_t owner = 0;  // s_acquire, c_wait: the owner token
  std::int64_t depth = 1;  // c_wait: the RLock recursion depth to restore when it takes it back
  bool notified = true;    // c_wait: its answer (false: it timed out)
};

struct Object {
  Kind kind;
  std::unordered_map<std::string, std::string> map;  // dict, Namespace, Value
  std::vector<std::string> list;
  std::deque<std::string> queue;
  std::uint64_t maxsize = 0;  // queue: 0 = unbounded
  std::int64_t count = 0;     // semaphore value (lock: 1 free, 0 held); rlock: recursion depth;
                              // joinable queue: items put and not yet task_done()
  std::int64_t bound = 0;     // bounded semaphore's initial value
  std::int64_t owner = 0;     // rlock: owner token
  std::uint64_t holder = 0;   // lock/rlock: the connection holding it (0: none)
  bool flag = false;          // event; barrier: broken
  std::int64_t arrived = 0;   // barrier: parties waiting now
  std::uint32_t lock = 0;     // condition: its Lock or RLock (another object)
  std::shared_ptr<void> user;              // object: the registered type's instance
  const ObjectType* type = nullptr;        // object: its registered methods
  std::string type_name;                   // object: the name it was registered under
  std::deque<Waiter> waiters;  // (a condition's: those not yet notified)
};

class Server;

struct Conn : std::enable_shared_from_this<Conn> {
  Conn(asio::io_context& io, unique_fd fd, std::uint64_t id_, std::size_t max_frame)
      : sd(io, fd.release()), timer(io), reader(max_frame), id(id_) {}
  asio::posix::stream_descriptor sd;
  asio::steady_timer timer;
  FrameReader reader;
  std::string out;
  std::uint64_t id;
  // The id of the request being run or parked (a connection runs one at a time, in order):
  // its reply, now or when the parked request completes, carries it back.
  std::uint32_t rid = 0;
  bool parked = false;
  std::uint32_t parked_on = 0;
  std::uint64_t park_seq = 0;
  bool write_armed = false;
  bool closing = false;  // close after the output is flushed
  bool dead = false;
  std::vector<std::uint32_t> held;  // locks it holds
};

/// A request that cannot be answered: its status and message travel back to the client.
struct Refusal {
  Status status;
  std::string what;
};

class Reply {
 public:
  Reply() : f_(kFrameHeaderSize + kRequestIdSize + 1) {}
  Writer w() { return Writer{f_}; }
  void flag(bool b) { w().apply(b); }
  void blob(std::string_view s) {
    Writer wr{f_};
    put_blob(wr, s);
  }
  template <class T>
  void num(T x) {
    w().raw(&x, sizeof x);
  }
  void count(std::size_t n) { w().varint(n); }
  /// The frame answering request `rid` (the id its request carried) with status `s`.
  Bytes& finish(Status s, std::uint32_t rid) {
    std::memcpy(f_.data() + kFrameHeaderSize, &rid, sizeof rid);
    f_[kFrameHeaderSize + kRequestIdSize] = static_cast<std::byte>(s);
    fill_frame_header(std::span<std::byte, kFrameHeaderSize>(f_.data(), kFrameHeaderSize),
                      f_.size() - kFrameHeaderSize);
    return f_;
  }

 private:
  Bytes f_;
};

template <class T>
std::string add_as(const std::string* old, Reader& r) {
  T cur{};
  if (old != nullptr) {
    if (old->size() != sizeof(T))
      throw Refusal{Status::value_error, "kin::Manager: add on a value of another type (" +
                                             std::to_string(old->size()) + " bytes, the delta " +
                                             std::to_string(sizeof(T)) + ")"};
    std::memcpy(&cur, old->data(), sizeof(T));
  }
  T delta = get_num<T>(r);
  if constexpr (std::is_integral_v<T>)
    cur = static_cast<T>(static_cast<std::make_unsigned_t<T>>(cur) + static_cast<std::make_unsigned_t<T>>(delta));
  else
    cur = static_cast<T>(cur + delta);
  return std::string(reinterpret_cast<const char*>(&cur), sizeof(T));
}

std::string add_num(Num n, const std::string* old, Reader& r) {
  switch (n) {
    case Num::i8: return add_as<std::int8_t>(old, r);
    case Num::i16: return add_as<std::int16_t>(old, r);
    case Num::i32: return add_as<std::int32_t>(old, r);
    case Num::i64: return add_as<std::int64_t>(old, r);
    case Num::u8: return add_as<std::uint8_t>(old, r);
    case Num::u16: return add_as<std::uint16_t>(old, r);
    case Num::u32: return add_as<std::uint32_t>(old, r);
    case Num::u64: return add_as<std::uint64_t>(old, r);
    case Num::f32: return add_as<float>(old, r);
    case Num::f64: return add_as<double>(old, r);
  }
  throw Refusal{Status::protocol_error, "kin::Manager: unknown number type in add"};
}

// Python's index rule: negative counts from the end.
std::size_t index_in(std::int64_t i, std::size_t size) {
  const auto n = static_cast<std::int64_t>(size);
  if (i < 0) i += n;
  if (i < 0 || i >= n)
    throw Refusal{Status::index_error, "kin::IndexError: list index out of range"};
  return static_cast<std::size_t>(i);
}

class Server {
 public:
  // Object ids start at a random base, so a proxy from an earlier server at the same address
  // (a restarted one) finds no object here and learns that the state it knew is lost.
  explicit Server(const ServerConfig& c) : config_(c) {
    std::uint32_t base = 0;
    if (::getrandom(&base, sizeof base, 0) != static_cast<ssize_t>(sizeof base)) base = static_cast<std::uint32_t>(::getpid()) << 16;
    next_object_ = base & 0x7fff0000u;
  }

  int run(const std::function<void(const SocketAddress&)>& on_ready) {
    // With TLS the listener is private — a Unix socket only the TLS front connects to — and
    // the HMAC handshake runs inside TLS, end to end with the client.
    SocketAddress listen_at = config_.address;
    if (config_.tls)
      listen_at = SocketAddress{"", 0, std::string("/tmp/kin-manager-tls-").append(std::to_string(::getpid())).append("-")
                                          .append(random_hex(6)).append(".sock")};
    ListenerCore listener{listen_at, config_.authkey, std::chrono::seconds(5)};
    std::unique_ptr<TlsFront> front;
    if (config_.tls) front = std::make_unique<TlsFront>(config_.address, *config_.tls, listener.address());
    std::thread acceptor([this, &listener] {
      for (;;) {
        try {
          unique_fd fd = listener.accept();
          asio::post(io_, [this, f = std::make_shared<unique_fd>(std::move(fd))]() mutable { add(std::move(*f)); });
        } catch (const AuthenticationError&) {
          continue;  // a client with a wrong key: it has been told; serve the others
        } catch (const ValueError&) {
          return;  // closed: shutting down
        } catch (const std::exception& e) {
          std::fprintf(stderr, "kin::Manager server: accept: %s\n", e.what());
          if (listener.closed()) return;
          std::this_thread::sleep_for(std::chrono::milliseconds(10));  // EMFILE and the like
        }
      }
    });
    on_ready(front ? front->address() : listener.address());
    auto guard = asio::make_work_guard(io_);
    run_loop();
    listener.close();
    acceptor.join();
    for (auto& [id, c] : conns_) c->dead = true;
    conns_.clear();
    if (front) front->close();  // after the connections closed: their relays have ended or end now
    return 0;
  }

  // A wake-up across CPUs costs tens of µs on small VMs, several times the work of a request,
  // so after each burst of work the loop keeps polling (without sleeping) for a short while:
  // a client's next request, sent right after the reply, is then picked up at once. An idle
  // server sleeps in epoll like any other.
  void run_loop() {
    using clock = std::chrono::steady_clock;
    constexpr auto kSpin = std::chrono::microseconds(50);
    auto last = clock::now();
    while (!io_.stopped()) {
      if (io_.poll() > 0) {
        last = clock::now();
        continue;
      }
      if (io_.stopped()) break;
      if (clock::now() - last < kSpin) {
        ::sched_yield();  // with the client on this CPU, let it run
        continue;
      }
      if (io_.run_one() == 0) break;
      last = clock::now();
    }
  }

 private:
  void add(unique_fd fd) {
    const int fl = ::fcntl(fd.get(), F_GETFL);
    if (fl < 0 || ::fcntl(fd.get(), F_SETFL, fl | O_NONBLOCK) < 0) return;
    // A client whose host vanishes without closing must still be seen to go (its Locks
    // released): TCP keepalive fails its socket within ~10 s, as on the client side.
    try {
      set_keepalive(fd.get());
    } catch (const OSError&) {
      // not a TCP socket option this kernel knows: serve it without
    }
    auto c = std::make_shared<Conn>(io_, std::move(fd), ++next_conn_, static_cast<std::size_t>(config_.max_frame));
    conns_.emplace(c->id, c);
    arm_read(c);
  }

  void arm_read(const std::shared_ptr<Conn>& c) {
    c->sd.async_wait(asio::posix::stream_descriptor::wait_read, [this, w = std::weak_ptr<Conn>(c)](auto ec) {
      auto conn = w.lock();
      if (!conn || conn->dead || ec) return;
      on_readable(conn);
    });
  }

  void on_readable(const std::shared_ptr<Conn>& c) {
    bool open = true;
    try {
      open = c->reader.read_some(c->sd.native_handle());
    } catch (const ProtocolError& e) {
      // Oversized length: the stream cannot be parsed past it. Tell the client, then close.
      send(c, refusal(Status::protocol_error, e.what(), 0));  // no id: the frame was never read
      c->closing = true;
      flush(c);
      return;
    } catch (const std::exception&) {
      open = false;
    }
    if (!open) return close(c);
    process(c);
    if (!c->dead && !c->closing) arm_read(c);
  }

  // Runs the buffered requests until one parks.
  void process(const std::shared_ptr<Conn>& c) {
    while (!c->dead && !c->parked && !c->closing) {
      std::optional<std::size_t> len;
      try {
        len = c->reader.complete_frame();
      } catch (const ProtocolError& e) {
        send(c, refusal(Status::protocol_error, e.what(), 0));  // no id: the frame was never read
        c->closing = true;
        break;
      }
      if (!len) break;
      auto payload = c->reader.front_payload(*len);
      handle(c, payload);
      c->reader.drop(*len);
    }
    flush(c);
  }

  static Bytes refusal(Status s, const std::string& what, std::uint32_t rid) {
    Reply r;
    r.blob(what);
    return std::move(r.finish(s, rid));
  }

  void send(const std::shared_ptr<Conn>& c, const Bytes& frame) {
    c->out.append(reinterpret_cast<const char*>(frame.data()), frame.size());
  }

  void flush(const std::shared_ptr<Conn>& c) {
    while (!c->out.empty() && !c->dead) {
      ssize_t n = ::send(c->sd.native_handle(), c->out.data(), c->out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        c->out.erase(0, static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!c->write_armed) {
          c->write_armed = true;
          c->sd.async_wait(asio::posix::stream_descriptor::wait_write,
                           [this, w = std::weak_ptr<Conn>(c)](auto ec) {
                             auto conn = w.lock();
                             if (!conn || conn->dead) return;
                             conn->write_armed = false;
                             if (ec) return close(conn);
                             flush(conn);
                           });
        }
        return;
      }
      return close(c);  // the client is gone
    }
    if (c->out.empty() && c->closing) close(c);
  }

  void close(const std::shared_ptr<Conn>& c) {
    if (c->dead) return;
    c->dead = true;
    c->timer.cancel();
    if (c->parked) {
      const std::uint32_t on = c->parked_on;
      unpark_waiter(c);
      auto b = objects_.find(on);
      // A party that died never arrives: the others learn it instead of waiting forever.
      if (b != objects_.end() && b->second.kind == Kind::barrier)
        break_barrier(on, "kin::BrokenBarrierError: a party waiting on the barrier died");
    }
    for (std::uint32_t id : c->held) {
      auto it = objects_.find(id);
      if (it == objects_.end() || it->second.holder != c->id) continue;
      // The holder is gone: its lock is free again (a crashed client never deadlocks others).
      it->second.holder = 0;
      it->second.owner = 0;
      it->second.count = it->second.kind == Kind::rlock ? 0 : 1;
      wake(id);
    }
    c->held.clear();
    boost::system::error_code ec;
    c->sd.close(ec);
    conns_.erase(c->id);
  }

  void unpark_waiter(const std::shared_ptr<Conn>& c) {
    auto it = objects_.find(c->parked_on);
    if (it != objects_.end()) {
      auto& ws = it->second.waiters;
      for (auto w = ws.begin(); w != ws.end(); ++w) {
        auto wc = w->conn.lock();
        if (!wc || wc == c) {
          ws.erase(w);
          break;
        }
      }
    }
    c->parked = false;
  }

  Object& object(std::uint32_t id, std::initializer_list<Kind> kinds) {
    auto it = objects_.find(id);
    if (it == objects_.end())
      throw Refusal{Status::lost, "no shared object " + std::to_string(id) +
                                      " on this server: it was restarted and its state is lost, or the proxy is another server's"};
    for (Kind k : kinds)
      if (it->second.kind == k) return it->second;
    throw Refusal{Status::value_error, "kin::Manager: shared object " + std::to_string(id) + " is of another type"};
  }

  void handle(const std::shared_ptr<Conn>& c, std::span<const std::byte> payload) {
    Reply reply;
    Status status = Status::ok;
    try {
      Reader r{payload};
      Op op{};
      std::uint32_t id = 0;
      c->rid = 0;  // a frame too short to hold an id is answered with id 0
      r.raw(&c->rid, sizeof c->rid);
      r.raw(&op, 1);
      r.raw(&id, sizeof id);
      if (!execute(c, op, id, r, reply)) return;  // parked
      if (r.remaining() != 0) throw Refusal{Status::protocol_error, "kin::Manager: trailing bytes in a request"};
    } catch (const Refusal& e) {
      status = e.status;
      reply = Reply{};
      reply.blob(e.what);
    } catch (const ProtocolError& e) {
      status = Status::protocol_error;
      reply = Reply{};
      reply.blob(std::string("kin::Manager: malformed request: ") + e.what());
    } catch (const std::exception& e) {
      status = Status::value_error;
      reply = Reply{};
      reply.blob(std::string("kin::Manager: request failed on the server: ") + e.what());
    }
    send(c, reply.finish(status, c->rid));
  }

  // Returns false when the request parked (its reply comes later).
  bool execute(const std::shared_ptr<Conn>& c, Op op, std::uint32_t id, Reader& r, Reply& out) {
    switch (op) {
      case Op::create: return create(r, out);
      case Op::shutdown:
        asio::post(io_, [this] { io_.stop(); });
        return true;
      case Op::ping: return true;
      default: break;
    }
    const auto ou = static_cast<unsigned>(op);
    if (ou >= 10 && ou < 30) return dict_op(op, object(id, {Kind::dict}), r, out);
    if (ou >= 30 && ou < 50) return list_op(op, object(id, {Kind::list}), r, out);
    if (op == Op::q_put || op == Op::q_get || op == Op::q_size) return queue_op(c, op, id, r, out);
    if (op == Op::q_task_done || op == Op::q_join) return joinable_op(c, op, id, r, out);
    if (op == Op::s_acquire || op == Op::s_release || op == Op::s_value) return sync_op(c, op, id, r, out);
    if (op == Op::e_set || op == Op::e_clear || op == Op::e_is_set || op == Op::e_wait)
      return event_op(c, op, id, r, out);
    if (op == Op::b_wait || op == Op::b_abort || op == Op::b_reset || op == Op::b_state)
      return barrier_op(c, op, id, r, out);
    if (op == Op::c_wait || op == Op::c_notify) return condition_op(c, op, id, r);
    if (op == Op::o_call) return object_call(id, r, out);
    throw Refusal{Status::protocol_error, "kin::Manager: unknown operation " + std::to_string(ou)};
  }

  bool create(Reader& r, Reply& out) {
    Kind kind{};
    r.raw(&kind, 1);
    std::string name = get_blob(r);
    const auto arg = get_num<std::int64_t>(r);
    std::string init = get_blob(r);
    bool has_init = false;
    r.apply(has_init);
    if (kind < Kind::dict || kind > Kind::object) throw Refusal{Status::protocol_error, "kin::Manager: unknown object type"};
    const ObjectType* type = nullptr;
    if (kind == Kind::object) {
      type = find_object_type(init);
      if (type == nullptr)
        throw Refusal{Status::value_error, "kin::Manager: no type \"" + init +
                                               "\" is registered in the server's process (Manager::register_type "
                                               "at namespace scope reaches servers of every start method)"};
    }
    if (!name.empty()) {
      auto it = names_.find(name);
      if (it != names_.end()) {
        const Object& old = objects_.at(it->second);
        if (old.kind != kind || (kind == Kind::object && old.type_name != init))
          throw Refusal{Status::value_error, "kin::Manager: \"" + name + "\" is a shared object of another type"};
        out.num(it->second);
        return true;
      }
    }
    if (arg < 0) throw Refusal{Status::value_error, "kin::Manager: negative size or count"};
    const std::uint32_t id = ++next_object_;
    Object& o = objects_[id];
    o.kind = kind;
    switch (kind) {
      case Kind::queue:
      case Kind::joinable_queue: o.maxsize = static_cast<std::uint64_t>(arg); break;
      case Kind::lock: o.count = 1; break;
      case Kind::semaphore:
      case Kind::bounded_semaphore: o.count = o.bound = arg; break;
      case Kind::barrier:
        if (arg < 1) {
          objects_.erase(id);
          throw Refusal{Status::value_error, "kin::Manager Barrier: parties must be at least 1"};
        }
        o.bound = arg;
        break;
      case Kind::condition: {
        // Python's Condition(lock=None): a new RLock of its own, else the Lock or RLock given.
        auto lock = static_cast<std::uint32_t>(arg);
        if (arg == 0) {
          lock = ++next_object_;
          objects_[lock].kind = Kind::rlock;
        } else if (auto l = objects_.find(lock);
                   static_cast<std::int64_t>(lock) != arg || l == objects_.end() ||
                   (l->second.kind != Kind::lock && l->second.kind != Kind::rlock)) {
          objects_.erase(id);
          throw Refusal{Status::value_error, "kin::Manager Condition: the lock given is not a Lock or RLock of this manager"};
        }
        objects_.at(id).lock = lock;
        break;
      }
      case Kind::object:
        try {
          o.user = std::shared_ptr<void>(type->make(), type->destroy);
        } catch (const std::exception& e) {
          objects_.erase(id);
          throw Refusal{Status::value_error, "kin::Manager: constructing a \"" + init + "\" failed: " + e.what()};
        } catch (...) {
          objects_.erase(id);
          throw Refusal{Status::value_error, "kin::Manager: constructing a \"" + init + "\" threw something that is not a std::exception"};
        }
        o.type = type;
        o.type_name = init;
        break;
      default: break;
    }
    if (has_init && kind == Kind::dict) o.map.emplace(std::string{}, std::move(init));
    if (!name.empty()) names_.emplace(std::move(name), id);
    out.num(id);
    return true;
  }

  bool dict_op(Op op, Object& o, Reader& r, Reply& out) {
    auto& m = o.map;
    switch (op) {
      case Op::d_set: {
        std::string k = get_blob(r);
        m.insert_or_assign(std::move(k), get_blob(r));
        return true;
      }
      case Op::d_get: {
        auto it = m.find(get_blob(r));
        if (it == m.end()) throw Refusal{Status::key_error, "kin::KeyError: no such key in the manager dict"};
        out.blob(it->second);
        return true;
      }
      case Op::d_get_opt:
      case Op::d_pop: {
        auto it = m.find(get_blob(r));
        out.flag(it != m.end());
        if (it != m.end()) {
          out.blob(it->second);
          if (op == Op::d_pop) m.erase(it);
        }
        return true;
      }
      case Op::d_contains: out.flag(m.contains(get_blob(r))); return true;
      case Op::d_erase: out.flag(m.erase(get_blob(r)) != 0); return true;
      case Op::d_size: out.num(static_cast<std::uint64_t>(m.size())); return true;
      case Op::d_keys:
      case Op::d_values:
      case Op::d_items:
        out.count(m.size());
        for (auto& [k, v] : m) {
          if (op != Op::d_values) out.blob(k);
          if (op != Op::d_keys) out.blob(v);
        }
        return true;
      case Op::d_update: {
        const std::size_t n = get_count(r);
        std::vector<std::pair<std::string, std::string>> kv(n);
        for (auto& [k, v] : kv) {
          k = get_blob(r);
          v = get_blob(r);
        }
        for (auto& [k, v] : kv) m.insert_or_assign(std::move(k), std::move(v));  // all or nothing
        return true;
      }
      case Op::d_setdefault: {
        std::string k = get_blob(r);
        std::string v = get_blob(r);
        auto [it, inserted] = m.try_emplace(std::move(k), std::move(v));
        out.blob(it->second);
        return true;
      }
      case Op::d_add: {
        std::string k = get_blob(r);
        Num n{};
        r.raw(&n, 1);
        auto it = m.find(k);
        std::string v = add_num(n, it == m.end() ? nullptr : &it->second, r);
        out.blob(v);
        m.insert_or_assign(std::move(k), std::move(v));
        return true;
      }
      case Op::d_apply: {
        std::string name = get_blob(r);
        std::string k = get_blob(r);
        std::string arg = get_blob(r);
        ErasedFunction fn = find_function(name);
        if (fn == nullptr)
          throw Refusal{Status::value_error, "kin::Manager: no function \"" + name + "\" registered with KIN_MANAGER_FUNCTION"};
        auto it = m.find(k);
        std::string v = fn(it == m.end() ? nullptr : &it->second, arg);
        out.blob(v);
        m.insert_or_assign(std::move(k), std::move(v));
        return true;
      }
      case Op::d_clear: m.clear(); return true;
      default: throw Refusal{Status::protocol_error, "kin::Manager: not a dict operation"};
    }
  }

  bool list_op(Op op, Object& o, Reader& r, Reply& out) {
    auto& l = o.list;
    switch (op) {
      case Op::l_append: l.push_back(get_blob(r)); return true;
      case Op::l_extend: {
        const std::size_t n = get_count(r);
        std::vector<std::string> xs(n);
        for (auto& x : xs) x = get_blob(r);
        for (auto& x : xs) l.push_back(std::move(x));
        return true;
      }
      case Op::l_insert: {
        auto i = get_num<std::int64_t>(r);
        const auto n = static_cast<std::int64_t>(l.size());
        if (i < 0) i = std::max<std::int64_t>(0, i + n);
        i = std::min(i, n);
        l.insert(l.begin() + i, get_blob(r));
        return true;
      }
      case Op::l_get: out.blob(l[index_in(get_num<std::int64_t>(r), l.size())]); return true;
      case Op::l_set: {
        const std::size_t i = index_in(get_num<std::int64_t>(r), l.size());
        l[i] = get_blob(r);
        return true;
      }
      case Op::l_pop: {
        if (l.empty()) {
          (void)get_num<std::int64_t>(r);
          throw Refusal{Status::index_error, "kin::IndexError: pop from empty list"};
        }
        const std::size_t i = index_in(get_num<std::int64_t>(r), l.size());
        out.blob(l[i]);
        l.erase(l.begin() + static_cast<std::ptrdiff_t>(i));
        return true;
      }
      case Op::l_size: out.num(static_cast<std::uint64_t>(l.size())); return true;
      case Op::l_all:
        out.count(l.size());
        for (auto& x : l) out.blob(x);
        return true;
      case Op::l_clear: l.clear(); return true;
      default: throw Refusal{Status::protocol_error, "kin::Manager: not a list operation"};
    }
  }

  // Parks `c` on object `id` until `wake` completes its request, or until its timeout.
  void park(const std::shared_ptr<Conn>& c, std::uint32_t id, Waiter w, std::int64_t us) {
    c->parked = true;
    c->parked_on = id;
    const std::uint64_t seq = ++c->park_seq;
    objects_.at(id).waiters.push_back(std::move(w));
    if (us < 0) return;
    c->timer.expires_after(std::chrono::microseconds(us));
    c->timer.async_wait([this, wc = std::weak_ptr<Conn>(c), seq](auto ec) {
      auto conn = wc.lock();
      if (ec || !conn || conn->dead || !conn->parked || conn->park_seq != seq) return;
      auto obj = objects_.find(conn->parked_on);
      if (obj != objects_.end() && obj->second.kind == Kind::barrier) {
        // Python's Barrier: a wait that times out breaks the barrier for every waiter.
        break_barrier(conn->parked_on, "kin::BrokenBarrierError: a wait on the barrier timed out");
        return;
      }
      if (obj != objects_.end() && obj->second.kind == Kind::condition) {
        // Python's Condition.wait(timeout): a wait that times out still takes the lock back
        // before it returns false.
        if (auto waiter = take_waiter(obj->second, conn)) {
          const std::uint32_t lock = obj->second.lock;
          to_lock(conn, lock, std::move(*waiter), false);
          wake(lock);
        }
        return;
      }
      unpark_waiter(conn);
      Reply rep;
      rep.flag(false);  // timed out
      send(conn, rep.finish(Status::ok, conn->rid));
      process(conn);  // writes the reply (and runs anything it sent meanwhile)
    });
  }

  // Completes the waiters of `id` that can complete now, in arrival order.
  void wake(std::uint32_t id) {
    auto it = objects_.find(id);
    if (it == objects_.end()) return;
    Object& o = it->second;
    std::vector<std::shared_ptr<Conn>> gone;
    for (bool progress = true; progress;) {
      progress = false;
      for (auto w = o.waiters.begin(); w != o.waiters.end();) {
        auto c = w->conn.lock();
        if (!c || c->dead) {
          w = o.waiters.erase(w);
          continue;
        }
        // A client that left (died, or gave up: a call_timeout) may not have been noticed
        // yet — its request and its close arrive together when a stopped server resumes. An
        // item handed to it would be lost to the living, so look at its socket first (only
        // when there is something to hand it: a syscall per parked getter per put otherwise).
        if (may_complete(o, *w) && hung_up(*c)) {
          w = o.waiters.erase(w);
          gone.push_back(std::move(c));
          continue;
        }
        Reply rep;
        if (!try_complete(c, id, o, *w, rep)) {
          // FIFO fairness for locks and semaphores: nobody overtakes the first waiter.
          if (o.kind != Kind::queue && o.kind != Kind::joinable_queue) break;
          ++w;
          continue;
        }
        w = o.waiters.erase(w);
        progress = true;
        c->parked = false;
        c->timer.cancel();
        send(c, rep.finish(Status::ok, c->rid));
        // Written (and any further buffered requests run) after this loop: a write may find
        // the client gone, and closing it must not change these waiters under our feet.
        asio::post(io_, [this, wc = std::weak_ptr<Conn>(c)] {
          auto conn = wc.lock();
          if (conn && !conn->dead) process(conn);
        });
      }
    }
    for (auto& g : gone) close(g);  // after the loop: closing may wake this object again
  }

  // False when the waiter's operation certainly cannot complete now (try_complete would say so).
  static bool may_complete(const Object& o, const Waiter& w) {
    switch (w.op) {
      case Op::q_get: return !o.queue.empty();
      case Op::q_put: return o.maxsize == 0 || o.queue.size() < o.maxsize;
      case Op::q_join: return o.count == 0;
      case Op::e_wait: return o.flag;
      default: return true;  // a lock's: only its first waiter is tried
    }
  }

  // Tries the waiter's operation; fills `rep` when it completes.
  bool try_complete(const std::shared_ptr<Conn>& c, std::uint32_t id, Object& o, Waiter& w, Reply& rep) {
    switch (w.op) {
      case Op::q_get:
        if (o.queue.empty()) return false;
        rep.flag(true);
        rep.blob(o.queue.front());
        o.queue.pop_front();
        return true;
      case Op::q_put:
        if (o.maxsize != 0 && o.queue.size() >= o.maxsize) return false;
        o.queue.push_back(std::move(w.item));
        if (o.kind == Kind::joinable_queue) ++o.count;
        rep.flag(true);
        return true;
      case Op::q_join:
        if (o.count != 0) return false;
        rep.flag(true);
        return true;
      case Op::s_acquire:
        if (!try_acquire(c, id, o, w.owner)) return false;
        rep.flag(true);
        return true;
      case Op::e_wait:
        if (!o.flag) return false;
        rep.flag(true);
        return true;
      case Op::c_wait:  // a notified (or timed out) Condition waiter, taking its lock back
        if (!try_acquire(c, id, o, w.owner)) return false;
        if (o.kind == Kind::rlock) o.count = w.depth;
        rep.flag(w.notified);
        return true;
      default: return false;
    }
  }

  bool try_acquire(const std::shared_ptr<Conn>& c, std::uint32_t id, Object& o, std::int64_t owner) {
    if (o.kind == Kind::rlock) {
      if (o.count > 0 && o.owner != owner) return false;
      if (o.count == 0) {
        o.owner = owner;
        o.holder = c->id;
        c->held.push_back(id);
      }
      ++o.count;
      return true;
    }
    if (o.count <= 0) return false;
    --o.count;
    if (o.kind == Kind::lock) {
      o.holder = c->id;
      c->held.push_back(id);
    }
    return true;
  }

  bool queue_op(const std::shared_ptr<Conn>& c, Op op, std::uint32_t id, Reader& r, Reply& out) {
    Object& o = object(id, {Kind::queue, Kind::joinable_queue});
    if (op == Op::q_size) {
      out.num(static_cast<std::uint64_t>(o.queue.size()));
      out.num(o.maxsize);
      return true;
    }
    const auto us = get_num<std::int64_t>(r);
    Waiter w{c, op, {}, 0};
    if (op == Op::q_put) w.item = get_blob(r);
    // Only when nobody waits before it (FIFO), else it queues behind them.
    bool waiting_same = false;
    for (auto& x : o.waiters)
      if (x.op == op) waiting_same = true;
    if (!waiting_same && try_complete(c, id, o, w, out)) {
      wake(id);  // a put may satisfy a waiting get, and a get make room for a waiting put
      return true;
    }
    if (us == 0) {
      out.flag(false);
      return true;
    }
    park(c, id, std::move(w), us);
    return false;
  }

  // JoinableQueue: task_done() counts an item finished; join() waits until none is unfinished.
  bool joinable_op(const std::shared_ptr<Conn>& c, Op op, std::uint32_t id, Reader& r, Reply& out) {
    Object& o = object(id, {Kind::joinable_queue});
    if (op == Op::q_task_done) {
      if (o.count == 0) throw Refusal{Status::value_error, "kin::Manager JoinableQueue: task_done() called too many times"};
      if (--o.count == 0) wake(id);
      return true;
    }
    const auto us = get_num<std::int64_t>(r);
    Waiter w{c, op, {}, 0};
    if (try_complete(c, id, o, w, out)) return true;
    if (us == 0) {
      out.flag(false);
      return true;
    }
    park(c, id, std::move(w), us);
    return false;
  }

  bool sync_op(const std::shared_ptr<Conn>& c, Op op, std::uint32_t id, Reader& r, Reply& out) {
    // A Condition's acquire and release are its lock's.
    if (Object& maybe = object(id, {Kind::lock, Kind::rlock, Kind::semaphore, Kind::bounded_semaphore, Kind::condition});
        maybe.kind == Kind::condition)
      id = maybe.lock;
    Object& o = object(id, {Kind::lock, Kind::rlock, Kind::semaphore, Kind::bounded_semaphore});
    if (op == Op::s_value) {
      out.num(o.kind == Kind::rlock ? (o.count == 0 ? std::int64_t{1} : std::int64_t{0}) : o.count);
      return true;
    }
    if (op == Op::s_release) {
      const auto owner = get_num<std::int64_t>(r);
      switch (o.kind) {
        case Kind::lock:
          if (o.count != 0) throw Refusal{Status::value_error, "kin::Manager Lock: release of an unlocked lock"};
          o.count = 1;
          release_holder(o, id);
          break;
        case Kind::rlock:
          if (o.count == 0 || o.owner != owner)
            throw Refusal{Status::value_error, "kin::Manager RLock: release of an un-acquired lock"};
          if (--o.count == 0) {
            o.owner = 0;
            release_holder(o, id);
          }
          break;
        case Kind::bounded_semaphore:
          if (o.count >= o.bound)
            throw Refusal{Status::value_error, "kin::Manager BoundedSemaphore: released too many times"};
          ++o.count;
          break;
        default: ++o.count; break;
      }
      wake(id);
      return true;
    }
    const auto us = get_num<std::int64_t>(r);
    const auto owner = get_num<std::int64_t>(r);
    if (o.waiters.empty() && try_acquire(c, id, o, owner)) {
      out.flag(true);
      return true;
    }
    if (us == 0) {
      out.flag(false);
      return true;
    }
    park(c, id, Waiter{c, op, {}, owner}, us);
    return false;
  }

  // The peer closed (or reset) a connection that has nothing more to read from it.
  static bool hung_up(Conn& c) {
    char b = 0;
    const ssize_t n = ::recv(c.sd.native_handle(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
  }

  // Python's Condition._is_owned: an RLock held by this thread; a Lock held at all.
  static bool owned(const Object& lock, std::int64_t owner) {
    return lock.kind == Kind::rlock ? lock.count > 0 && lock.owner == owner : lock.count == 0;
  }

  // Removes `c`'s waiter from `o`'s list (it is parked there).
  static std::optional<Waiter> take_waiter(Object& o, const std::shared_ptr<Conn>& c) {
    for (auto w = o.waiters.begin(); w != o.waiters.end(); ++w) {
      if (w->conn.lock() != c) continue;
      Waiter taken = std::move(*w);
      o.waiters.erase(w);
      return taken;
    }
    return std::nullopt;
  }

  // A Condition waiter, notified or timed out, now waits for the lock (without a timeout, as
  // Python's): its reply comes when it holds the lock again.
  void to_lock(const std::shared_ptr<Conn>& c, std::uint32_t lock, Waiter w, bool notified) {
    w.notified = notified;
    c->parked_on = lock;
    ++c->park_seq;  // a timer that already fired is stale
    c->timer.cancel();
    objects_.at(lock).waiters.push_back(std::move(w));
  }

  bool condition_op(const std::shared_ptr<Conn>& c, Op op, std::uint32_t id, Reader& r) {
    Object& cond = object(id, {Kind::condition});
    const std::uint32_t lock_id = cond.lock;
    Object& lock = objects_.at(lock_id);
    if (op == Op::c_notify) {
      const auto n = get_num<std::int64_t>(r);  // < 0: all
      const auto owner = get_num<std::int64_t>(r);
      if (!owned(lock, owner))
        throw Refusal{Status::value_error, "kin::Manager Condition: notify() on an un-acquired lock"};
      std::vector<std::shared_ptr<Conn>> gone;
      for (std::int64_t moved = 0; !cond.waiters.empty() && (n < 0 || moved < n);) {
        Waiter w = std::move(cond.waiters.front());
        cond.waiters.pop_front();
        auto wc = w.conn.lock();
        if (!wc || wc->dead) continue;
        // A waiter killed a moment ago may not have been noticed yet: a notification spent on
        // it would be lost to the living, so look at its socket first.
        if (hung_up(*wc)) {
          gone.push_back(std::move(wc));
          continue;
        }
        to_lock(wc, lock_id, std::move(w), true);
        ++moved;
      }
      for (auto& g : gone) close(g);
      return true;  // the notifier holds the lock: the notified get it when it lets go
    }
    const auto us = get_num<std::int64_t>(r);
    const auto owner = get_num<std::int64_t>(r);
    if (!owned(lock, owner))
      throw Refusal{Status::value_error, "kin::Manager Condition: wait() on an un-acquired lock"};
    // Python's _release_save: let go of the lock entirely, whatever the RLock's depth.
    Waiter w{c, Op::c_wait, {}, owner};
    w.depth = lock.kind == Kind::rlock ? lock.count : 1;
    lock.count = lock.kind == Kind::rlock ? 0 : 1;
    lock.owner = 0;
    release_holder(lock, lock_id);
    park(c, id, std::move(w), us);
    wake(lock_id);
    return false;
  }

  bool object_call(std::uint32_t id, Reader& r, Reply& out) {
    Object& o = object(id, {Kind::object});
    const std::string method = get_blob(r);
    const std::string args = get_blob(r);
    const std::string result_type = get_blob(r);
    ErasedMethod fn = nullptr;
    for (const auto& [name, m] : o.type->methods)
      if (name == method) fn = m;
    if (fn == nullptr)
      throw Refusal{Status::value_error, "kin::Manager: \"" + o.type_name + "\" has no registered method \"" + method + "\""};
    const std::string where = "kin::Manager: " + o.type_name + "." + method + ": ";
    // Whatever the method throws becomes the caller's error; the server goes on.
    try {
      out.blob(fn(o.user.get(), args, result_type));
    } catch (const KeyError& e) {
      throw Refusal{Status::key_error, where + e.what()};
    } catch (const IndexError& e) {
      throw Refusal{Status::index_error, where + e.what()};
    } catch (const ProtocolError& e) {
      throw Refusal{Status::protocol_error, where + e.what()};
    } catch (const std::exception& e) {
      throw Refusal{Status::value_error, where + e.what()};
    } catch (...) {
      throw Refusal{Status::value_error, where + "threw something that is not a std::exception"};
    }
    return true;
  }

  void release_holder(Object& o, std::uint32_t id) {
    auto it = conns_.find(o.holder);
    if (it != conns_.end()) std::erase(it->second->held, id);
    o.holder = 0;
  }

  bool event_op(const std::shared_ptr<Conn>& c, Op op, std::uint32_t id, Reader& r, Reply& out) {
    Object& o = object(id, {Kind::event});
    switch (op) {
      case Op::e_set:
        o.flag = true;
        wake(id);
        return true;
      case Op::e_clear: o.flag = false; return true;
      case Op::e_is_set: out.flag(o.flag); return true;
      default: break;
    }
    const auto us = get_num<std::int64_t>(r);
    if (o.flag) {
      out.flag(true);
      return true;
    }
    if (us == 0) {
      out.flag(false);
      return true;
    }
    park(c, id, Waiter{c, op, {}, 0}, us);
    return false;
  }

  // Answers every waiter with BrokenBarrierError; the barrier stays broken until reset().
  void break_barrier(std::uint32_t id, const std::string& why, bool broken = true) {
    Object& o = objects_.at(id);
    o.flag = broken;
    o.arrived = 0;
    auto ws = std::move(o.waiters);
    o.waiters.clear();
    for (auto& w : ws) {
      auto c = w.conn.lock();
      if (!c || c->dead) continue;
      c->parked = false;
      c->timer.cancel();
      send(c, refusal(Status::broken_barrier, why, c->rid));
      asio::post(io_, [this, wc = std::weak_ptr<Conn>(c)] {
        auto conn = wc.lock();
        if (conn && !conn->dead) process(conn);
      });
    }
  }

  bool barrier_op(const std::shared_ptr<Conn>& c, Op op, std::uint32_t id, Reader& r, Reply& out) {
    Object& o = object(id, {Kind::barrier});
    switch (op) {
      case Op::b_state:
        out.num(o.bound);
        out.num(o.arrived);
        out.flag(o.flag);
        return true;
      case Op::b_abort: break_barrier(id, "kin::BrokenBarrierError: the barrier was aborted"); return true;
      case Op::b_reset: break_barrier(id, "kin::BrokenBarrierError: the barrier was reset", false); return true;
      default: break;
    }
    const auto us = get_num<std::int64_t>(r);
    if (o.flag) throw Refusal{Status::broken_barrier, "kin::BrokenBarrierError: the barrier is broken"};
    const std::int64_t index = o.arrived++;
    if (o.arrived < o.bound) {
      if (us == 0) {
        break_barrier(id, "kin::BrokenBarrierError: a wait on the barrier timed out");
        throw Refusal{Status::broken_barrier, "kin::BrokenBarrierError: a wait on the barrier timed out"};
      }
      park(c, id, Waiter{c, op, {}, index}, us);
      return false;
    }
    // The last party: everyone passes, and the barrier is ready for the next round.
    o.arrived = 0;
    auto ws = std::move(o.waiters);
    o.waiters.clear();
    for (auto& w : ws) {
      auto wc = w.conn.lock();
      if (!wc || wc->dead) continue;
      wc->parked = false;
      wc->timer.cancel();
      Reply rep;
      rep.num(w.owner);
      send(wc, rep.finish(Status::ok, wc->rid));
      asio::post(io_, [this, weak = std::weak_ptr<Conn>(wc)] {
        auto conn = weak.lock();
        if (conn && !conn->dead) process(conn);
      });
    }
    out.num(index);
    return true;
  }

  ServerConfig config_;
  asio::io_context io_{1};
  std::unordered_map<std::uint64_t, std::shared_ptr<Conn>> conns_;
  std::unordered_map<std::uint32_t, Object> objects_;
  std::unordered_map<std::string, std::uint32_t> names_;
  std::uint64_t next_conn_ = 0;
  std::uint32_t next_object_ = 0;
};

}  // namespace

int serve(const ServerConfig& config, const std::function<void(const SocketAddress&)>& on_ready) {
  Server s{config};
  return s.run(on_ready);
}

}  // namespace kin::detail::mgr
