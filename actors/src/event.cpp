#include <kin/event.hpp>
#include <kin/errors.hpp>

#include <atomic>
#include <new>

namespace kin {

namespace {
// `generation` is what waiters sleep on: set() bumps it, so a waiter that was asleep at set()
// sees a changed word and returns true even if clear() ran before it woke (Python's Event is
// a Condition: notify_all reaches every waiter present at set(), bpo-13502). Sleeping on the
// flag itself would send such a waiter back to sleep on a cleared flag, forever.
struct EventState {
  std::atomic<std::uint32_t> flag;
  std::atomic<std::uint32_t> waiters;
  std::atomic<std::uint32_t> generation;
};
EventState* st(const detail::SharedBlock& b) {
  if (!b.valid()) throw ValueError("kin: use of a moved-from Event");
  return b.as<EventState>();
}
}  // namespace

Event::Event() : block_(detail::SharedBlock::create(sizeof(EventState), "kin.Event")) {
  new (block_.data()) EventState{};
}

void Event::set() {
  auto* s = st(block_);
  s->flag.store(1);
  s->generation.fetch_add(1);
  // seq_cst: the generation bump then the waiters load pairs with the waiter's increment then
  // generation load: either set() sees the waiter and wakes it, or the waiter sees the new
  // generation and does not sleep.
  if (s->waiters.load() > 0) detail::futex_wake(&s->generation, -1);
}

void Event::clear() { st(block_)->flag.store(0); }

bool Event::is_set() const noexcept { return block_.valid() && block_.as<EventState>()->flag.load() != 0; }

bool Event::wait_until(detail::Deadline d) {
  auto* s = st(block_);
  if (s->flag.load() != 0) return true;
  s->waiters.fetch_add(1);
  const std::uint32_t gen = s->generation.load();
  bool signalled = s->flag.load() != 0;
  while (!signalled) {
    if (s->generation.load() != gen) {
      signalled = true;
      break;
    }
    if (!detail::futex_wait(&s->generation, gen, d)) break;
  }
  s->waiters.fetch_sub(1);
  // A timed-out waiter reports the flag as it is now (Python: `return self._flag` after a
  // timed-out Condition.wait); a set() it slept through still counts.
  return signalled || s->generation.load() != gen || s->flag.load() != 0;
}

}  // namespace kin
