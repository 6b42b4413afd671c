// Process actors: the channel between a proxy actor in the parent and the child's actor
// system, its wire format, the proxy, the parent's I/O thread and the child's one loop.
//
// Threads: in the parent, one I/O thread per channel writes one-way traffic in batches, reads
// the child's frames and watches its pidfd; a request is written by the thread that posts it,
// and a blocking requester reads its own reply for a moment (Channel::await_reply) before it
// leaves that to the I/O thread. In the child, one thread does everything: it reads, runs the
// actors on a thread-less CAF scheduler (loop_scheduler.hpp) and writes their replies.
//
// Wire: frames as in runtime/framing.hpp ([u32 length][payload]), many per write and per read.
// A payload is one message:
//   u8 kind (1) | u32 dest slot | u32 sender slot (0xffffffff: anonymous) | u64 CAF message id
//   | u16 element count | elements, each a u8 tag then its value (native byte order: both ends
//   run the same build on the same machine)
// Slots index a side's table of actors the other side may address: the child's slot 0 is its
// actor; the parent's slots are the actors passed as arguments and the senders of messages.
// A sender slot becomes, on the receiving side, a RemoteRef actor that sends back over the
// channel, so replies and responses travel the way they came. Request ids are CAF's own.
// A message whose kin::Message elements hold fds (a Connection, Queue...) is written by a
// sendmsg of its own that carries them as SCM_RIGHTS (runtime/handover.hpp); the reader gives
// each frame the fds that came with it (ReceivedFds) and decodes it with them.
#include <kin/runtime/handover.hpp>
#include <kin/actor_system.hpp>
#include <kin/detail/process_actor.hpp>
#include <kin/errors.hpp>
#include <kin/message.hpp>

#include "loop_scheduler.hpp"
#include "process_actor_core.hpp"
#include "process_globals.hpp"

#include <kin/runtime/code_address.hpp>
#include <kin/runtime/entry_registry.hpp>
#include <kin/runtime/framing.hpp>
#include <kin/runtime/syscall.hpp>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/blocking_actor.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/make_actor.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/message_builder.hpp>
#include <caf/monitorable_actor.hpp>
#include <caf/sec.hpp>
#include <caf/system_messages.hpp>
#include <caf/type_nr.hpp>

#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <vector>

namespace kin::detail {

namespace {

constexpr std::uint32_t kNoSlot = 0xffffffffu;
constexpr std::size_t kMaxFrame = std::size_t{64} << 20;  // one message; more is a protocol error
constexpr std::uint8_t kKindMessage = 1;
constexpr std::size_t kHeader = 4 + 1 + 4 + 4 + 8 + 2;
// How long an I/O thread keeps polling after activity before it parks in poll(): a reply
// that comes back within it costs no wake-up. KIN_ACTOR_SPIN_US overrides (0 = never spin).
std::chrono::microseconds spin_window() {
  static const std::chrono::microseconds w = [] {
    const char* e = std::getenv("KIN_ACTOR_SPIN_US");
    return std::chrono::microseconds(e != nullptr ? std::atol(e) : 200);
  }();
  return w;
}
// How long a blocking requester reads the channel itself for its reply (Channel::await_reply)
// before it leaves the reading to the I/O thread. KIN_ACTOR_REPLY_SPIN_US overrides (0 = never).
std::chrono::microseconds reply_spin() {
  static const std::chrono::microseconds w = [] {
    const char* e = std::getenv("KIN_ACTOR_REPLY_SPIN_US");
    return std::chrono::microseconds(e != nullptr ? std::atol(e) : 100);
  }();
  return w;
}

enum Tag : std::uint8_t {
  t_i8 = 1, t_i16, t_i32, t_i64, t_u8, t_u16, t_u32, t_u64, t_float, t_double, t_bool, t_string, t_atom,
  t_error, t_strvec, t_actor_sender_slot, t_actor_receiver_slot, t_actor_null, t_kin_message,
};

// Parent ends of every channel in this process: a forked child closes them (they are the
// parent's, and holding them would hide the parent's death from the other children).
std::mutex g_parent_ends_mu;
std::set<int> g_parent_ends;
int g_child_channel_fd = -1;

std::string type_name_of(const std::type_info* ti) {
  return ti == nullptr ? "a CAF built-in type" : demangle(ti->name());
}

template <class T>
void put(Bytes& out, const T& v) {
  auto n = out.size();
  out.resize(n + sizeof(T));
  std::memcpy(out.data() + n, &v, sizeof(T));
}

void put_string(Bytes& out, const std::string& s) {
  put(out, static_cast<std::uint32_t>(s.size()));
  auto n = out.size();
  out.resize(n + s.size());
  if (!s.empty()) std::memcpy(out.data() + n, s.data(), s.size());
}

struct WireReader {
  const std::byte* p;
  const std::byte* end;
  template <class T>
  T get() {
    if (static_cast<std::size_t>(end - p) < sizeof(T)) throw ProtocolError("kin process actor: truncated message");
    T v;
    std::memcpy(&v, p, sizeof(T));
    p += sizeof(T);
    return v;
  }
  std::string get_string() {
    auto n = get<std::uint32_t>();
    if (static_cast<std::size_t>(end - p) < n) throw ProtocolError("kin process actor: truncated string");
    std::string s(reinterpret_cast<const char*>(p), n);
    p += n;
    return s;
  }
};

caf::error cannot_travel(const std::string& what) {
  return caf::error{static_cast<std::uint8_t>(ActorErrc::cannot_travel), caf::atom("kin"), caf::make_message(what)};
}

// A mailbox element's content, or a caf::message's.
using ElementsView = caf::type_erased_tuple;

}  // namespace

class RemoteRef;

/// One end of a process actor's socketpair, with the table of this side's actors the other
/// side may address and the RemoteRefs standing for the other side's.
class Channel : public std::enable_shared_from_this<Channel> {
 public:
  Channel(caf::actor_system& sys, unique_fd sock, bool parent) : sys_(sys), sock_(std::move(sock)), parent_(parent) {
    set_nonblocking(sock_.get(), true);
    wake_ = unique_fd{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
    if (!wake_) throw_errno("eventfd");
    // Small at first, doubled by pump() whenever a read fills it: a 1 MiB buffer zeroed per
    // channel cost both sides 256 page faults per spawn (~1 ms of kin.actor.spawn here);
    // 16 KiB rather than 64 took another ~0.2 ms off the median spawn in interleaved runs.
    in_.resize(std::size_t{16} << 10);
  }

  caf::actor_system& system() noexcept { return sys_; }
  int fd() const noexcept { return sock_.get(); }
  int wake_fd() const noexcept { return wake_.get(); }
  bool is_parent() const noexcept { return parent_; }

  // -- this side's actors ---------------------------------------------------

  std::uint32_t export_strong(caf::strong_actor_ptr p) {
    std::lock_guard g{mu_};
    return export_locked(std::move(p), true);
  }

  caf::strong_actor_ptr local(std::uint32_t slot) {
    std::lock_guard g{mu_};
    if (slot >= table_.size()) throw ProtocolError("kin process actor: message for unknown slot " + std::to_string(slot));
    auto& e = table_[slot];
    return e.strong ? e.strong : caf::actor_cast<caf::strong_actor_ptr>(e.weak);
  }

  // -- the other side's actors ----------------------------------------------

  caf::strong_actor_ptr remote(std::uint32_t slot);
  void set_remote(std::uint32_t slot, const caf::strong_actor_ptr& p) {
    std::lock_guard g{mu_};
    remotes_[slot] = caf::actor_cast<caf::weak_actor_ptr>(p);
  }

  // -- sending --------------------------------------------------------------

  /// Encodes a message for the other side's `dest` and queues it. An error when an element
  /// cannot travel (nothing is queued then).
  caf::error post(std::uint32_t dest, const RemoteRef* via, const caf::strong_actor_ptr& sender, caf::message_id mid,
                  const ElementsView& v);

  // -- I/O (the owning thread only) -----------------------------------------

  /// Non-blocking: writes what is queued, reads what arrived and delivers it. True when it
  /// did anything. Sets eof() when the peer closed; throws ProtocolError for bad input.
  bool pump();
  bool eof() const noexcept { return eof_.load(); }
  /// For a blocking requester (a scoped_actor) whose request was just written: reads the
  /// channel in the calling thread until the reply has been delivered to its mailbox, for at
  /// most reply_spin(). The reply then costs no hop through the I/O thread and no wake-up of
  /// the requester, which finds it in its mailbox when it calls receive.
  void await_reply(caf::actor_control_block* requester, caf::message_id mid);
  bool write_pending() {
    std::lock_guard w{write_mu_};
    return w_off_ < w_.size() || has_out_.load(std::memory_order_acquire);
  }
  /// Messages posted and not yet taken for writing.
  bool has_queued() const { return has_out_.load(std::memory_order_seq_cst); }
  /// Blocks in poll() on the socket, the wake-up fd and `extra` (-1: none) up to `timeout_ms`.
  /// Returns true when `extra` became readable.
  bool park(int extra, int timeout_ms);
  void wake() {
    std::uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(wake_.get(), &one, sizeof one);
  }

  /// After the peer is gone: fails the requests still waiting for an answer.
  void fail_pending(const caf::error& reason);
  /// Drops every actor reference (so nothing outlives the system through this channel).
  void clear() {
    std::lock_guard g{mu_};
    closed_ = true;
    last_sender_ = nullptr;
    table_.clear();
    by_ctrl_.clear();
    remotes_.clear();
    pending_.clear();
    out_.clear();
    out_fds_.clear();
  }

 private:
  struct Entry {
    caf::strong_actor_ptr strong;  // exported handles: kept alive while the channel lives
    caf::weak_actor_ptr weak;      // senders: never kept alive by the child
  };

  std::uint32_t export_locked(caf::strong_actor_ptr p, bool strong) {
    auto* key = p.get();
    if (auto it = by_ctrl_.find(key); it != by_ctrl_.end()) {
      auto& e = table_[it->second];
      if (strong && !e.strong) e.strong = p;
      return it->second;
    }
    auto slot = static_cast<std::uint32_t>(table_.size());
    Entry e;
    e.weak = caf::actor_cast<caf::weak_actor_ptr>(p);
    if (strong) e.strong = std::move(p);
    table_.push_back(std::move(e));
    by_ctrl_.emplace(key, slot);
    return slot;
  }

  void encode_elements(Bytes& out, const RemoteRef* via, const ElementsView& v, int depth);
  caf::message decode_elements(WireReader& r, int depth);
  template <class Sink>
  void decode_one(WireReader& r, int depth, Sink&& sink);
  // Per read batch (never longer: a cached handle must not keep a proxy from being collected).
  struct DispatchCache {
    std::uint32_t dest_slot = kNoSlot, sender_slot = kNoSlot;
    caf::strong_actor_ptr dest, sender;
  };
  void dispatch(std::span<const std::byte> payload, DispatchCache& c, std::vector<unique_fd>& fds);
  bool flush() {
    std::lock_guard w{write_mu_};
    return flush_locked();
  }
  bool flush_locked();
  bool read_locked();

  caf::actor_system& sys_;
  unique_fd sock_;
  unique_fd wake_;
  bool parent_;

  std::mutex mu_;  // table_, by_ctrl_, remotes_, pending_, out_
  std::vector<Entry> table_;
  std::unordered_map<caf::actor_control_block*, std::uint32_t> by_ctrl_;
  std::unordered_map<std::uint32_t, caf::weak_actor_ptr> remotes_;
  // Requests in flight, by (requester, request id without the priority bits — a response's
  // request_id() drops them) -> the requester and the request's full id.
  struct Pending {
    caf::weak_actor_ptr requester;
    caf::message_id mid;
  };
  using PendingKey = std::pair<caf::actor_control_block*, std::uint64_t>;
  std::map<PendingKey, Pending> pending_;
  Bytes out_;
  // Frames in out_ that carry fds, in order: where each begins and ends in out_.
  struct FdFrame {
    std::size_t begin, end;
    std::vector<unique_fd> fds;
  };
  std::vector<FdFrame> out_fds_;
  caf::actor_control_block* last_sender_ = nullptr;  // a slot's control block stays (weak ref)
  std::uint32_t last_sender_slot_ = 0;
  bool closed_ = false;  // the peer is gone: nothing more is queued
  std::atomic<bool> has_out_{false};

 public:
  std::atomic<bool> parked_{false};

 private:
  // Whoever writes holds write_mu_: the I/O thread, or a thread that posted a request and
  // writes it at once (post) rather than waiting for the I/O thread to take it.
  std::mutex write_mu_;
  Bytes w_;  // being written
  std::size_t w_off_ = 0;
  std::vector<FdFrame> w_fds_;  // out_fds_ of the bytes in w_
  std::size_t w_fd_next_ = 0;
  bool write_closed_ = false;
  std::vector<std::byte> in_;
  std::size_t in_len_ = 0;
  std::uint64_t in_base_ = 0;  // the stream offset of in_[0]
  ReceivedFds in_fds_;
  std::atomic<bool> eof_{false};
  // Whoever reads holds read_mu_ (the I/O thread, or a requester in await_reply); a bad frame
  // read by a requester is left here for the I/O thread, which ends the child for it.
  std::mutex read_mu_;
  std::atomic<bool> read_failed_{false};
  std::string read_failure_;
};

class ParentCore;

/// An actor of the other side: everything enqueued here is encoded onto the channel. In the
/// parent, the RemoteRef for the child's slot 0 is the handle spawn_process returns; it goes
/// down when the child's process ends.
class RemoteRef final : public caf::monitorable_actor {
 public:
  RemoteRef(caf::actor_config& cfg, std::shared_ptr<Channel> ch, std::uint32_t slot, std::weak_ptr<ParentCore> core)
      : caf::monitorable_actor(cfg), ch_(std::move(ch)), slot_(slot), core_(std::move(core)) {}

  const char* name() const override { return "kin.process_actor"; }
  Channel* channel() const noexcept { return ch_.get(); }
  std::uint32_t slot() const noexcept { return slot_; }

  void enqueue(caf::mailbox_element_ptr what, caf::execution_unit* host) override;
  void on_destroy() override;

  /// The child's process ended (or its channel broke): monitors and links learn `reason`.
  void go_down(caf::error reason) {
    down_.store(true);
    cleanup(std::move(reason), nullptr);
  }

 private:
  std::shared_ptr<Channel> ch_;
  std::uint32_t slot_;
  std::weak_ptr<ParentCore> core_;
  std::atomic<bool> down_{false};
};

// -- Channel ------------------------------------------------------------------

caf::strong_actor_ptr Channel::remote(std::uint32_t slot) {
  std::lock_guard g{mu_};
  auto& w = remotes_[slot];
  if (auto p = caf::actor_cast<caf::strong_actor_ptr>(w)) return p;
  caf::actor_config cfg;
  auto a = caf::make_actor<RemoteRef, caf::strong_actor_ptr>(sys_.next_actor_id(), sys_.node(), &sys_, cfg,
                                                               shared_from_this(), slot, std::weak_ptr<ParentCore>{});
  w = caf::actor_cast<caf::weak_actor_ptr>(a);
  return a;
}

void Channel::encode_elements(Bytes& out, const RemoteRef* via, const ElementsView& v, int depth) {
  if (depth > 8) throw ValueError("kin process actor: error contexts nested too deeply");
  const auto n = v.size();
  if (n > 0xffff) throw ValueError("a message of more than 65535 elements");
  put(out, static_cast<std::uint16_t>(n));
  for (std::size_t i = 0; i < n; ++i) {
    auto [nr, ti] = v.type(i);
    const void* p = v.get(i);
    auto scalar = [&](Tag t, auto tag) {
      using T = decltype(tag);
      put(out, static_cast<std::uint8_t>(t));
      put(out, *static_cast<const T*>(p));
    };
    switch (nr) {
      case caf::type_nr<std::int8_t>::value: scalar(t_i8, std::int8_t{}); break;
      case caf::type_nr<std::int16_t>::value: scalar(t_i16, std::int16_t{}); break;
      case caf::type_nr<std::int32_t>::value: scalar(t_i32, std::int32_t{}); break;
      case caf::type_nr<std::int64_t>::value: scalar(t_i64, std::int64_t{}); break;
      case caf::type_nr<std::uint8_t>::value: scalar(t_u8, std::uint8_t{}); break;
      case caf::type_nr<std::uint16_t>::value: scalar(t_u16, std::uint16_t{}); break;
      case caf::type_nr<std::uint32_t>::value: scalar(t_u32, std::uint32_t{}); break;
      case caf::type_nr<std::uint64_t>::value: scalar(t_u64, std::uint64_t{}); break;
      case caf::type_nr<float>::value: scalar(t_float, float{}); break;
      case caf::type_nr<double>::value: scalar(t_double, double{}); break;
      case caf::type_nr<bool>::value: scalar(t_bool, bool{}); break;
      case caf::type_nr<caf::atom_value>::value: scalar(t_atom, caf::atom_value{}); break;
      case caf::type_nr<std::string>::value:
        put(out, static_cast<std::uint8_t>(t_string));
        put_string(out, *static_cast<const std::string*>(p));
        break;
      case caf::type_nr<std::vector<std::string>>::value: {
        const auto& vs = *static_cast<const std::vector<std::string>*>(p);
        put(out, static_cast<std::uint8_t>(t_strvec));
        put(out, static_cast<std::uint32_t>(vs.size()));
        for (auto& s : vs) put_string(out, s);
        break;
      }
      case caf::type_nr<caf::error>::value: {
        const auto& e = *static_cast<const caf::error*>(p);
        put(out, static_cast<std::uint8_t>(t_error));
        put(out, e.code());
        put(out, e ? e.category() : caf::atom(""));
        if (e && !e.context().empty()) {
          const auto& ctx = e.context();
          encode_elements(out, via, *ctx.cvals(), depth + 1);
        } else {
          put(out, std::uint16_t{0});
        }
        break;
      }
      case caf::type_nr<caf::actor>::value: {
        const auto& a = *static_cast<const caf::actor*>(p);
        if (!a) {
          put(out, static_cast<std::uint8_t>(t_actor_null));
          break;
        }
        auto* ref = dynamic_cast<RemoteRef*>(caf::actor_cast<caf::abstract_actor*>(a));
        if (ref != nullptr && ref->channel() == this) {
          put(out, static_cast<std::uint8_t>(t_actor_receiver_slot));
          put(out, ref->slot());
        } else {
          put(out, static_cast<std::uint8_t>(t_actor_sender_slot));
          put(out, export_locked(caf::actor_cast<caf::strong_actor_ptr>(a), true));
        }
        break;
      }
      default:
        if (ti != nullptr && *ti == typeid(kin::Message)) {
          put(out, static_cast<std::uint8_t>(t_kin_message));
          auto bytes = kin::encode(*static_cast<const kin::Message*>(p));
          put(out, static_cast<std::uint32_t>(bytes.size()));
          out.insert(out.end(), bytes.begin(), bytes.end());
          break;
        }
        throw ValueError("element " + std::to_string(i) + " of type " + type_name_of(ti) +
                         " (only kin::Message's built-ins, atoms, caf::error, caf::actor and registered types travel)");
    }
  }
}

caf::error Channel::post(std::uint32_t dest, const RemoteRef* via, const caf::strong_actor_ptr& sender,
                         caf::message_id mid, const ElementsView& v) {
  std::unique_lock g{mu_};
  if (closed_) return caf::make_error(caf::sec::request_receiver_down);
  auto start = out_.size();
  bool lone_request = false;  // the only request in flight on this channel
  try {
    std::uint32_t sslot = kNoSlot;
    if (sender) {
      if (sender.get() != last_sender_) {
        last_sender_slot_ = export_locked(sender, false);
        last_sender_ = sender.get();
      }
      sslot = last_sender_slot_;
    }
    out_.resize(start + kHeader - 2);
    auto* h = out_.data() + start + 4;
    h[0] = std::byte{kKindMessage};
    std::memcpy(h + 1, &dest, 4);
    std::memcpy(h + 5, &sslot, 4);
    auto mv = mid.integer_value();
    std::memcpy(h + 9, &mv, 8);
    std::vector<unique_fd> fds;  // the fds of kin objects in the message's kin::Messages
    {
      HandoverExport scope{fds};
      encode_elements(out_, via, v, 0);
    }
    auto len = out_.size() - start - 4;
    if (len > kMaxFrame) throw ValueError("message of " + std::to_string(len) + " bytes is over the limit");
    auto l32 = static_cast<std::uint32_t>(len);
    std::memcpy(out_.data() + start, &l32, 4);
    if (!fds.empty()) out_fds_.push_back(FdFrame{start, out_.size(), std::move(fds)});
    if (parent_ && mid.is_request() && sender) {
      pending_.emplace(PendingKey{sender.get(), mid.request_id().integer_value()},
                       Pending{caf::actor_cast<caf::weak_actor_ptr>(sender), mid});
      lone_request = pending_.size() == 1;
    }
  } catch (const std::exception& e) {
    out_.resize(start);
    return cannot_travel(e.what());
  }
  has_out_.store(true, std::memory_order_seq_cst);
  g.unlock();
  // Someone waits for the answer: write the request now, from this thread, instead of
  // handing it to the I/O thread (a thread hop, or a wake-up when it sleeps). The I/O thread
  // is still woken: it reads the reply, and waking it now overlaps the child's work.
  // One-way traffic stays with the I/O thread, which writes it in batches.
  if (parent_ && mid.is_request()) {
    {
      std::unique_lock w{write_mu_, std::try_to_lock};
      if (w.owns_lock()) flush_locked();
    }
    // A blocking requester waits for the answer next: read it here (bounded spin) rather
    // than wake the I/O thread to read it and then wake the requester. Not with other
    // requests in flight (a window of them): each would wait for its own reply in turn.
    if (lone_request && reply_spin().count() > 0 &&
        dynamic_cast<caf::blocking_actor*>(caf::actor_cast<caf::abstract_actor*>(sender)) != nullptr) {
      await_reply(sender.get(), mid);
      return caf::error{};
    }
  }
  if (parked_.load(std::memory_order_seq_cst)) wake();
  return caf::error{};
}

template <class Sink>
void Channel::decode_one(WireReader& r, int depth, Sink&& sink) {
  auto tag = r.get<std::uint8_t>();
  switch (tag) {
    case t_i8: return sink(r.get<std::int8_t>());
    case t_i16: return sink(r.get<std::int16_t>());
    case t_i32: return sink(r.get<std::int32_t>());
    case t_i64: return sink(r.get<std::int64_t>());
    case t_u8: return sink(r.get<std::uint8_t>());
    case t_u16: return sink(r.get<std::uint16_t>());
    case t_u32: return sink(r.get<std::uint32_t>());
    case t_u64: return sink(r.get<std::uint64_t>());
    case t_float: return sink(r.get<float>());
    case t_double: return sink(r.get<double>());
    case t_bool: {
      auto b = r.get<std::uint8_t>();
      if (b > 1) throw ProtocolError("kin process actor: bad bool");
      return sink(b == 1);
    }
    case t_atom: return sink(r.get<caf::atom_value>());
    case t_string: return sink(r.get_string());
    case t_strvec: {
      auto k = r.get<std::uint32_t>();
      if (k > static_cast<std::size_t>(r.end - r.p) / 4) throw ProtocolError("kin process actor: bad vector length");
      std::vector<std::string> vs;
      vs.reserve(k);
      for (std::uint32_t j = 0; j < k; ++j) vs.push_back(r.get_string());
      return sink(std::move(vs));
    }
    case t_error: {
      auto code = r.get<std::uint8_t>();
      auto cat = r.get<caf::atom_value>();
      auto ctx = decode_elements(r, depth + 1);
      if (code == 0) return sink(caf::error{});
      return sink(caf::error{code, cat, std::move(ctx)});
    }
    case t_actor_null: return sink(caf::actor{});
    case t_kin_message: {
      auto len = r.get<std::uint32_t>();
      if (static_cast<std::size_t>(r.end - r.p) < len) throw ProtocolError("kin process actor: truncated kin::Message");
      auto m = kin::decode<kin::Message>(std::span<const std::byte>(r.p, len));  // ProtocolError if bad
      r.p += len;
      return sink(std::move(m));
    }
    case t_actor_receiver_slot: return sink(caf::actor_cast<caf::actor>(local(r.get<std::uint32_t>())));
    case t_actor_sender_slot: return sink(caf::actor_cast<caf::actor>(remote(r.get<std::uint32_t>())));
    default: throw ProtocolError("kin process actor: unknown element tag " + std::to_string(tag));
  }
}

caf::message Channel::decode_elements(WireReader& r, int depth) {
  if (depth > 8) throw ProtocolError("kin process actor: error contexts nested too deeply");
  auto n = r.get<std::uint16_t>();
  if (n == 0) return caf::message{};
  caf::message result;
  if (n == 1) {
    decode_one(r, depth, [&](auto&& v) { result = caf::make_message(std::move(v)); });
    return result;
  }
  caf::message_builder mb;
  for (std::uint16_t i = 0; i < n; ++i) decode_one(r, depth, [&](auto&& v) { mb.append(std::move(v)); });
  return mb.to_message();
}

void Channel::dispatch(std::span<const std::byte> payload, DispatchCache& c, std::vector<unique_fd>& fds) {
  HandoverImport scope{fds};  // what the message's kin::Messages do not take is closed after it
  WireReader r{payload.data(), payload.data() + payload.size()};
  auto kind = r.get<std::uint8_t>();
  if (kind != kKindMessage) throw ProtocolError("kin process actor: unknown frame kind " + std::to_string(kind));
  auto dest = r.get<std::uint32_t>();
  auto sslot = r.get<std::uint32_t>();
  caf::message_id mid{r.get<std::uint64_t>()};
  if (dest != c.dest_slot || !c.dest) {
    c.dest = local(dest);
    c.dest_slot = dest;
  }
  caf::strong_actor_ptr sender;
  if (sslot != kNoSlot) {
    if (sslot != c.sender_slot || !c.sender) {
      c.sender = remote(sslot);
      c.sender_slot = sslot;
    }
    sender = c.sender;
  }
  auto& target = c.dest;
  if (parent_ && mid.is_response()) {
    std::lock_guard g{mu_};
    if (target) pending_.erase(PendingKey{target.get(), mid.request_id().integer_value()});
  }
  auto n = r.get<std::uint16_t>();
  caf::mailbox_element_ptr elem;
  if (n == 1) {  // the common case: one allocation for the element and its value
    decode_one(r, 0, [&](auto&& v) { elem = caf::make_mailbox_element(sender, mid, {}, std::move(v)); });
  } else {
    r.p -= 2;
    elem = caf::make_mailbox_element(sender, mid, {}, decode_elements(r, 0));
  }
  if (r.p != r.end) throw ProtocolError("kin process actor: trailing bytes in a message");
  if (!target) {
    // CAF's rule for a dead receiver: a request gets an error, anything else is dropped.
    if (mid.is_request() && sender)
      sender->enqueue(caf::make_mailbox_element(nullptr, mid.response_id(), {},
                                                caf::make_error(caf::sec::request_receiver_down)),
                      nullptr);
    return;
  }
  target->enqueue(std::move(elem), nullptr);
}

bool Channel::flush_locked() {
  bool did = false;
  for (;;) {
    if (w_off_ == w_.size()) {
      if (!has_out_.load(std::memory_order_acquire)) return did;
      w_.clear();
      w_off_ = 0;
      w_fds_.clear();
      w_fd_next_ = 0;
      std::lock_guard g{mu_};
      w_.swap(out_);
      w_fds_.swap(out_fds_);
      has_out_.store(false, std::memory_order_release);
      if (w_.empty()) return did;
    }
    if (write_closed_) {
      w_off_ = w_.size();
      w_fds_.clear();  // closes them: the peer is gone
      w_fd_next_ = 0;
      continue;
    }
    // A frame with fds goes by a sendmsg of its own bytes only, so the fds reach the reader
    // with that frame's first byte and no later frame shares the read that brings them.
    std::size_t upto = w_.size();
    ssize_t n;
    if (w_fd_next_ < w_fds_.size() && w_off_ == w_fds_[w_fd_next_].begin) {
      auto& f = w_fds_[w_fd_next_];
      std::vector<int> raw;
      raw.reserve(f.fds.size());
      for (auto& fd : f.fds) raw.push_back(fd.get());
      n = send_some_with_fds(sock_.get(), std::span<const std::byte>(w_.data() + f.begin, f.end - f.begin), raw,
                             MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        f.fds.clear();  // in flight now: the kernel holds them
        ++w_fd_next_;
      }
    } else {
      if (w_fd_next_ < w_fds_.size()) upto = w_fds_[w_fd_next_].begin;
      n = ::send(sock_.get(), w_.data() + w_off_, upto - w_off_, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    if (n > 0) {
      w_off_ += static_cast<std::size_t>(n);
      did = true;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return did;
    write_closed_ = true;  // EPIPE/ECONNRESET: the peer is gone; its death arrives separately
  }
}

bool Channel::pump() {
  bool did = flush();
  if (read_failed_.load(std::memory_order_acquire)) {
    std::lock_guard r{read_mu_};
    throw ProtocolError(read_failure_);
  }
  if (eof_) return did;
  std::unique_lock r{read_mu_, std::try_to_lock};
  if (!r.owns_lock()) return did;  // a requester reads its reply itself (await_reply)
  return read_locked() || did;
}

void Channel::await_reply(caf::actor_control_block* requester, caf::message_id mid) {
  const PendingKey key{requester, mid.request_id().integer_value()};
  const auto until = std::chrono::steady_clock::now() + reply_spin();
  for (;;) {
    {
      std::unique_lock r{read_mu_, std::try_to_lock};
      if (r.owns_lock() && !eof_ && !read_failed_.load(std::memory_order_relaxed)) {
        try {
          read_locked();
        } catch (const std::exception& e) {
          // The I/O thread owns the child's fate: it ends it for the bad frame.
          read_failure_ = e.what();
          read_failed_.store(true, std::memory_order_release);
          r.unlock();
          wake();
          return;
        }
      }
    }
    {
      std::lock_guard g{mu_};
      if (pending_.find(key) == pending_.end()) return;  // answered (or failed)
    }
    if (eof_ || std::chrono::steady_clock::now() >= until) break;
    ::sched_yield();
  }
  if (parked_.load(std::memory_order_seq_cst)) wake();
}

bool Channel::read_locked() {
  bool did = false;
  for (int rounds = 0; rounds < 4; ++rounds) {
    if (in_len_ == in_.size()) in_.resize(in_.size() * 2);
    std::vector<unique_fd> got;
    bool truncated = false;
    auto n = recv_some_with_fds(sock_.get(), std::span<std::byte>(in_.data() + in_len_, in_.size() - in_len_), got,
                                truncated, MSG_DONTWAIT);
    if (n > 0) in_fds_.add(in_base_ + in_len_ + static_cast<std::size_t>(n), std::move(got), truncated);
    if (n == 0) {
      eof_ = true;
      if (in_len_ != 0) throw ProtocolError("kin process actor: the peer closed the channel inside a frame");
      return true;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return did;
      eof_ = true;  // ECONNRESET
      return true;
    }
    did = true;
    in_len_ += static_cast<std::size_t>(n);
    std::size_t off = 0;
    DispatchCache cache;
    while (in_len_ - off >= kFrameHeaderSize) {
      auto len = parse_frame_header(std::span<const std::byte, kFrameHeaderSize>(in_.data() + off, kFrameHeaderSize),
                                    kMaxFrame);
      if (in_len_ - off - kFrameHeaderSize < len) {
        if (len + kFrameHeaderSize > in_.size()) {
          // A large message: grow to hold it (bounded by kMaxFrame, checked above).
          std::memmove(in_.data(), in_.data() + off, in_len_ - off);
          in_len_ -= off;
          in_base_ += off;
          off = 0;
          in_.resize(len + kFrameHeaderSize);
        }
        break;
      }
      bool cut = false;
      auto fds = in_fds_.take(in_base_ + off, in_base_ + off + kFrameHeaderSize + len, cut);
      off += kFrameHeaderSize + len;
      if (cut) {
        ProtocolError e("kin process actor: a message came with more fds than a receiver takes (at most " +
                        std::to_string(kMaxFdsPerMessage) + "); the kernel cut them off");
        std::memmove(in_.data(), in_.data() + off, in_len_ - off);
        in_len_ -= off;
        in_base_ += off;
        throw e;
      }
      dispatch(std::span<const std::byte>(in_.data() + off - len, len), cache, fds);
    }
    if (off > 0) {
      std::memmove(in_.data(), in_.data() + off, in_len_ - off);
      in_len_ -= off;
      in_base_ += off;
    }
    if (static_cast<std::size_t>(n) < in_.size() / 2) break;  // drained for now
    flush();
  }
  return did;
}

bool Channel::park(int extra, int timeout_ms) {
  pollfd fds[3];
  nfds_t n = 0;
  short sock_events = eof_.load() ? 0 : POLLIN;
  {
    std::lock_guard w{write_mu_};
    if (w_off_ < w_.size() && !write_closed_) sock_events |= POLLOUT;
  }
  fds[n++] = pollfd{sock_.get(), sock_events, 0};
  fds[n++] = pollfd{wake_.get(), POLLIN, 0};
  if (extra >= 0) fds[n++] = pollfd{extra, POLLIN, 0};
  int rc = ::poll(fds, n, timeout_ms);
  if (rc > 0 && (fds[1].revents & POLLIN)) {
    std::uint64_t v;
    [[maybe_unused]] auto r = ::read(wake_.get(), &v, sizeof v);
  }
  return rc > 0 && extra >= 0 && (fds[2].revents & (POLLIN | POLLHUP)) != 0;
}

void Channel::fail_pending(const caf::error& reason) {
  std::map<PendingKey, Pending> p;
  {
    std::lock_guard g{mu_};
    p.swap(pending_);
  }
  auto err = reason ? reason : caf::make_error(caf::sec::request_receiver_down);
  for (auto& [key, req] : p)
    if (auto s = caf::actor_cast<caf::strong_actor_ptr>(req.requester))
      s->enqueue(caf::make_mailbox_element(nullptr, req.mid.response_id(), {}, err), nullptr);
}

// -- the parent's side ----------------------------------------------------------

/// The parent's life of one process actor: owns the Process and runs the I/O thread, which
/// alone touches the Process (signals, join) and the channel's I/O.
class ParentCore final : public ProcessActorCore, public std::enable_shared_from_this<ParentCore> {
 public:
  ParentCore(Process p, std::shared_ptr<Channel> ch, std::chrono::milliseconds stop_timeout)
      : proc_(std::move(p)), ch_(std::move(ch)), stop_timeout_(stop_timeout) {}

  void start(caf::strong_actor_ptr proxy) {
    proxy_ = caf::actor_cast<caf::weak_actor_ptr>(proxy);
    thread_ = std::thread([self = shared_from_this()] { self->run(); });
  }

  void request_stop(bool kill) override {
    int want = kill ? 2 : 1;
    int cur = stop_.load();
    while (cur < want && !stop_.compare_exchange_weak(cur, want)) {
    }
    ch_->wake();
  }
  bool wait_done(std::chrono::milliseconds timeout) override {
    std::unique_lock lk{mu_};
    return cv_.wait_for(lk, timeout, [this] { return done_; });
  }
  bool done() const override {
    std::lock_guard g{mu_};
    return done_;
  }
  void join() override {
    if (thread_.joinable()) thread_.join();
  }

 private:
  void run();

  Process proc_;
  std::shared_ptr<Channel> ch_;
  std::chrono::milliseconds stop_timeout_;
  caf::weak_actor_ptr proxy_;
  std::atomic<int> stop_{0};  // 0 none, 1 SIGTERM wanted, 2 SIGKILL wanted
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
};

void ParentCore::run() {
  using clock = std::chrono::steady_clock;
  const int pidfd = proc_.sentinel();
  std::string protocol_error;
  int signalled = 0;  // the strongest signal sent so far
  clock::time_point kill_at = clock::time_point::max();
  bool dead = false;
  auto last_work = clock::now();
  while (!dead) {
    try {
      if (ch_->pump()) last_work = clock::now();
    } catch (const std::exception& e) {
      protocol_error = e.what();
      proc_.kill();
      signalled = SIGKILL;
      break;
    }
    if (int s = stop_.load(); s > 0) {
      if (s == 2 && signalled != SIGKILL) {
        proc_.kill();
        signalled = SIGKILL;
      } else if (s == 1 && signalled == 0) {
        proc_.terminate();
        signalled = SIGTERM;
        kill_at = clock::now() + stop_timeout_;
      }
    }
    if (signalled == SIGTERM && clock::now() >= kill_at) {
      proc_.kill();
      signalled = SIGKILL;
    }
    auto now = clock::now();
    if (now - last_work < spin_window()) {
      ::sched_yield();
      continue;
    }
    ch_->parked_.store(true, std::memory_order_seq_cst);
    if (ch_->write_pending() && !ch_->eof()) {
      ch_->parked_.store(false);
      continue;
    }
    int timeout = -1;
    if (signalled == SIGTERM)
      timeout = static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(kill_at - now).count()) + 1;
    dead = ch_->park(pidfd, timeout);
    ch_->parked_.store(false, std::memory_order_relaxed);
    // No spin window for a wake-up alone: a reply that a requester read itself wakes this
    // thread too, and it should not spin for nothing then. Work found by the next pump does.
  }
  // The process has ended (or is being killed for a bad frame): take what it wrote before,
  // then its exit status.
  for (int i = 0; i < 64 && protocol_error.empty() && !ch_->eof(); ++i) {
    try {
      if (!ch_->pump()) break;
    } catch (const std::exception& e) {
      protocol_error = e.what();
    }
  }
  if (!proc_.join(std::chrono::seconds(5))) {
    proc_.kill();
    proc_.join(std::chrono::seconds(5));
  }
  auto st = proc_.exit_status();
  ExitStatus status = st ? *st : ExitStatus::killed(SIGKILL);
  caf::error reason = protocol_error.empty() ? make_exit_reason(status) : make_protocol_error(protocol_error, status);
  ch_->fail_pending(reason);
  if (auto p = caf::actor_cast<caf::strong_actor_ptr>(proxy_))
    static_cast<RemoteRef*>(caf::actor_cast<caf::abstract_actor*>(p))->go_down(reason);
  ch_->clear();
  {
    std::lock_guard g{g_parent_ends_mu};
    g_parent_ends.erase(ch_->fd());
  }
  {
    std::lock_guard g{mu_};
    done_ = true;
  }
  cv_.notify_all();
}

// -- RemoteRef ------------------------------------------------------------------

void RemoteRef::enqueue(caf::mailbox_element_ptr what, caf::execution_unit* host) {
  if (!what) return;
  const auto& content = what->content();
  if (content.size() == 1 && content.type(0).first == caf::type_nr<caf::exit_msg>::value) {
    // A link fired (or someone sent an exit): a process actor dies with the actors it is
    // linked to, as a non-trapping CAF actor does — by ending its process.
    const auto& em = *static_cast<const caf::exit_msg*>(content.get(0));
    if (em.reason)
      if (auto c = core_.lock()) c->request_stop(em.reason == caf::exit_reason::kill);
    return;
  }
  if (down_.load()) {
    bounce(what, caf::make_error(caf::sec::request_receiver_down));
    return;
  }
  auto err = ch_->post(slot_, this, what->sender, what->mid, content);
  if (!err) return;
  if (what->mid.is_request() && what->sender) {
    what->sender->enqueue(caf::make_mailbox_element(nullptr, what->mid.response_id(), {}, std::move(err)), host);
  } else {
    std::fprintf(stderr, "kin: a message to a process actor was not sent: %s\n", describe(err).c_str());
  }
}

void RemoteRef::on_destroy() {
  // Nobody can send to it any more: end the child, as CAF collects an unreachable actor.
  if (auto c = core_.lock()) c->request_stop(false);
  if (!down_.exchange(true)) cleanup(caf::make_error(caf::exit_reason::unreachable), nullptr);
  caf::monitorable_actor::on_destroy();
}

// -- public pieces ------------------------------------------------------------------

FnRef fn_ref_of(const void* fn) {
  if (auto e = entry_name_of(reinterpret_cast<std::uintptr_t>(fn))) return FnRef{*e, {}, 0};
  auto c = code_ref_of(fn);
  return FnRef{{}, c.object, c.offset};
}

void* resolve_fn_ref(const FnRef& ref) {
  if (!ref.entry.empty()) {
    auto f = entry_named(ref.entry);
    if (!f) throw ProtocolError("kin::spawn_process: no KIN_ENTRY named " + ref.entry + " in the child");
    return reinterpret_cast<void*>(*f);
  }
  return resolve_code_ref(CodeRef{ref.object, ref.offset});
}

ProcessActorStart::ProcessActorStart(ActorSystem& sys) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) throw_errno("socketpair");
  child_fd_ = sv[1];
  channel_ = std::make_shared<Channel>(sys, unique_fd{sv[0]}, true);
  std::lock_guard g{g_parent_ends_mu};
  g_parent_ends.insert(sv[0]);
}

ProcessActorStart::~ProcessActorStart() {
  if (child_fd_ >= 0) ::close(child_fd_);
  if (channel_) {
    std::lock_guard g{g_parent_ends_mu};
    g_parent_ends.erase(channel_->fd());
  }
}

ActorSlot ProcessActorStart::export_actor(const caf::actor& a) {
  if (!a) throw ValueError("kin::spawn_process: an invalid caf::actor argument");
  return ActorSlot{channel_->export_strong(caf::actor_cast<caf::strong_actor_ptr>(a))};
}

caf::actor launch_process_actor(ActorSystem& sys, ProcessActorStart& start, Process p) {
  p.start();
  ::close(start.child_fd_);
  start.child_fd_ = -1;
  auto ch = start.channel_;
  auto core = std::make_shared<ParentCore>(std::move(p), ch, sys.options().process_stop_timeout);
  caf::actor_config cfg;
  auto proxy = caf::make_actor<RemoteRef, caf::strong_actor_ptr>(sys.next_actor_id(), sys.node(), &sys, cfg, ch, 0u,
                                                                   std::weak_ptr<ParentCore>(core));
  ch->set_remote(0, proxy);
  core->start(proxy);
  start.channel_.reset();  // the core owns the parent end now (and unregisters it)
  adopt_process_actor(sys, core);
  return caf::actor_cast<caf::actor>(proxy);
}

// -- the child's side ----------------------------------------------------------------

caf::actor import_actor(Channel& ch, ActorSlot slot) { return caf::actor_cast<caf::actor>(ch.remote(slot.slot)); }

int process_actor_channel_fd() { return g_child_channel_fd; }

int run_process_actor_child(ChannelFd fd, const ActorMaker& make) {
  {
    std::lock_guard g{g_parent_ends_mu};
    for (int f : g_parent_ends)
      if (f != fd.fd) ::close(f);
    g_parent_ends.clear();
  }
  g_child_channel_fd = fd.fd;
  // Never destroyed: the process _exits when its actor is done (a CAF system in a child that
  // returns through destructors is how forked CAF programs hang, G11). Its scheduler has no
  // thread: this thread reads the channel, runs the actors and their timers, and writes
  // their replies — a message is handled where it was read, and the child starts no thread.
  auto* sys = make_loop_actor_system(ActorSystemOptions{.threads = 1, .policy = SchedulerPolicy::sharing});
  auto& loop = LoopScheduler::of(*sys);
  auto ch = std::make_shared<Channel>(*sys, unique_fd{fd.fd}, false);
  loop.set_waker([c = ch.get()] {
    if (c->parked_.load(std::memory_order_seq_cst)) c->wake();
  });

  struct Life {
    std::atomic<bool> actor_done{false};
    std::mutex mu;
    std::optional<int> code;  // set by the exception handler (kin::exit or an exception)
    caf::error reason;
  };
  auto life = std::make_shared<Life>();
  const std::string name = process_globals().current.name;

  auto main_actor = sys->spawn([&make, ch, life, name](caf::event_based_actor* self) -> caf::behavior {
    self->set_exception_handler([life, name](caf::scheduled_actor*, std::exception_ptr& ep) -> caf::error {
      // kin::exit's code, or 1 after the same "Process <name>:" report a kin::Process prints.
      const int code = run_child_body(name, [&ep]() -> int { std::rethrow_exception(ep); });
      {
        std::lock_guard g{life->mu};
        life->code = code;
      }
      return code == 0 ? caf::error{} : make_exit_reason(ExitStatus::exited(code));
    });
    return make(self, *ch);
  });
  ch->export_strong(caf::actor_cast<caf::strong_actor_ptr>(main_actor));  // slot 0
  main_actor->attach_functor([life](const caf::error& reason) {
    {
      std::lock_guard g{life->mu};
      life->reason = reason;
    }
    life->actor_done.store(true);
  });
  main_actor = nullptr;

  using clock = std::chrono::steady_clock;
  auto last_work = clock::now();
  try {
    while (!life->actor_done.load() && !ch->eof()) {
      bool did = ch->pump();  // writes what is queued, reads and delivers into mailboxes
      did |= loop.fire_timers();
      did |= loop.run_jobs();  // the actors handle it here; their replies are queued
      if (did) {
        last_work = clock::now();
        continue;
      }
      if (clock::now() - last_work < spin_window()) {
        ::sched_yield();
        continue;
      }
      ch->parked_.store(true, std::memory_order_seq_cst);
      if (loop.has_jobs() || ch->has_queued()) {
        ch->parked_.store(false);
        continue;
      }
      int timeout = -1;
      if (auto t = loop.next_timer()) {
        auto left = std::chrono::ceil<std::chrono::milliseconds>(*t - clock::now()).count();
        timeout = static_cast<int>(std::clamp<long long>(left, 0, 1 << 30));
      }
      ch->park(-1, timeout);  // POLLOUT too while a write waits for the parent to read
      ch->parked_.store(false, std::memory_order_relaxed);
      last_work = clock::now();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kin process actor %s: %s\n", name.c_str(), e.what());
  }

  int code = 0;
  if (life->actor_done.load()) {
    std::lock_guard g{life->mu};
    code = life->code.value_or(life->reason ? 1 : 0);
    if (!life->code && life->reason) {
      flush_std_streams();
      std::fprintf(stderr, "Process %s: actor ended: %s\n", name.c_str(), describe(life->reason).c_str());
    }
  }
  // Let the last replies out (bounded: a parent that stopped reading is not waited for).
  auto deadline = clock::now() + std::chrono::seconds(2);
  try {
    while (!ch->eof() && clock::now() < deadline) {
      ch->pump();
      loop.run_jobs();
      if (!ch->write_pending() && !loop.has_jobs()) break;
      ch->parked_.store(true, std::memory_order_seq_cst);
      if (!loop.has_jobs() && !ch->has_queued()) ch->park(-1, 10);
      ch->parked_.store(false, std::memory_order_relaxed);
    }
  } catch (const std::exception&) {
    // A bad frame from the parent while the child ends: it ends anyway.
  }
  return code;
}

}  // namespace kin::detail
