// ShmRing: the storage behind kin::Queue — a byte ring of [u32 length][payload] records in an
// anonymous memfd segment that every holder maps (fork children inherit it; spawn/forkserver
// children get its fd by hand-over). Multi-producer, multi-consumer, usable from processes
// and threads at once.
//
//   auto ring = ShmRing::create(/*maxsize=*/0);
//   ring->put(bytes, Deadline::after(1s));   // false: still full at the deadline
//   auto rec = ring->get(Deadline::never());
//
// Layout: one header page (two robust process-shared mutexes, the producers' and the
// consumers', each on its own cache line with its index; counters, futex words, the ring's
// layout word) mapped once, and the ring, a region of the same file, mapped separately. A put
// copies its record in and then publishes it with one store to `tail`; a get copies a record
// out and then consumes it with one store to `head`. So a process SIGKILLed inside put or get
// leaves at worst an unpublished record (ignored) or a consumed one (the message in the killed
// consumer's hands): the next locker sees the robust mutex's owner-died report and recounts
// the items between head and tail.
// A side used by one thread alone (the 1→1 case) skips its mutex: that thread is the side's
// owner and announces each operation in a shared word instead; a second user takes the mutex
// and waits out the owner's operation in progress before it touches the ring (a handshake,
// see SoloSide in shm_ring.cpp), and an owner killed inside one is repaired like a dead holder.
// A message larger than the ring grows it: a new, larger region is reserved after the current
// one, the live records are copied into it, and one store of the layout word publishes it
// (every holder maps it at its next lock). A crash at any point before that store leaves the
// old ring untouched; a failure (ENOMEM, ENOSPC, EFBIG under RLIMIT_FSIZE) is an OSError from
// that put with nothing changed. So every put completes into shared memory without waiting
// for a reader; otherwise the ring's capacity bounds the bytes in flight.
// Every operation takes its lock within its caller's deadline, so a stopped (SIGSTOP) holder
// delays a timed call only until its deadline; qsize/empty/full/closed read without a lock.
// The segment has no name: the kernel frees it when the last holder goes, crash included.
#pragma once

#include <kin/codec.hpp>
#include <kin/runtime/futex.hpp>
#include <kin/runtime/unique_fd.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>

namespace kin::detail {

struct ShmRingHeader;

class ShmRing {
 public:
  static constexpr std::size_t kDefaultCapacity = std::size_t{1} << 20;  // 1 MiB of records

  /// A new ring; `maxsize` bounds the items (0 = unbounded), `capacity` the bytes.
  static std::shared_ptr<ShmRing> create(std::size_t maxsize, std::size_t capacity = kDefaultCapacity);
  /// Maps an existing ring (a handed-over fd).
  static std::shared_ptr<ShmRing> attach(unique_fd fd);
  ~ShmRing();
  ShmRing(const ShmRing&) = delete;
  ShmRing& operator=(const ShmRing&) = delete;

  /// Puts one record. False when the deadline passed first (the queue stayed full);
  /// ValueError after close().
  bool put(std::span<const std::byte> payload, Deadline deadline);
  /// Takes one record. std::nullopt when the deadline passed first; EOFError when the ring
  /// is closed and drained.
  std::optional<Bytes> get(Deadline deadline);
  /// Takes one record of exactly `out.size()` bytes into `out` (fixed-size values); a record
  /// of another size is a ProtocolError (and is consumed). False on timeout.
  bool get_into(std::span<std::byte> out, Deadline deadline);
  /// Takes one record and hands its bytes to `read(ctx, bytes)` where they lie in the ring
  /// (decoding in place: no copy of the record; one into a scratch buffer only when it wraps
  /// round the ring's end), then consumes it, also when `read` throws (the exception then
  /// leaves get_with). `read` runs with the consumers' side held: it must not block. False on
  /// timeout.
  using RecordReader = void (*)(void* ctx, std::span<const std::byte> bytes);
  bool get_with(RecordReader read, void* ctx, Deadline deadline);

  void close();
  [[nodiscard]] bool closed() const;
  [[nodiscard]] std::size_t qsize() const;
  [[nodiscard]] std::size_t maxsize() const;
  [[nodiscard]] bool full() const;
  [[nodiscard]] std::size_t capacity() const;

  // JoinableQueue's count of items put but not yet marked done.
  void task_done();
  bool join(Deadline deadline);

  [[nodiscard]] int fd() const noexcept { return fd_.get(); }

  /// kin::wait's doorbell (added for actors/src/wait.cpp): the futex word a put bumps when
  /// getters sleep, and the count of sleeping getters, which a waiter joins so the put rings.
  struct Doorbell {
    std::atomic<std::uint32_t>* word;
    std::atomic<std::uint32_t>* sleepers;
  };
  [[nodiscard]] Doorbell doorbell() const noexcept;

 private:
  explicit ShmRing(unique_fd fd);
  class Locked;
  friend class Locked;
  struct View {  // one side's mapping of the ring
    std::byte* ring = nullptr;
    std::size_t capacity = 0;
    std::uint64_t offset = 0;  // where in the file that ring starts
  };
  void map_view(View& v);
  void remap_if_grown(int sides);
  void grow(std::size_t needed);
  void release_old_rings();
  void repair();
  void wake_everyone();
  static void copy_in(const View& v, std::uint64_t pos, const void* src, std::size_t n);
  static void copy_out(const View& v, std::uint64_t pos, void* dst, std::size_t n);
  void write_record(std::span<const std::byte> payload);
  enum class Settled { ok, timeout, owner_died };
  Settled settle_solo(int side, Deadline d);
  bool enter_solo(int side) noexcept;
  void leave_solo(int side) noexcept;
  template <class Take>
  bool solo_get(Deadline deadline, bool& spun, Take take);
  template <class Take>
  bool get_by(Deadline deadline, Take take);
  bool room_for(std::size_t need);
  bool record_ready();
  enum class Wait { ready, timeout, again };
  Wait wait_for_record(Locked& l, Deadline deadline, bool spun);
  std::optional<Bytes> take_record();
  void take_record_into(std::span<std::byte> out);
  void take_record_with(RecordReader read, void* ctx);
  void consume(std::uint32_t len);

  unique_fd fd_;
  ShmRingHeader* hdr_ = nullptr;
  View put_view_;  // used under the producers' lock
  View get_view_;  // used under the consumers' lock
  // Last values this process read of the other side's indices (under its own side's lock):
  // stale values only understate the room or the records, so they are re-read only then.
  std::uint64_t seen_head_ = 0;
  std::uint64_t seen_get_n_ = 0;
  std::uint64_t seen_tail_ = 0;
};

}  // namespace kin::detail
