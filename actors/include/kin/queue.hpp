// kin::Queue<T>: a multi-producer, multi-consumer FIFO queue between processes and threads
// (Python's multiprocessing.Queue).
//
//   kin::Queue<std::string> q{3};          // at most 3 items (0 = unbounded)
//   q.put("job");  q.get();                // block as needed
//   q.put("x", 1s) / q.get(1s)             // false / std::nullopt when time runs out
//   q.put_nowait("x") / q.get_nowait()     // kin::Full / kin::Empty
//   q.close();                             // puts now throw ValueError; gets drain, then EOFError
//
// Items live in shared memory (runtime/shm_ring.hpp): put() returns once the item is in the
// shared ring — there is no feeder thread, so joining a producer that put a lot never
// deadlocks, and a SIGKILLed producer or consumer never corrupts the queue or blocks the
// others. Copies of a Queue are the same queue; fork children inherit it and spawn/
// forkserver children receive it as an argument. The segment has no name and is freed when
// the last holder goes. `capacity` bounds the bytes in flight (a larger single message still
// goes through: the ring grows for it).
//
// Items that hold kin objects with fds (a Connection, another Queue) travel too, as Python's
// do: the putting process keeps the fds and the item carries a ticket the getter redeems with
// it (runtime/fd_sharer.hpp) — so the putter must still run when the item is taken.
#pragma once

#include <kin/codec.hpp>
#include <kin/errors.hpp>
#include <kin/runtime/fd_sharer.hpp>
#include <kin/runtime/futex.hpp>
#include <kin/runtime/handover.hpp>
#include <kin/runtime/shm_ring.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

namespace kin {

template <class T>
class Queue {
  static_assert(serializable<T>, "kin::Queue<T>: T must be kin::serializable (see <kin/codec.hpp>)");

 public:
  explicit Queue(std::size_t maxsize = 0, std::size_t capacity = detail::ShmRing::kDefaultCapacity)
      : ring_(detail::ShmRing::create(maxsize, capacity)) {}

  void put(const T& v) { put_until(v, std::nullopt); }
  template <class Rep, class Period>
  bool put(const T& v, std::chrono::duration<Rep, Period> timeout) {
    return put_until(v, detail::deadline_after(timeout));
  }
  void put_nowait(const T& v) {
    if (!put_until(v, std::chrono::steady_clock::now())) throw Full();
  }

  [[nodiscard]] T get() { return *get_until(std::nullopt); }
  template <class Rep, class Period>
  [[nodiscard]] std::optional<T> get(std::chrono::duration<Rep, Period> timeout) {
    return get_until(detail::deadline_after(timeout));
  }
  [[nodiscard]] T get_nowait() {
    auto v = get_until(std::chrono::steady_clock::now());
    if (!v) throw Empty();
    return std::move(*v);
  }

  [[nodiscard]] std::size_t qsize() const { return ring_->qsize(); }
  [[nodiscard]] bool empty() const { return qsize() == 0; }
  [[nodiscard]] bool full() const { return ring_->full(); }
  [[nodiscard]] std::size_t maxsize() const { return ring_->maxsize(); }
  /// No more puts (ValueError); readers drain what is left, then get EOFError. Wakes every
  /// blocked reader and writer. Applies to every holder of the queue.
  void close() { ring_->close(); }
  [[nodiscard]] bool closed() const { return ring_->closed(); }
  /// For kin::wait (wait.hpp): what a put rings, so a waiter sleeps instead of polling.
  [[nodiscard]] detail::ShmRing::Doorbell doorbell() const noexcept { return ring_->doorbell(); }
  /// Python's join_thread()/cancel_join_thread() have nothing to do here (no feeder thread).
  void join_thread() const noexcept {}
  void cancel_join_thread() const noexcept {}

  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, Queue& x) {
    std::uint32_t slot = 0;
    if constexpr (Inspector::reads_state) slot = detail::handover_export(x.ring_->fd());
    f(slot);
    if constexpr (Inspector::writes_state) x.ring_ = detail::ShmRing::attach(detail::handover_import(slot));
  }

 protected:
  // An encoded item starts with a flag byte: kPlain, or kWithFds followed by the ticket that
  // fetches the fds its kin objects hold from the putting process (fd_sharer.hpp).
  static constexpr std::byte kPlain{0}, kWithFds{1};
  static constexpr std::size_t kKeepBytes = std::size_t{8} << 20;

  bool put_until(const T& v, detail::Deadline d) {
    if constexpr (detail::is_memcpy_able<T>) {
      return ring_->put(std::as_bytes(std::span<const T, 1>(&v, 1)), d);
    } else {
      std::vector<unique_fd> fds;
      // Encoded into this thread's reused buffer: a put allocates nothing once the buffer has
      // grown to the largest item (a 1 MiB item costs one copy in, not an allocation and its
      // page faults each time).
      // (Kept only up to kKeepBytes: one huge item does not pin its size for the thread's life.)
      thread_local Bytes item;
      struct Trim {
        ~Trim() {
          if (item.capacity() > kKeepBytes) Bytes().swap(item);
        }
      } trim;
      item.assign(1, kPlain);
      {
        detail::HandoverExport scope{fds};
        encode_into(item, v);
      }
      if (fds.empty()) return ring_->put(item, d);
      Bytes shared{kWithFds};
      const auto ids = detail::append_fd_ticket(shared, std::move(fds));
      shared.insert(shared.end(), item.begin() + 1, item.end());
      bool put = false;
      try {
        put = ring_->put(shared, d);
      } catch (...) {
        detail::withdraw_fds(ids);
        throw;
      }
      if (!put) detail::withdraw_fds(ids);
      return put;
    }
  }
  std::optional<T> get_until(detail::Deadline d) {
    if constexpr (detail::is_memcpy_able<T>) {
      T v;
      if (!ring_->get_into(std::as_writable_bytes(std::span<T, 1>(&v, 1)), d)) return std::nullopt;
      return v;
    } else {
      // A plain item decodes where it lies in the ring (one copy, into the value); one whose
      // kin objects carry fds is copied out first, since fetching its fds talks to the
      // putting process and must not happen with the ring's consumers' side held.
      struct Got {
        std::optional<T> value;
        Bytes with_fds;
      } got;
      auto read = [](void* ctx, std::span<const std::byte> in) {
        auto& g = *static_cast<Got*>(ctx);
        if (in.empty() || (in[0] != kPlain && in[0] != kWithFds)) throw ProtocolError("kin::Queue: a malformed item");
        if (in[0] == kWithFds) {
          g.with_fds.assign(in.begin() + 1, in.end());
          return;
        }
        std::vector<unique_fd> none;
        detail::HandoverImport scope{none};
        g.value.emplace(decode<T>(in.subspan(1)));
      };
      if (!ring_->get_with(read, &got, d)) return std::nullopt;
      if (got.value) return std::move(got.value);
      std::span<const std::byte> in{got.with_fds};
      std::vector<unique_fd> fds = detail::take_fd_ticket(in);
      detail::HandoverImport scope{fds};
      return decode<T>(in);
    }
  }

  std::shared_ptr<detail::ShmRing> ring_;
};

}  // namespace kin
