// OwnedLock: the engine of kin::Lock and kin::RLock (and the lock under a Condition or a
// Value). Its state is a RobustMutex plus the owner's thread id, a recursion count and a
// "recovered" flag, all in shared memory. Ownership is per thread (kernel tid): releasing from
// a thread that does not hold it is a ValueError — the price of robustness, which needs an
// owner for the kernel to clean up after (Python's multiprocessing.Lock, a semaphore, has none).
#pragma once

#include <kin/runtime/robust_mutex.hpp>
#include <kin/runtime/shared_block.hpp>

#include <atomic>
#include <cstdint>

namespace kin::detail {

struct OwnedLockState {
  RobustMutex mu;
  std::atomic<std::int32_t> owner;  // tid of the holder, 0 when free
  std::uint32_t count;              // recursion depth (RLock), 1 for a held Lock
  std::atomic<std::uint32_t> recovered;  // 1 when the current holding came from a dead owner
};

class OwnedLock {
 public:
  OwnedLock() noexcept = default;
  /// A new lock in its own segment.
  static OwnedLock create(bool recursive);
  /// A lock whose state lives at `block` (already initialised by init_state).
  OwnedLock(SharedBlock block, bool recursive) noexcept
      : block_(std::move(block)), recursive_(recursive) {}
  static void init_state(OwnedLockState* s);

  /// Takes the lock (re-entering when recursive and held by this thread). `blocking = false`:
  /// only if free now. Returns false when not acquired in time.
  bool acquire(bool blocking, Deadline deadline);
  /// Throws ValueError when this thread does not hold it.
  void release();
  [[nodiscard]] bool held_by_me() const noexcept;
  [[nodiscard]] bool locked() const noexcept;
  [[nodiscard]] bool previous_owner_died() const noexcept;
  [[nodiscard]] bool recursive() const noexcept { return recursive_; }

  /// For Condition::wait: drops every level of the holding and returns the depth.
  std::uint32_t release_all();
  /// For Condition::wait: takes the lock back (no deadline: Python waits for it too).
  void restore(std::uint32_t depth);

  [[nodiscard]] const SharedBlock& block() const noexcept { return block_; }
  SharedBlock& block() noexcept { return block_; }
  [[nodiscard]] bool valid() const noexcept { return block_.valid(); }

 private:
  OwnedLockState* state() const noexcept { return block_.as<OwnedLockState>(); }
  SharedBlock block_;
  bool recursive_ = false;
};

}  // namespace kin::detail
