#include <kin/condition.hpp>
#include <kin/errors.hpp>

#include <atomic>
#include <new>

namespace kin {

namespace {
struct ConditionState {
  std::atomic<std::uint32_t> seq;
  std::atomic<std::uint32_t> waiters;
};
ConditionState* st(const detail::SharedBlock& b) {
  if (!b.valid()) throw ValueError("kin: use of a moved-from Condition");
  return b.as<ConditionState>();
}
}  // namespace

Condition::Condition(detail::OwnedLock lock)
    : lock_(std::move(lock)), block_(detail::SharedBlock::create(sizeof(ConditionState), "kin.Condition")) {
  new (block_.data()) ConditionState{};
}

Condition::Condition() : Condition(detail::OwnedLock::create(true)) {}
Condition::Condition(const Lock& lock) : Condition(detail::LockAccess::impl(lock)) {}
Condition::Condition(const RLock& lock) : Condition(detail::LockAccess::impl(lock)) {}

bool Condition::wait_until(detail::Deadline d) {
  auto* s = st(block_);
  if (!lock_.held_by_me()) throw ValueError("kin::Condition: wait() without holding the lock");
  // Read under the lock: a notify() (also under the lock) after this point changes it.
  std::uint32_t seq = s->seq.load();
  s->waiters.fetch_add(1);
  auto depth = lock_.release_all();
  bool notified = true;
  while (s->seq.load() == seq) {
    if (!detail::futex_wait(&s->seq, seq, d)) {
      notified = s->seq.load() != seq;
      break;
    }
  }
  s->waiters.fetch_sub(1);
  lock_.restore(depth);
  return notified;
}

void Condition::notify(int n) {
  auto* s = st(block_);
  if (!lock_.held_by_me()) throw ValueError("kin::Condition: notify() without holding the lock");
  if (n == 0) return;
  s->seq.fetch_add(1);
  if (s->waiters.load() > 0) detail::futex_wake(&s->seq, n);
}

}  // namespace kin
