// CountingSemaphore: the engine of kin::Semaphore and kin::BoundedSemaphore. The count, the
// sleepers' futex word and a table of holdings per process live in one shared segment, updated
// under a RobustMutex (so a process killed mid-update never wedges the others).
//
// What "a holder died" means for a semaphore, which has no owner: each process's acquires
// minus its releases are recorded in the table (a release by a process holding nothing returns
// some other holder's permit). When a waiter sleeps for a slice (100 ms) without being woken, it
// looks for table entries whose process is gone (dead, zombie, or pid reused — the process start
// time is kept) and puts their permits back; the acquirers that take those permits are told
// through `previous_owner_died`. The table has kHoldersMax entries; holdings of processes beyond
// that are not tracked (and so not reclaimed).
#pragma once

#include <kin/runtime/robust_mutex.hpp>
#include <kin/runtime/shared_block.hpp>

#include <atomic>
#include <cstdint>

namespace kin::detail {

struct SemaphoreHolding {
  std::int32_t pid;
  std::uint32_t count;
  std::uint64_t start_time;
};

inline constexpr std::size_t kHoldersMax = 128;

// Crash consistency: a process may be SIGKILLed anywhere inside the state mutex, so every
// operation changes the state with one store. The free count is not stored: it is
// `base - sum(holders[i].count)`; an acquire bumps the caller's count, a release lowers one
// count (or bumps `base` when nobody holds a permit), a reclaim zeroes a dead holder's count.
struct SemaphoreState {
  RobustMutex mu;
  std::int64_t base;
  std::uint32_t bound;      // 0: unbounded
  std::uint32_t reclaimed;  // permits put back from dead holders, not yet handed out
  std::atomic<std::uint32_t> seq;      // futex word: bumped on every release
  std::atomic<std::uint32_t> waiters;  // sleepers (may over-count after a waiter's death)
  SemaphoreHolding holders[kHoldersMax];
};

class CountingSemaphore {
 public:
  CountingSemaphore() noexcept = default;
  CountingSemaphore(std::uint32_t initial, bool bounded);

  /// Takes a permit; `blocking = false`: only if one is free now. `recovered` is set to
  /// whether the permit came back from a dead holder.
  bool acquire(bool blocking, Deadline deadline, bool& recovered);
  /// Returns `n` permits; ValueError when bounded and that would exceed the initial value.
  void release(std::uint32_t n);
  [[nodiscard]] std::uint32_t value() const;
  /// Looks for dead holders now; returns how many permits were put back.
  std::uint32_t reclaim_dead();

  SharedBlock& block() noexcept { return block_; }

 private:
  SemaphoreState* state() const noexcept { return block_.as<SemaphoreState>(); }
  void lock_state() const;
  std::uint32_t reclaim_locked();
  SharedBlock block_;
};

}  // namespace kin::detail
