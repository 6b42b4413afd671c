// CountingSemaphore: the engine of kin::Semaphore and kin::BoundedSemaphore — a permit counter
// in a shared segment, used from any process and thread that maps it.
//
//   CountingSemaphore s{0, /*bounded=*/false};
//   s.release(1);                        // a producer: one more item
//   s.acquire(true, Deadline::after(1s)); // a consumer: takes it (false on timeout)
//
// A semaphore is a counter, not a lock: a permit that a process acquired and did not release
// is consumed, whether the process goes on, exits or is killed, so nothing is ever handed back
// on a dead process's behalf and the count is exact across processes and deaths (Python's
// semantics). Mutual exclusion that survives a holder's death is kin::Lock's job.
//
// The count is one 32-bit word changed only by atomic read-modify-write operations, and it is
// also the futex word waiters sleep on. There is no lock: a process killed or stopped at any
// instruction leaves the count consistent and blocks nobody, and a timed acquire is bounded by
// its deadline alone.
#pragma once

#include <kin/runtime/futex.hpp>
#include <kin/runtime/shared_block.hpp>

#include <atomic>
#include <cstdint>

namespace kin::detail {

struct SemaphoreState {
  std::atomic<std::uint32_t> value;    // free permits; the futex word
  std::atomic<std::uint32_t> waiters;  // sleepers (a sleeper killed asleep over-counts: harmless)
  std::uint32_t bound;                 // 0: unbounded; else the most `value` may reach
};

class CountingSemaphore {
 public:
  CountingSemaphore() noexcept = default;
  CountingSemaphore(std::uint32_t initial, bool bounded);

  /// Takes a permit; `blocking = false`: only if one is free now. False when none came in time.
  bool acquire(bool blocking, Deadline deadline);
  /// Returns `n` permits; ValueError when bounded and that would exceed the initial value, or
  /// when the count would pass 2^32 - 1.
  void release(std::uint32_t n);
  [[nodiscard]] std::uint32_t value() const;

  SharedBlock& block() noexcept { return block_; }

 private:
  SemaphoreState* state() const;
  SharedBlock block_;
};

}  // namespace kin::detail
