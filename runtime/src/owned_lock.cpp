#include <kin/runtime/owned_lock.hpp>
#include <kin/errors.hpp>

#include <new>
#include <thread>

namespace kin::detail {

OwnedLock OwnedLock::create(bool recursive) {
  auto block = SharedBlock::create(sizeof(OwnedLockState), recursive ? "kin.RLock" : "kin.Lock");
  init_state(block.as<OwnedLockState>());
  return OwnedLock{std::move(block), recursive};
}

void OwnedLock::init_state(OwnedLockState* s) {
  s->mu.init();
  new (&s->owner) std::atomic<std::int32_t>(0);
  s->count = 0;
  new (&s->recovered) std::atomic<std::uint32_t>(0);
}

bool OwnedLock::acquire(bool blocking, Deadline deadline) {
  if (!valid()) throw ValueError("kin: use of a moved-from lock");
  auto* s = state();
  const std::int32_t me = this_tid();
  if (s->owner.load(std::memory_order_relaxed) == me) {
    if (recursive_) {
      ++s->count;
      return true;
    }
    if (blocking && !deadline) throw ValueError("kin::Lock: acquire() by the thread that already holds it would deadlock (use kin::RLock)");
    // Python: a timed or non-blocking re-acquire of a held Lock simply fails.
    if (deadline) std::this_thread::sleep_until(*deadline);
    return false;
  }
  LockResult r = blocking ? s->mu.lock(deadline) : s->mu.try_lock();
  if (r == LockResult::timeout) return false;
  s->owner.store(me, std::memory_order_relaxed);
  s->count = 1;
  s->recovered.store(r == LockResult::owner_died ? 1 : 0, std::memory_order_relaxed);
  return true;
}

void OwnedLock::release() {
  if (!valid()) throw ValueError("kin: use of a moved-from lock");
  auto* s = state();
  if (s->owner.load(std::memory_order_relaxed) != this_tid())
    throw ValueError(recursive_ ? "kin::RLock: release() of a lock this thread does not hold"
                                : "kin::Lock: release() of a lock this thread does not hold");
  if (--s->count > 0) return;
  s->owner.store(0, std::memory_order_relaxed);
  if (!s->mu.unlock()) throw ValueError("kin: release() of a lock this thread does not hold");
}

bool OwnedLock::held_by_me() const noexcept {
  return valid() && state()->owner.load(std::memory_order_relaxed) == this_tid();
}

bool OwnedLock::locked() const noexcept {
  return valid() && state()->owner.load(std::memory_order_relaxed) != 0;
}

bool OwnedLock::previous_owner_died() const noexcept {
  return valid() && state()->recovered.load(std::memory_order_relaxed) != 0;
}

std::uint32_t OwnedLock::release_all() {
  auto* s = state();
  if (!held_by_me()) throw ValueError("kin::Condition: wait() without holding its lock");
  std::uint32_t depth = s->count;
  s->count = 0;
  s->owner.store(0, std::memory_order_relaxed);
  s->mu.unlock();
  return depth;
}

void OwnedLock::restore(std::uint32_t depth) {
  auto* s = state();
  LockResult r = s->mu.lock(std::nullopt);
  s->owner.store(this_tid(), std::memory_order_relaxed);
  s->count = depth;
  s->recovered.store(r == LockResult::owner_died ? 1 : 0, std::memory_order_relaxed);
}

}  // namespace kin::detail
