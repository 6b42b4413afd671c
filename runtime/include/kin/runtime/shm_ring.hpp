// ShmRing: the storage behind kin::Queue — a byte ring of [u32 length][payload] records in an
// anonymous memfd segment that every holder maps (fork children inherit it; spawn/forkserver
// children get its fd by hand-over). Multi-producer, multi-consumer, usable from processes
// and threads at once.
//
// Layout: one header page (a robust process-shared mutex, counters, futex words) mapped once,
// and the ring mapped separately after it. A put copies its record in and then publishes it
// with one store to `tail`; a get copies a record out and then consumes it with one store to
// `head`. So a process SIGKILLed inside put or get leaves at worst an unpublished record
// (ignored) or a consumed one (the message in the killed consumer's hands): the next locker
// sees the robust mutex's owner-died report and recounts the items between head and tail.
// A message larger than the ring grows it (ftruncate of the shared file; every holder remaps
// its ring view the next time it takes the lock), so every put completes into shared memory
// without waiting for a reader; otherwise the ring's capacity bounds the bytes in flight.
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

 private:
  explicit ShmRing(unique_fd fd);
  class Locked;
  friend class Locked;
  void remap_if_grown();
  void grow(std::size_t needed);
  void repair();
  void copy_in(std::uint64_t pos, const void* src, std::size_t n);
  void copy_out(std::uint64_t pos, void* dst, std::size_t n) const;
  bool wait_for_record(Locked& l, Deadline deadline);
  void consume(std::uint32_t len);

  unique_fd fd_;
  ShmRingHeader* hdr_ = nullptr;
  std::byte* ring_ = nullptr;
  std::size_t mapped_ = 0;  // bytes of ring mapped in this process
};

}  // namespace kin::detail
