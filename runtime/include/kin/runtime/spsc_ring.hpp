// SpscRing: a single-producer single-consumer ring of variable-length records in memory that
// two processes share (a MemfdSegment), the transport of kin::Pool's tasks and replies.
//
//   void* mem = seg.data();                               // SpscRing::footprint(64 * 1024) bytes
//   SpscRing tx{mem, 64 * 1024, /*init=*/true};           // the producer's view
//   SpscRing rx{mem, 64 * 1024, /*init=*/false};          // the consumer's (another process)
//   if (std::byte* p = tx.try_push(n)) { std::memcpy(p, src, n); if (tx.publish()) tx.wake(); }
//   rx.wait(50us);                                        // spins a while, then sleeps on a futex
//   for (auto r = rx.front(); !r.empty(); rx.pop(), r = rx.front()) use(r);
//   rx.release();                                         // the space goes back to the producer
//
// Positions are 64-bit byte counts that only grow; the producer writes only in
// [tail, head + capacity) and the consumer reads only in [head, tail), so neither sees the
// other's half-written bytes. Records are pushed locally and made visible by publish() (one
// release store for a whole batch); the consumer hands space back with release(), also once
// per batch. A record never wraps: one that does not fit before the end is preceded by a skip
// mark. A record is at most max_record() bytes; larger data must travel some other way.
//
// Waking: a consumer about to sleep sets the header's parked word, re-checks, and sleeps on
// it (futex, or the caller's own wait, e.g. poll() on an eventfd); publish() returns true only
// when it found that word set (and cleared it), so a producer makes no syscall while its
// consumer is awake.
//
// What a crash does: a producer that dies mid-record never published it, so the consumer sees
// only whole records; a producer that writes garbage is caught by front() (a length past the
// committed end sets corrupt()), never by reading out of bounds. The ring lives as long as the
// memory under it; a dead peer's ring is simply dropped with its segment.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>

namespace kin::detail {

class SpscRing {
 public:
  /// Bytes of shared memory a ring of `capacity` data bytes needs (header included).
  static constexpr std::size_t footprint(std::size_t capacity) noexcept { return kHeaderBytes + capacity; }

  SpscRing() noexcept = default;
  /// A view of the ring at `mem` (footprint(capacity) bytes, 64-byte aligned). `capacity` is a
  /// power of two, at least 256. `init` zeroes the header: once, by whoever creates it, before
  /// the other side attaches.
  SpscRing(void* mem, std::size_t capacity, bool init);

  /// The largest record try_push() accepts.
  [[nodiscard]] std::size_t max_record() const noexcept { return cap_ / 4 - kRecordHeader; }

  // ---- producer ----------------------------------------------------------------------------
  /// Room for a record of `n` bytes (n <= max_record()): where to write them, or nullptr when
  /// the ring is full for now (the consumer has not released enough). Not visible until publish().
  std::byte* try_push(std::size_t n) noexcept;
  /// Shrinks the record try_push() just returned to `n` bytes (n no larger than asked).
  void shrink_last(std::size_t n) noexcept;
  /// Makes every pushed record visible. True when the consumer was parked: it must be woken
  /// (wake(), or the caller's own doorbell); the parked word is cleared.
  bool publish() noexcept;
  /// futex_wake on the parked word (for a consumer that sleeps in wait()).
  void wake() noexcept;
  /// Records pushed and not yet released by the consumer (in bytes; 0 = drained).
  [[nodiscard]] std::size_t unreleased() const noexcept;

  // ---- consumer ----------------------------------------------------------------------------
  /// The next published record, or an empty span when there is none (or the ring is corrupt).
  std::span<const std::byte> front() noexcept;
  /// Steps past the record front() returned (its bytes stay valid until release()).
  void pop() noexcept;
  /// Gives every popped record's space back to the producer.
  void release() noexcept;
  /// True once front() met a record that cannot be (a garbage length): the producer is broken.
  [[nodiscard]] bool corrupt() const noexcept { return corrupt_; }
  /// Something published and not yet popped.
  [[nodiscard]] bool readable() const noexcept;
  /// Spins for up to `spin` for a record, then sleeps on the futex until one is published (the
  /// producer's publish() says to wake). Returns at once when one is there. True when the spin
  /// found one within `spin` (callers adapt their next spin to it: on a loaded machine a spin
  /// that keeps failing only takes the CPU from the thread it waits for).
  bool wait(std::chrono::nanoseconds spin) noexcept;
  /// For a consumer sleeping elsewhere (poll): announce the sleep, then re-check readable()
  /// before sleeping; unpark() after waking.
  void park() noexcept;
  void unpark() noexcept;

 private:
  struct Header {
    alignas(64) std::atomic<std::uint64_t> tail;    // published by the producer
    alignas(64) std::atomic<std::uint64_t> head;    // released by the consumer
    alignas(64) std::atomic<std::uint32_t> parked;  // 1: the consumer sleeps or is about to
  };
  static constexpr std::size_t kHeaderBytes = 192;
  static constexpr std::size_t kRecordHeader = 8;          // u32 length, u32 reserved
  static constexpr std::uint32_t kSkip = 0xFFFFFFFFu;      // the rest up to the end is unused
  static_assert(sizeof(Header) <= kHeaderBytes);

  [[nodiscard]] static constexpr std::size_t rounded(std::size_t n) noexcept {
    return (kRecordHeader + n + 7) & ~std::size_t{7};
  }

  Header* h_ = nullptr;
  std::byte* data_ = nullptr;
  std::size_t cap_ = 0;
  // Producer side (this process's view): where the next record goes, the head last seen,
  // where the last pushed record starts.
  std::uint64_t wpos_ = 0, head_seen_ = 0, last_ = 0;
  // Consumer side: the next record to read, the tail last seen.
  std::uint64_t rpos_ = 0, tail_seen_ = 0;
  bool corrupt_ = false;
};

}  // namespace kin::detail
