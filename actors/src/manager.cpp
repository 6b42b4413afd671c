// kin::Manager (starting, connecting to and stopping a server) and the client half of the
// manager protocol, ManagerSession. The server is in manager_server.cpp.
#include <kin/manager.hpp>

#include <kin/connection.hpp>
#include <kin/listener.hpp>
#include <kin/pipe.hpp>
#include <kin/process.hpp>
#include <kin/runtime/auth.hpp>
#include <kin/runtime/listener_core.hpp>
#include <kin/runtime/runtime.hpp>
#include <kin/runtime/syscall.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace kin {
namespace detail::mgr {

// ---- registered functions ---------------------------------------------------------------

namespace {
std::map<std::string, ErasedFunction, std::less<>>& functions() {
  static std::map<std::string, ErasedFunction, std::less<>> f;
  return f;
}
}  // namespace

bool register_function(const char* name, ErasedFunction fn) {
  functions().insert_or_assign(name, fn);
  return true;
}

ErasedFunction find_function(std::string_view name) noexcept {
  auto& f = functions();
  auto it = f.find(name);
  return it == f.end() ? nullptr : it->second;
}

// ---- registered types ---------------------------------------------------------------------

namespace {
struct ObjectTypes {
  std::mutex mu;  // a program serving in-process may register while its server looks up
  std::map<std::string, ObjectType, std::less<>> types;
};
ObjectTypes& object_types() {
  static ObjectTypes t;
  return t;
}
}  // namespace

void register_object_type(const std::string& name, ObjectType type) {
  auto& t = object_types();
  std::lock_guard g{t.mu};
  t.types.insert_or_assign(name, std::move(type));
}

const ObjectType* find_object_type(std::string_view name) noexcept {
  auto& t = object_types();
  std::lock_guard g{t.mu};
  auto it = t.types.find(name);
  return it == t.types.end() ? nullptr : &it->second;
}

std::int64_t owner_token() noexcept {
  return (static_cast<std::int64_t>(::getpid()) << 32) ^ static_cast<std::int64_t>(::syscall(SYS_gettid));
}

// ---- the client session -------------------------------------------------------------------

namespace {
// This process's pid, kept by kin's fork handler: a call asks it twice (taking a connection
// and giving it back, to keep a fork child off its parent's sockets), and getpid() is a
// syscall each time — a tenth of the whole round trip's syscalls.
std::atomic<pid_t> g_pid{0};
void refresh_pid() noexcept { g_pid.store(::getpid(), std::memory_order_relaxed); }
[[maybe_unused]] const int g_pid_hook = (refresh_pid(), at_fork(nullptr, nullptr, refresh_pid));
pid_t this_pid() noexcept {
  const pid_t p = g_pid.load(std::memory_order_relaxed);
  return p != 0 ? p : ::getpid();  // (before this file's statics are initialised)
}
}  // namespace

struct ManagerSession::Conn {
  unique_fd fd;
  FrameReader reader;
  pid_t pid;
  std::uint32_t next_rid = 0;
};

// The async connection: requests queued in `out` (whole frames, ids filled in) and every
// request not yet answered, oldest first — the order the server answers them in.
struct ManagerSession::Pipe {
  std::unique_ptr<Conn> conn;
  Bytes out;
  std::size_t queued = 0;  // requests in `out`
  std::deque<std::shared_ptr<Pending>> waiting;
};

namespace {
std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
std::map<std::string, std::weak_ptr<ManagerSession>>& registry() {
  static std::map<std::string, std::weak_ptr<ManagerSession>> r;
  return r;
}
std::string where(const SocketAddress& a) {
  if (!a.path.empty()) return a.path;
  return std::string(a.host).append(":").append(std::to_string(a.port));
}
}  // namespace

ManagerSession::ManagerSession(SocketAddress address, std::string authkey, std::uint64_t max_message,
                               std::optional<std::chrono::milliseconds> call_timeout, std::optional<TlsConfig> tls)
    : address_(std::move(address)), authkey_(std::move(authkey)), max_message_(max_message),
      call_timeout_(call_timeout), tls_(std::move(tls)) {}

ManagerSession::~ManagerSession() {
  // Fire-and-forget async requests (a set_async never waited for) still reach the server.
  try {
    std::lock_guard g{pipe_mu_};
    if (pipe_ && pipe_->conn && pipe_->conn->pid == this_pid()) flush_locked();
  } catch (...) {
  }
}

std::shared_ptr<ManagerSession> ManagerSession::get(const SocketAddress& address, const std::string& authkey,
                                                    std::uint64_t max_message,
                                                    std::optional<std::chrono::milliseconds> call_timeout,
                                                    const std::optional<TlsConfig>& tls) {
  std::string key = where(address);
  key.append("\n").append(authkey);
  // Clients of one server with different bounds (or TLS files) keep separate sessions.
  key.append("\n").append(call_timeout ? std::to_string(call_timeout->count()) : std::string("-"));
  if (tls)
    key.append("\ntls\n").append(tls->cert_file).append("\n").append(tls->key_file).append("\n")
        .append(tls->ca_file).append("\n").append(tls->server_name);
  std::lock_guard g{registry_mutex()};
  auto& slot = registry()[key];
  if (auto s = slot.lock()) return s;
  auto s = std::make_shared<ManagerSession>(address, authkey, max_message, call_timeout, tls);
  slot = s;
  return s;
}

void ManagerSession::lost(const std::string& why) const {
  throw ManagerLost(std::string("kin::ManagerLost: the manager at ").append(where(address_)).append(" is gone (").append(why).append(")"));
}

std::unique_ptr<ManagerSession::Conn> ManagerSession::take(std::chrono::milliseconds connect_timeout) {
  {
    std::lock_guard g{mu_};
    const pid_t me = this_pid();
    // A fork child inherits its parent's connections: it must never speak on them (the
    // replies would go to whichever process reads first). Close its copies, open its own.
    if (!idle_.empty() && idle_.front()->pid != me) idle_.clear();
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
  }
  auto c = std::make_unique<Conn>();
  c->pid = this_pid();
  try {
    if (tls_) {
      // TLS first, then kin's HMAC handshake inside it: the key's challenge and every request
      // travel encrypted, and a server whose certificate is not trusted never sees either.
      const auto d = Deadline::after(connect_timeout);
      c->fd = tls_connect(connect_to(address_, d), *tls_, address_.host, d);
      run_handshake(c->fd.get(), authkey_, Handshake::Role::client, d);
    } else {
      c->fd = client_connect(address_, authkey_, connect_timeout);
    }
    if (address_.path.empty() && !tls_) {  // (with TLS, tls_connect tuned the TCP socket)
      int one = 1;  // a request is one small write: no Nagle delay on TCP
      (void)::setsockopt(c->fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      // A host that vanishes without closing (power, network) fails the socket (ETIMEDOUT:
      // ManagerLost) in ~10 s instead of leaving a call waiting on it forever.
      set_keepalive(c->fd.get());
    }
    if (call_timeout_) {
      // A blocking socket's send() waits for room regardless of a Deadline: this makes it
      // return, so the write honours the call's bound too (a server not reading its socket).
      const auto us = std::chrono::duration_cast<std::chrono::microseconds>(*call_timeout_).count();
      timeval tv{static_cast<time_t>(us / 1'000'000), static_cast<suseconds_t>(us % 1'000'000)};
      (void)::setsockopt(c->fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
  } catch (const AuthenticationError&) {
    throw;
  } catch (const TimeoutError&) {
    if (call_timeout_) throw;  // a server that does not answer the handshake: the caller's TimeoutError
    lost("cannot connect: the server did not answer within " + std::to_string(connect_timeout.count()) + " ms");
  } catch (const std::exception& e) {
    lost(std::string("cannot connect: ").append(e.what()));
  }
  return c;
}

void ManagerSession::give_back(std::unique_ptr<Conn> c) noexcept {
  std::lock_guard g{mu_};
  if (c->pid != this_pid()) return;
  if (!idle_.empty() && idle_.front()->pid != c->pid) idle_.clear();
  idle_.push_back(std::move(c));
}

void ManagerSession::disconnect() noexcept {
  std::lock_guard g{mu_};
  idle_.clear();
}

namespace {
// Most replies come within a few µs, sooner than a sleeping thread can be woken on another
// CPU (tens of µs on small VMs): look for the reply without sleeping for a short while first.
void await_reply(int fd) {
  using clock = std::chrono::steady_clock;
  const auto until = clock::now() + std::chrono::microseconds(30);
  pollfd p{fd, POLLIN, 0};
  do {
    if (::poll(&p, 1, 0) != 0) return;
    ::sched_yield();  // with the server on this CPU, let it run
  } while (clock::now() < until);
}

constexpr std::chrono::milliseconds kConnectTimeout{5000};

// The requests that wait on the server by design, each with its own timeout (µs, -1: none) as
// the first field after the object id.
bool blocks(Op op) noexcept {
  switch (op) {
    case Op::q_put: case Op::q_get: case Op::q_join: case Op::s_acquire: case Op::e_wait:
    case Op::b_wait: case Op::c_wait:
      return true;
    default:
      return false;
  }
}
std::int64_t own_timeout_us(const Bytes& frame) noexcept {
  std::int64_t us = -1;
  constexpr std::size_t at = kOpOffset + 1 + sizeof(std::uint32_t);
  if (frame.size() >= at + sizeof us) std::memcpy(&us, frame.data() + at, sizeof us);
  return us;
}
const char* op_name(Op op) noexcept {
  switch (op) {
    case Op::create: return "create";
    case Op::shutdown: return "shutdown";
    case Op::ping: return "ping";
    case Op::d_set: return "dict set";
    case Op::d_get: return "dict get";
    case Op::d_get_opt: return "dict get";
    case Op::d_contains: return "dict contains";
    case Op::d_erase: return "dict erase";
    case Op::d_size: return "dict size";
    case Op::d_keys: return "dict keys";
    case Op::d_values: return "dict values";
    case Op::d_items: return "dict items";
    case Op::d_update: return "dict update";
    case Op::d_setdefault: return "dict setdefault";
    case Op::d_pop: return "dict pop";
    case Op::d_add: return "dict add";
    case Op::d_apply: return "dict apply";
    case Op::d_clear: return "dict clear";
    case Op::l_append: return "list append";
    case Op::l_extend: return "list extend";
    case Op::l_get: return "list get";
    case Op::l_set: return "list set";
    case Op::l_pop: return "list pop";
    case Op::l_size: return "list size";
    case Op::l_all: return "list to_vector";
    case Op::l_clear: return "list clear";
    case Op::l_insert: return "list insert";
    case Op::q_put: return "Queue put";
    case Op::q_get: return "Queue get";
    case Op::q_size: return "Queue qsize";
    case Op::q_task_done: return "JoinableQueue task_done";
    case Op::q_join: return "JoinableQueue join";
    case Op::s_acquire: return "acquire";
    case Op::s_release: return "release";
    case Op::s_value: return "lock/semaphore value";
    case Op::e_set: return "Event set";
    case Op::e_clear: return "Event clear";
    case Op::e_is_set: return "Event is_set";
    case Op::e_wait: return "Event wait";
    case Op::b_wait: return "Barrier wait";
    case Op::b_abort: return "Barrier abort";
    case Op::b_reset: return "Barrier reset";
    case Op::b_state: return "Barrier state";
    case Op::c_wait: return "Condition wait";
    case Op::c_notify: return "Condition notify";
    case Op::o_call: return "registered-type call";
  }
  return "request";
}
std::string ms_text(std::chrono::microseconds t) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(t).count()) + " ms";
}
}  // namespace

namespace {
void put_rid(Bytes& frame, std::uint32_t rid) noexcept { std::memcpy(frame.data() + kFrameHeaderSize, &rid, sizeof rid); }
// A reply must answer the request waited for; anything else (another id, too short to hold
// one) is a server that does not speak the protocol — never read as this call's answer.
void check_reply(const std::optional<Bytes>& reply, std::uint32_t rid) {
  if (!reply || reply->size() < kRequestIdSize + 1)
    throw ProtocolError("kin::Manager: a reply too short to hold a request id and a status");
  std::uint32_t got = 0;
  std::memcpy(&got, reply->data(), sizeof got);
  if (got != rid)
    throw ProtocolError(std::string("kin::Manager: a reply to request ").append(std::to_string(got))
                            .append(" where request ").append(std::to_string(rid))
                            .append(" was expected (a server answering out of order, or a request never made)"));
}
}  // namespace

Bytes ManagerSession::exchange(Bytes& frame) {
  auto c = take(kConnectTimeout);
  const std::uint32_t rid = ++c->next_rid;
  put_rid(frame, rid);
  std::optional<Bytes> reply;
  try {
    write_prefixed_frame(c->fd.get(), frame, kAbsoluteMaxFrame, FdKind::socket);
    await_reply(c->fd.get());
    c->reader.fill_frame(c->fd.get(), Deadline::never(), FrameReader::ReadAhead::buffered);
    reply = c->reader.next();
  } catch (const std::exception& e) {
    lost(e.what());  // EOF, reset, broken pipe: the server died (its connection goes with it)
  }
  check_reply(reply, rid);  // (a connection that fails it is closed, not given back)
  give_back(std::move(c));
  return std::move(*reply);
}

Bytes ManagerSession::exchange_bounded(Bytes& frame, const Deadline& cap) {
  using clock = std::chrono::steady_clock;
  using std::chrono::microseconds;
  const auto op = static_cast<Op>(frame[kOpOffset]);
  const microseconds bound = *call_timeout_;
  const bool waits = blocks(op);
  const std::int64_t own = waits ? own_timeout_us(frame) : 0;
  const auto start = clock::now();
  // The whole call ends by `limit`: call_timeout, or a blocking request's own timeout plus it
  // (an untimed one: never, but each slice of it is checked with a ping below).
  Deadline limit = !waits ? Deadline::at(start + bound)
                   : own < 0 ? Deadline::never()
                             : Deadline::at(start + microseconds(own) + bound);
  if (!cap.infinite() && (limit.infinite() || cap.when() < limit.when())) limit = cap;
  auto slice = [&] {
    const auto next = clock::now() + bound;
    return limit.infinite() || next < limit.when() ? Deadline::at(next) : limit;
  };
  bool probing = false;  // the TimeoutError is the ping's: the server stopped answering mid-wait
  auto describe = [&] {
    std::string d = std::string("kin::TimeoutError: the manager at ").append(where(address_)).append(" did not answer a ")
                        .append(op_name(op));
    if (probing) d.append(" while it waited: a ping got no answer within ").append(ms_text(bound)).append(" (call_timeout)");
    else if (waits && own >= 0) d.append(" within ").append(ms_text(microseconds(own))).append(" (its timeout) + ").append(ms_text(bound)).append(" (call_timeout)");
    else d.append(" within ").append(ms_text(bound)).append(" (call_timeout)");
    return d.append("; its connection is closed, the next call opens a new one");
  };
  std::unique_ptr<Conn> c;
  std::uint32_t rid = 0;
  std::optional<Bytes> reply;
  try {
    const Deadline first = waits ? slice() : limit;
    c = take(std::min(kConnectTimeout, std::chrono::ceil<std::chrono::milliseconds>(first.remaining())));
    rid = ++c->next_rid;
    put_rid(frame, rid);
    write_prefixed_frame(c->fd.get(), frame, kAbsoluteMaxFrame, FdKind::socket, first);
    await_reply(c->fd.get());
    if (!waits) {
      if (!c->reader.fill_frame(c->fd.get(), limit, FrameReader::ReadAhead::buffered)) throw TimeoutError(describe());
    } else {
      while (!c->reader.fill_frame(c->fd.get(), slice(), FrameReader::ReadAhead::buffered)) {
        if (limit.expired()) throw TimeoutError(describe());
        // Waiting is this request's job; a server that answers nothing else is not waiting but
        // gone silent. Ask it on another connection (the ping's own TimeoutError ends this).
        auto ping = begin_request(Op::ping, 0);
        probing = true;
        (void)exchange_bounded(ping, limit);
        probing = false;
      }
    }
    reply = c->reader.next();
  } catch (const TimeoutError&) {
    // `c` (if taken) is closed on the way out: a late reply must never meet another request.
    throw TimeoutError(describe());
  } catch (const ManagerLost&) {
    throw;
  } catch (const AuthenticationError&) {
    throw;
  } catch (const std::exception& e) {
    lost(e.what());
  }
  check_reply(reply, rid);
  give_back(std::move(c));
  return std::move(*reply);
}

void ManagerSession::check_size(const Bytes& frame) const {
  const std::size_t len = frame.size() - kFrameHeaderSize;
  if (len > max_message_)
    throw ProtocolError(std::string("kin::Manager: a request of ").append(std::to_string(len))
                            .append(" bytes is over the manager's limit of ").append(std::to_string(max_message_)));
}

Bytes ManagerSession::call(Bytes& frame) {
  check_size(frame);
  if (outstanding_.load(std::memory_order_acquire) != 0) drain();
  Bytes reply = call_timeout_ ? exchange_bounded(frame) : exchange(frame);
  reply.erase(reply.begin(), reply.begin() + kRequestIdSize);
  return unwrap(std::move(reply));
}

Bytes ManagerSession::unwrap(Bytes reply) const {
  const auto status = static_cast<Status>(reply[0]);
  if (status == Status::ok) {
    reply.erase(reply.begin());
    return reply;
  }
  std::string what = "kin::Manager: the server refused the request";
  try {
    Reader r{std::span<const std::byte>(reply).subspan(1)};
    what = get_blob(r);
  } catch (const ProtocolError&) {
  }
  switch (status) {
    case Status::key_error: throw KeyError(what);
    case Status::index_error: throw IndexError(what);
    case Status::value_error: throw ValueError(what);
    case Status::protocol_error: throw ProtocolError(what);
    case Status::broken_barrier: throw BrokenBarrierError(what);
    case Status::lost: lost(what);
    default: throw ProtocolError("kin::Manager: a reply with an unknown status");
  }
}

// ---- pipelining ------------------------------------------------------------------------------

void ManagerSession::forget_parent_locked() noexcept {
  if (pipe_ && pipe_->conn && pipe_->conn->pid != this_pid()) {
    // A fork child's copy of its parent's async connection: never spoken on here. The
    // requests it holds are the parent's; their copies in this process can never be answered.
    auto e = std::make_exception_ptr(ManagerLost("kin::ManagerLost: an async request made by the parent of this forked process (a future belongs to the process that made it)"));
    for (auto& p : pipe_->waiting) {
      p->done = true;
      p->error = e;
    }
    pipe_.reset();
    outstanding_.store(0, std::memory_order_release);
  }
}

ManagerSession::Pipe& ManagerSession::pipe_locked() {
  forget_parent_locked();
  if (!pipe_) pipe_ = std::make_unique<Pipe>();
  if (!pipe_->conn) pipe_->conn = take(kConnectTimeout);  // opened for the pipe, never given back
  return *pipe_;
}

void ManagerSession::fail_locked(const std::exception_ptr& e) noexcept {
  if (!pipe_) return;
  for (auto& p : pipe_->waiting) {
    p->done = true;
    p->error = e;
  }
  outstanding_.fetch_sub(pipe_->waiting.size(), std::memory_order_acq_rel);
  // The connection goes with them: what it would still carry answers requests now failed.
  pipe_.reset();
}

void ManagerSession::flush_locked() {
  if (!pipe_ || pipe_->queued == 0) return;
  Pipe& p = *pipe_;
  const Deadline limit = call_timeout_ ? Deadline::after(*call_timeout_) : Deadline::never();
  try {
    write_all(p.conn->fd.get(), p.out.data(), p.out.size(), FdKind::socket, limit);
  } catch (const TimeoutError& e) {
    fail_locked(std::make_exception_ptr(TimeoutError(std::string("kin::TimeoutError: the manager at ").append(where(address_))
                                                         .append(" did not take pipelined requests within the call_timeout"))));
    return;
  } catch (const std::exception& e) {
    fail_locked(std::make_exception_ptr(ManagerLost(std::string("kin::ManagerLost: the manager at ").append(where(address_))
                                                        .append(" is gone (").append(e.what()).append(")"))));
    return;
  }
  if (call_timeout_) {
    const auto until = std::chrono::steady_clock::now() + *call_timeout_;
    for (auto it = p.waiting.end() - static_cast<std::ptrdiff_t>(p.queued); it != p.waiting.end(); ++it) (*it)->deadline = until;
  }
  p.out.clear();
  p.queued = 0;
}

void ManagerSession::read_reply_locked(bool block) {
  Pipe& p = *pipe_;
  Conn& c = *p.conn;
  std::optional<Bytes> f;
  try {
    f = c.reader.next();
    if (!f) {
      if (!block) {
        pollfd pf{c.fd.get(), POLLIN, 0};
        if (::poll(&pf, 1, 0) <= 0) return;
        (void)c.reader.fill_once(c.fd.get(), Deadline::never(), FrameReader::ReadAhead::buffered);
      } else {
        await_reply(c.fd.get());
        const Deadline until = call_timeout_ ? Deadline::at(p.waiting.front()->deadline) : Deadline::never();
        if (!c.reader.fill_frame(c.fd.get(), until, FrameReader::ReadAhead::buffered)) {
          fail_locked(std::make_exception_ptr(TimeoutError(
              std::string("kin::TimeoutError: the manager at ").append(where(address_))
                  .append(" did not answer a pipelined request within ").append(std::to_string(call_timeout_->count()))
                  .append(" ms (call_timeout); it and the requests sent after it fail, their connection is closed"))));
          return;
        }
      }
      f = c.reader.next();
      if (!f) return;
    }
  } catch (const std::exception& e) {
    fail_locked(std::make_exception_ptr(ManagerLost(std::string("kin::ManagerLost: the manager at ").append(where(address_))
                                                        .append(" is gone (").append(e.what()).append(")"))));
    return;
  }
  try {
    check_reply(f, p.waiting.front()->rid);
  } catch (const ProtocolError&) {
    fail_locked(std::current_exception());
    return;
  }
  auto done = std::move(p.waiting.front());
  p.waiting.pop_front();
  outstanding_.fetch_sub(1, std::memory_order_acq_rel);
  f->erase(f->begin(), f->begin() + kRequestIdSize);
  done->reply = std::move(*f);
  done->done = true;
}

std::shared_ptr<Pending> ManagerSession::submit(Bytes& frame) {
  check_size(frame);
  std::lock_guard g{pipe_mu_};
  (void)pipe_locked();
  // Keep the window: take in replies before queuing more (the server answers in order). A
  // failure here fails those outstanding and closes the pipe; the request goes on a new one.
  while (pipe_ && pipe_->waiting.size() >= kWindow) {
    flush_locked();
    if (pipe_) read_reply_locked(true);
  }
  Pipe& q = pipe_locked();
  auto pending = std::make_shared<Pending>();
  pending->rid = ++q.conn->next_rid;
  put_rid(frame, pending->rid);
  fill_frame_header(std::span<std::byte, kFrameHeaderSize>(frame.data(), kFrameHeaderSize), frame.size() - kFrameHeaderSize);
  q.out.insert(q.out.end(), frame.begin(), frame.end());
  ++q.queued;
  q.waiting.push_back(pending);
  outstanding_.fetch_add(1, std::memory_order_acq_rel);
  if (q.queued >= kBatch || q.out.size() >= (std::size_t{64} << 10)) flush_locked();
  return pending;
}

Bytes ManagerSession::wait(const std::shared_ptr<Pending>& p) {
  {
    std::lock_guard g{pipe_mu_};
    forget_parent_locked();
    if (!p->done && pipe_) flush_locked();
    while (!p->done && pipe_ && !pipe_->waiting.empty()) read_reply_locked(true);
  }
  if (!p->done) lost("an async request on a connection that is gone");
  if (p->error) std::rethrow_exception(p->error);
  return unwrap(p->reply);
}

bool ManagerSession::ready(const std::shared_ptr<Pending>& p) {
  std::lock_guard g{pipe_mu_};
  forget_parent_locked();
  if (p->done) return true;
  if (pipe_) flush_locked();
  while (!p->done && pipe_ && !pipe_->waiting.empty()) {
    const std::size_t before = pipe_->waiting.size();
    read_reply_locked(false);
    if (pipe_ && pipe_->waiting.size() == before) break;  // nothing more has arrived
  }
  return p->done;
}

void ManagerSession::flush() {
  std::lock_guard g{pipe_mu_};
  forget_parent_locked();
  flush_locked();
}

void ManagerSession::drain() noexcept {
  std::lock_guard g{pipe_mu_};
  forget_parent_locked();
  flush_locked();
  while (pipe_ && !pipe_->waiting.empty()) read_reply_locked(true);
}

// ---- the server process --------------------------------------------------------------------

namespace {
int server_entry(std::string host, std::uint16_t port, std::string path, std::string authkey,
                 std::uint64_t max_frame, Connection<Address> ready) {
  // A Ctrl-C meant for the program must not kill its manager (Python's SyncManager).
  ::signal(SIGINT, SIG_IGN);
  ServerConfig config{SocketAddress{std::move(host), port, std::move(path)}, std::move(authkey), max_frame};
  return serve(config, [&](const SocketAddress& a) {
    ready.send(a.path.empty() ? Address{a.host, a.port} : Address::unix_path(a.path));
    ready.close();
  });
}

}  // namespace
}  // namespace detail::mgr

struct Manager::Impl {
  Address address;
  std::string authkey;
  std::uint64_t max_message = 0;
  std::shared_ptr<detail::mgr::ManagerSession> session;
  std::optional<Process> server;  // set when this Manager started the server
  pid_t owner_pid = ::getpid();
  std::string socket_path;  // a private socket to remove if the server could not
  bool shut = false;
  ManagerOptions options;

  // Supervision (ManagerOptions::restart): a thread that waits for the server's pidfd or a
  // stop byte on its pipe, and starts a new server when the old one died.
  mutable std::mutex mu;  // guards server against the supervising thread
  std::thread supervisor;
  unique_fd stop_read, stop_write;

  // Starts a server listening at `at`; returns the bound address (ManagerLost if it fails).
  Address start_server(const Address& at) {
    auto [mine, theirs] = Pipe<Address>();
    server.emplace(ProcessOptions{.name = "Manager", .daemon = true, .start_method = options.start_method},
                   &detail::mgr::server_entry, at.host, at.port, at.path, authkey,
                   static_cast<std::uint64_t>(options.max_message), theirs);
    server->start();
    theirs.close();
    std::optional<Address> bound;
    try {
      bound = mine.recv(options.start_timeout);
    } catch (const Error&) {
    }
    if (!bound) {
      server->kill();
      server->join();
      std::string why = "kin::ManagerLost: the manager process did not start (";
      why.append(server->exit_status() ? server->exit_status()->str() : std::string("no answer")).append(")");
      throw ManagerLost(why);
    }
    return *bound;
  }

  void supervise() {
    int restarts = 0;
    auto calm_since = std::chrono::steady_clock::now();
    for (;;) {
      pollfd fds[2] = {{stop_read.get(), POLLIN, 0}, {-1, POLLIN, 0}};
      {
        std::lock_guard g{mu};
        fds[1].fd = server->sentinel();
      }
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (fds[0].revents != 0) return;  // shutdown
      if (fds[1].revents == 0) continue;
      std::lock_guard g{mu};
      server->join();
      if (std::chrono::steady_clock::now() - calm_since > std::chrono::minutes(1)) restarts = 0;
      if (++restarts > options.max_restarts) {
        std::fprintf(stderr, "kin::Manager: the server died %d times; not restarting it\n", restarts);
        return;
      }
      std::fprintf(stderr, "kin::Manager: the server died (%s); restarting it, its state is lost\n",
                   server->exit_status() ? server->exit_status()->str().c_str() : "?");
      calm_since = std::chrono::steady_clock::now();
      session->disconnect();
      if (!address.path.empty()) ::unlink(address.path.c_str());
      try {
        (void)start_server(address);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "kin::Manager: restart failed: %s\n", e.what());
        return;
      }
    }
  }
};

Manager::Manager() : Manager(ManagerOptions{}) {}

Manager::Manager(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

namespace {
void check_call_timeout(const std::optional<std::chrono::milliseconds>& t, const char* who) {
  if (t && t->count() <= 0)
    throw ValueError(std::string(who).append(": call_timeout must be positive (unset: no bound)"));
}
}  // namespace

Manager::Manager(ManagerOptions options) : impl_(std::make_unique<Impl>()) {
  check_call_timeout(options.call_timeout, "kin::Manager");
  auto& im = *impl_;
  im.authkey = options.authkey.empty() ? detail::random_hex(32) : options.authkey;
  im.max_message = options.max_message;
  Address at = options.address;
  if (at.path.empty() && at.host.empty()) {
    static std::atomic<unsigned> counter{0};
    at = Address::unix_path(std::string("/tmp/kin-manager-")
                                .append(std::to_string(::getpid()))
                                .append("-")
                                .append(std::to_string(++counter))
                                .append("-")
                                .append(detail::random_hex(6))
                                .append(".sock"));
    im.socket_path = at.path;
  }
  im.options = options;
  try {
    im.address = im.start_server(at);
  } catch (...) {
    if (!im.socket_path.empty()) ::unlink(im.socket_path.c_str());
    throw;
  }
  im.session = detail::mgr::ManagerSession::get(detail::to_socket_address(im.address), im.authkey, im.max_message,
                                                options.call_timeout);
  if (options.restart) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) throw OSError(errno, "pipe2");
    im.stop_read.reset(p[0]);
    im.stop_write.reset(p[1]);
    im.supervisor = std::thread([&im] { im.supervise(); });
  }
}

Manager::Manager(Manager&&) noexcept = default;
Manager& Manager::operator=(Manager&& other) noexcept {
  if (this != &other) {
    try {
      if (owns_server()) shutdown();
    } catch (...) {
    }
    impl_ = std::move(other.impl_);
  }
  return *this;
}

Manager::~Manager() {
  if (!owns_server()) return;
  try {
    shutdown();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kin::Manager: shutdown: %s\n", e.what());
  }
}

Manager Manager::connect(const Address& address, const std::string& authkey,
                         std::optional<std::chrono::milliseconds> call_timeout, const std::optional<TlsOptions>& tls) {
  check_call_timeout(call_timeout, "kin::Manager::connect");
  auto im = std::make_unique<Impl>();
  im->address = address;
  im->authkey = authkey;
  im->max_message = std::size_t{64} << 20;
  im->options.call_timeout = call_timeout;
  im->session = detail::mgr::ManagerSession::get(detail::to_socket_address(address), authkey, im->max_message,
                                                 call_timeout, tls);
  // Connect now, so a wrong key or a missing server is reported here (Python's connect()).
  auto f = detail::mgr::begin_request(detail::mgr::Op::ping, 0);
  (void)im->session->call(f);
  return Manager{std::move(im)};
}

void Manager::serve(const Address& address, const std::string& authkey,
                    const std::function<void(const Address&)>& on_ready, std::size_t max_message,
                    const std::optional<TlsOptions>& tls) {
  if (authkey.empty()) throw ValueError("kin::Manager::serve: an authkey is required");
  detail::mgr::ServerConfig config{detail::to_socket_address(address), authkey, max_message, tls};
  (void)detail::mgr::serve(config, [&](const detail::SocketAddress& a) {
    if (on_ready) on_ready(a.path.empty() ? Address{a.host, a.port} : Address::unix_path(a.path));
  });
}

void Manager::shutdown() {
  if (!impl_ || impl_->shut) return;
  auto& im = *impl_;
  if (im.owner_pid != ::getpid()) return;  // a fork child's copy: the server is its parent's
  im.shut = true;
  if (im.supervisor.joinable()) {
    const char stop = 1;
    (void)!::write(im.stop_write.get(), &stop, 1);
    im.supervisor.join();
    im.stop_read.reset();
    im.stop_write.reset();
  }
  try {
    auto f = detail::mgr::begin_request(detail::mgr::Op::shutdown, 0);
    (void)im.session->call(f);
  } catch (const Error&) {
    // already gone
  }
  im.session->disconnect();
  if (im.server) {
    if (!im.server->join(std::chrono::seconds(2))) {
      im.server->kill();
      im.server->join();
    }
  }
  if (!im.socket_path.empty()) ::unlink(im.socket_path.c_str());
}

const Address& Manager::address() const {
  if (!impl_) throw ValueError("kin::Manager: moved from");
  return impl_->address;
}
const std::string& Manager::authkey() const {
  if (!impl_) throw ValueError("kin::Manager: moved from");
  return impl_->authkey;
}
bool Manager::owns_server() const {
  if (!impl_) return false;
  std::lock_guard g{impl_->mu};  // the supervising thread replaces `server` under it
  return impl_->server.has_value();
}

std::optional<pid_t> Manager::pid() const {
  if (!impl_) return std::nullopt;
  std::lock_guard g{impl_->mu};  // the supervising thread replaces `server` under it
  if (!impl_->server) return std::nullopt;
  return impl_->server->pid();
}

std::shared_ptr<detail::mgr::ManagerSession> Manager::session() const {
  if (!impl_) throw ValueError("kin::Manager: moved from");
  return impl_->session;
}

std::uint32_t Manager::create(detail::mgr::Kind kind, const std::string& name, std::int64_t arg, const Bytes* init) {
  auto f = detail::mgr::begin_request(detail::mgr::Op::create, 0);
  detail::Writer w{f};
  w.raw(&kind, 1);
  detail::mgr::put_blob(w, name);
  w.raw(&arg, sizeof arg);
  if (init != nullptr) detail::mgr::put_blob(w, *init);
  else detail::mgr::put_blob(w, std::string_view{});
  w.apply(init != nullptr);
  auto r = session()->call(f);
  auto rd = detail::mgr::reader(r);
  return detail::mgr::get_num<std::uint32_t>(rd);
}

}  // namespace kin
