// The wire protocol between kin::Manager's proxies and its server (actors/src/manager_server.cpp),
// and the client half that carries it (ManagerSession). Private: users hold the proxies.
//
// One request is one kin frame ([u32 length][payload], framing.hpp) whose payload is
//     [u32 request id][u8 op][u32 object][fields...]
// and one reply is one frame [u32 request id][u8 status][fields...], the id its request's. A
// connection's requests run in the order they arrive and are answered in that order (a request
// that waits — a Queue get, an acquire — holds up those behind it on its connection), so a
// client may send many before reading any reply (pipelining), and checks each reply's id
// against the request it expects: a reply to another request, or to none, is a ProtocolError,
// never read as the answer to the wrong call. Fields are written by kin's codec Writer:
// numbers raw, a value as a blob (varint length + its own kin encoding), so the server stores
// and compares values as bytes and never needs the client's C++ types. Everything the server
// does is one of the ops below on one object — nothing from the wire is executed except
// functions registered with KIN_MANAGER_FUNCTION and methods registered with
// Manager::register_type — so each op is atomic.
//
// ManagerSession is the per-process client of one server: a pool of authenticated connections
// (one per thread that is in a call at the same time), opened lazily, and dropped — never
// used — in a fork child, which opens its own; and one more connection that carries the
// pipelined (async) requests of every thread, each answered into its kin::ManagerFuture. A
// server that is gone (EOF, reset, refused) is kin::ManagerLost — for a synchronous call and
// for every future still outstanding; so is a TCP peer whose host vanished (keepalive and
// TCP_USER_TIMEOUT on every TCP connection, socket_util.hpp's KeepAlive). With a call_timeout,
// a server that stops answering (SIGSTOP, a livelock) is kin::TimeoutError: each request is
// bounded by it, a blocking one by its own timeout plus it — probing the server with a ping on
// another connection every call_timeout while it waits, so an untimed get() is bounded too; a
// pipelined one by call_timeout from the moment it was sent. The connection that timed out is
// closed, never reused — not because a late reply could be mistaken (the ids tell it apart)
// but because the close is what tells the server the client gave up: it drops a request still
// waiting there and releases the Locks taken through it. The next call opens another.
#pragma once

#include <kin/codec.hpp>
#include <kin/errors.hpp>
#include <kin/runtime/framing.hpp>
#include <kin/runtime/socket_util.hpp>
#include <kin/runtime/tls.hpp>
#include <kin/runtime/unique_fd.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace kin::detail::mgr {

enum class Op : std::uint8_t {
  create = 1,
  shutdown,
  ping,
  // dict (also Namespace and Value, which are dicts on the server)
  d_set = 10, d_get, d_get_opt, d_contains, d_erase, d_size, d_keys, d_values, d_items, d_update,
  d_setdefault, d_pop, d_add, d_apply, d_clear,
  // list
  l_append = 30, l_extend, l_get, l_set, l_pop, l_size, l_all, l_clear, l_insert,
  // queue
  q_put = 50, q_get, q_size, q_task_done, q_join,
  // Lock, RLock, Semaphore, BoundedSemaphore
  s_acquire = 60, s_release, s_value,
  // Event
  e_set = 70, e_clear, e_is_set, e_wait,
  // Barrier
  b_wait = 80, b_abort, b_reset, b_state,
  // Condition (its acquire/release are s_acquire/s_release, run on its lock)
  c_wait = 90, c_notify,
  // an object of a type registered with Manager::register_type
  o_call = 100,
};

enum class Kind : std::uint8_t {
  dict = 1, list, queue, lock, rlock, semaphore, bounded_semaphore, event, barrier, joinable_queue,
  condition, object
};

enum class Status : std::uint8_t { ok = 0, key_error, index_error, value_error, protocol_error, broken_barrier, lost };

/// The numeric type of an atomic add (d_add), so the server can do arithmetic on bytes.
enum class Num : std::uint8_t { i8 = 1, i16, i32, i64, u8, u16, u32, u64, f32, f64 };

template <class T>
constexpr Num num_of() {
  if constexpr (std::is_floating_point_v<T>) return sizeof(T) == 4 ? Num::f32 : Num::f64;
  else if constexpr (std::is_signed_v<T>)
    return sizeof(T) == 1 ? Num::i8 : sizeof(T) == 2 ? Num::i16 : sizeof(T) == 4 ? Num::i32 : Num::i64;
  else
    return sizeof(T) == 1 ? Num::u8 : sizeof(T) == 2 ? Num::u16 : sizeof(T) == 4 ? Num::u32 : Num::u64;
}

// ---- fields ---------------------------------------------------------------------------------

inline void put_blob(Writer& w, std::span<const std::byte> b) {
  w.varint(b.size());
  w.raw(b.data(), b.size());
}
inline void put_blob(Writer& w, std::string_view b) {
  w.varint(b.size());
  w.raw(b.data(), b.size());
}
/// A value as a blob: its own encoding, length-prefixed, written in place (no temporary).
template <class T>
void put_value(Writer& w, const T& v) {
  if constexpr (is_memcpy_able<T>) {
    w.varint(sizeof(T));
    w.raw(&v, sizeof(T));
  } else {
    Bytes b = encode(v);
    put_blob(w, b);
  }
}
inline std::string get_blob(Reader& r) {
  const std::uint64_t n = r.varint();
  if (n > r.remaining()) Reader::fail("blob of " + std::to_string(n) + " bytes exceeds the frame");
  std::string s(n, '\0');
  r.raw(s.data(), n);
  return s;
}
/// A count of blobs that follow: never more than the bytes left (each blob takes one or more).
inline std::size_t get_count(Reader& r) {
  const std::uint64_t n = r.varint();
  if (n > r.remaining()) Reader::fail("count of " + std::to_string(n) + " exceeds the frame");
  return static_cast<std::size_t>(n);
}
template <class T>
T get_num(Reader& r) {
  T x{};
  r.raw(&x, sizeof x);
  return x;
}
template <class T>
T blob_value(std::string_view blob) {
  return decode<T>(std::span<const std::byte>(reinterpret_cast<const std::byte*>(blob.data()), blob.size()));
}

/// The request id after the frame header, in requests and replies.
inline constexpr std::size_t kRequestIdSize = sizeof(std::uint32_t);
/// Where a request's op is in its frame (the frame header and the id before it).
inline constexpr std::size_t kOpOffset = kFrameHeaderSize + kRequestIdSize;

/// A request frame: 4 bytes for the frame header, 4 for the request id (the session fills both
/// in when it sends it), then op and object.
inline Bytes begin_request(Op op, std::uint32_t object) {
  Bytes f;
  f.reserve(64);
  f.resize(kOpOffset);
  Writer w{f};
  w.raw(&op, 1);
  w.raw(&object, sizeof object);
  return f;
}

/// A timeout as the server takes it: microseconds, -1 for none.
inline std::int64_t timeout_us(std::chrono::nanoseconds t) {
  return t.count() < 0 ? 0 : std::chrono::duration_cast<std::chrono::microseconds>(t).count();
}

/// Identifies the calling thread of the calling process (RLock ownership).
std::int64_t owner_token() noexcept;

// ---- the client ---------------------------------------------------------------------------

/// Where a server is and the key to it; what a proxy carries to other processes.
struct Endpoint {
  SocketAddress address;
  std::string authkey;
};

/// One pipelined request's outcome, filled in by the session that sent it (under its lock):
/// the reply's status and fields, or the error that ended the connection first.
struct Pending {
  std::uint32_t rid = 0;
  bool done = false;
  Bytes reply;               // [u8 status][fields...]
  std::exception_ptr error;  // ManagerLost, TimeoutError or ProtocolError
  std::chrono::steady_clock::time_point deadline{};  // sent + call_timeout (with one)
};

class ManagerSession {
 public:
  ManagerSession(SocketAddress address, std::string authkey, std::uint64_t max_message,
                 std::optional<std::chrono::milliseconds> call_timeout = std::nullopt,
                 std::optional<TlsConfig> tls = std::nullopt);
  ManagerSession(const ManagerSession&) = delete;
  ManagerSession& operator=(const ManagerSession&) = delete;
  ~ManagerSession();

  /// The process's session for this server, call_timeout and TLS configuration (one per
  /// server, bound and TLS configuration per process, shared by proxies). With `tls`, every
  /// connection is TLS (tls.hpp) and the HMAC handshake runs inside it.
  static std::shared_ptr<ManagerSession> get(const SocketAddress& address, const std::string& authkey,
                                             std::uint64_t max_message,
                                             std::optional<std::chrono::milliseconds> call_timeout = std::nullopt,
                                             const std::optional<TlsConfig>& tls = std::nullopt);

  /// Sends `frame` (from begin_request) and returns the reply's fields after an ok status;
  /// other statuses become KeyError/IndexError/ValueError/ProtocolError, a gone server
  /// ManagerLost, one that does not answer within the call_timeout TimeoutError.
  Bytes call(Bytes& frame);

  /// Pipelining: queues `frame` (a request that does not block by design) on the session's
  /// async connection and returns its outcome's slot without waiting. Requests are sent in
  /// batches — when kBatch are queued, and whenever a result is waited for (wait, ready), a
  /// synchronous call is made, flush() is called or the session ends — and answered in order.
  /// Throws only what connecting throws (ManagerLost, AuthenticationError, TimeoutError) and
  /// ProtocolError for a request over the limit; every later failure goes to the futures.
  std::shared_ptr<Pending> submit(Bytes& frame);
  /// Waits for `p`'s reply and returns its fields after an ok status (as call()), or throws its
  /// error.
  Bytes wait(const std::shared_ptr<Pending>& p);
  /// Sends what is queued, takes in the replies already arrived; true when `p` is answered.
  bool ready(const std::shared_ptr<Pending>& p);
  /// Sends the queued async requests now (their replies are read when waited for).
  void flush();
  /// Async requests queued before a batch is sent, and the most outstanding at once (more
  /// waits for replies first, so neither side buffers without bound).
  static constexpr std::size_t kBatch = 128;
  static constexpr std::size_t kWindow = 4096;

  [[nodiscard]] const SocketAddress& address() const noexcept { return address_; }
  [[nodiscard]] const std::string& authkey() const noexcept { return authkey_; }
  /// The server's limit on a request (a larger one is refused here, before it is sent).
  [[nodiscard]] std::uint64_t max_message() const noexcept { return max_message_; }
  /// The bound on each request (ManagerOptions::call_timeout); unset: none.
  [[nodiscard]] std::optional<std::chrono::milliseconds> call_timeout() const noexcept { return call_timeout_; }
  /// The TLS configuration of its connections; unset: plain.
  [[nodiscard]] const std::optional<TlsConfig>& tls() const noexcept { return tls_; }
  /// Closes this process's connections (the next call opens new ones).
  void disconnect() noexcept;

 private:
  struct Conn;
  std::unique_ptr<Conn> take(std::chrono::milliseconds connect_timeout);
  void give_back(std::unique_ptr<Conn> c) noexcept;
  [[noreturn]] void lost(const std::string& why) const;
  // One request and its reply frame: unbounded (the hot path), or within call_timeout_ (and
  // by `cap`, the end of the call a probing ping is made for).
  Bytes exchange(Bytes& frame);
  Bytes exchange_bounded(Bytes& frame, const Deadline& cap = Deadline::never());
  // A reply's status and fields → the fields, or the error its status says.
  Bytes unwrap(Bytes reply) const;
  // ProtocolError for a request over the server's limit (refused here, before it is sent).
  void check_size(const Bytes& frame) const;

  // The async connection (all under pipe_mu_): open it, send the batch, read one reply into
  // the oldest outstanding request (false: `until` passed), fail everything outstanding.
  struct Pipe;
  Pipe& pipe_locked();
  void forget_parent_locked() noexcept;
  void flush_locked();
  void read_reply_locked(bool block);
  void fail_locked(const std::exception_ptr& e) noexcept;
  // Before a synchronous call: the async requests made before it are answered first.
  void drain() noexcept;

  SocketAddress address_;
  std::string authkey_;
  std::uint64_t max_message_;
  std::optional<std::chrono::milliseconds> call_timeout_;
  std::optional<TlsConfig> tls_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Conn>> idle_;
  std::mutex pipe_mu_;
  std::unique_ptr<Pipe> pipe_;
  std::atomic<std::size_t> outstanding_{0};  // async requests not yet answered
};

/// Reads the reply of a call: `Reader r = reader(reply)`.
inline Reader reader(const Bytes& reply) { return Reader{std::span<const std::byte>(reply)}; }

// ---- registered types (Manager::register_type) ------------------------------------------------

/// A registered method run on an object: (the object, the arguments as an encoded kin::Message,
/// the result's type name the caller expects or "" for any) → the result as an encoded
/// kin::Message (no element for void). Throws, before running it, on wrong arguments or result.
using ErasedMethod = std::string (*)(void* object, std::string_view args, std::string_view result_type);
struct ObjectType {
  void* (*make)() = nullptr;
  void (*destroy)(void*) noexcept = nullptr;
  std::vector<std::pair<std::string, ErasedMethod>> methods;
};
void register_object_type(const std::string& name, ObjectType type);
/// The type registered under `name` in this process, or null.
const ObjectType* find_object_type(std::string_view name) noexcept;

// ---- registered functions (KIN_MANAGER_FUNCTION) ----------------------------------------------

/// A function the server may run on a dict value: (value bytes or null when missing, argument
/// bytes) → new value bytes.
using ErasedFunction = std::string (*)(const std::string* value, std::string_view arg);
bool register_function(const char* name, ErasedFunction fn);
ErasedFunction find_function(std::string_view name) noexcept;

template <auto Fn, class V, class A>
std::string erased_call(const std::string* value, std::string_view arg) {
  V v = value != nullptr ? blob_value<V>(*value) : V{};
  A a = blob_value<A>(arg);
  Fn(v, a);
  Bytes b = encode(v);
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

template <class V, class A>
struct function_traits_base {
  using value_type = V;
  using arg_type = A;
};
template <class F>
struct manager_function_traits;
template <class V, class A>
struct manager_function_traits<void (*)(V&, const A&)> : function_traits_base<V, A> {};
template <class V, class A>
struct manager_function_traits<void (*)(V&, A)> : function_traits_base<V, A> {};

/// The server's entry: listens at `address`, reports the bound address on `ready`, serves
/// until a shutdown request (or its parent dies). Returns the exit code.
struct ServerConfig {
  SocketAddress address;
  std::string authkey;
  std::uint64_t max_frame = 0;
  std::optional<TlsConfig> tls{};  // set: clients connect with TLS (a TlsFront at `address`)
};
/// Serves in this process until shut down; calls `on_ready(bound address)` once listening.
int serve(const ServerConfig& config, const std::function<void(const SocketAddress&)>& on_ready);

}  // namespace kin::detail::mgr

/// Registers `fn` — `void fn(V& value, const A& arg)` — under its name, so a dict proxy's
/// `apply(#fn, key, arg)` runs it on the server, atomically, on the value at key (V{} when
/// missing) and stores the result. At namespace scope, like KIN_ENTRY (so a spawned or forked
/// manager server knows it too).
#define KIN_MANAGER_FUNCTION(fn)                                                                   \
  [[maybe_unused]] static const bool kin_manager_function_##fn = ::kin::detail::mgr::register_function( \
      #fn, &::kin::detail::mgr::erased_call<                                                       \
               &fn, std::decay_t<typename ::kin::detail::mgr::manager_function_traits<decltype(&fn)>::value_type>, \
               std::decay_t<typename ::kin::detail::mgr::manager_function_traits<decltype(&fn)>::arg_type>>)
