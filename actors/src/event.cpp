#include <kin/event.hpp>
#include <kin/errors.hpp>

#include <atomic>
#include <new>

namespace kin {

namespace {
struct EventState {
  std::atomic<std::uint32_t> flag;
  std::atomic<std::uint32_t> waiters;
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
  // seq_cst store then load pairs with the waiter's increment then load: one of them sees the
  // other, so a waiter is never left asleep on a set flag.
  if (s->waiters.load() > 0) detail::futex_wake(&s->flag, -1);
}

void Event::clear() { st(block_)->flag.store(0); }

bool Event::is_set() const noexcept { return block_.valid() && block_.as<EventState>()->flag.load() != 0; }

bool Event::wait_until(detail::Deadline d) {
  auto* s = st(block_);
  if (s->flag.load() != 0) return true;
  s->waiters.fetch_add(1);
  while (s->flag.load() == 0) {
    if (!detail::futex_wait(&s->flag, 0, d)) break;
  }
  s->waiters.fetch_sub(1);
  return s->flag.load() != 0;
}

}  // namespace kin
