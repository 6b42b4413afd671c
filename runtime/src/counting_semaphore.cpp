#include <kin/runtime/counting_semaphore.hpp>
#include <kin/errors.hpp>

#include <limits>
#include <new>

namespace kin::detail {

CountingSemaphore::CountingSemaphore(std::uint32_t initial, bool bounded) {
  block_ = SharedBlock::create(sizeof(SemaphoreState), bounded ? "kin.BoundedSemaphore" : "kin.Semaphore");
  auto* s = block_.as<SemaphoreState>();
  new (&s->value) std::atomic<std::uint32_t>(initial);
  new (&s->waiters) std::atomic<std::uint32_t>(0);
  s->bound = bounded ? initial : 0;
}

SemaphoreState* CountingSemaphore::state() const {
  if (!block_.valid()) throw ValueError("kin: use of a moved-from semaphore");
  return block_.as<SemaphoreState>();
}

bool CountingSemaphore::acquire(bool blocking, Deadline deadline) {
  auto* s = state();
  for (;;) {
    std::uint32_t v = s->value.load();
    while (v > 0)
      if (s->value.compare_exchange_weak(v, v - 1)) return true;  // the one step that takes it
    if (!blocking || deadline.expired()) return false;
    s->waiters.fetch_add(1);
    // Sleeps only while the count is still 0: a release in between makes this return at once.
    futex_wait(&s->value, 0, deadline);
    s->waiters.fetch_sub(1);
  }
}

void CountingSemaphore::release(std::uint32_t n) {
  if (n == 0) return;
  auto* s = state();
  const std::uint64_t limit = s->bound != 0 ? s->bound : std::numeric_limits<std::uint32_t>::max();
  std::uint32_t v = s->value.load();
  do {
    if (std::uint64_t{v} + n > limit)
      throw ValueError(s->bound != 0 ? "kin::BoundedSemaphore: released too many times"
                                     : "kin::Semaphore: release() would pass 2^32 - 1 permits");
  } while (!s->value.compare_exchange_weak(v, v + n));
  if (s->waiters.load() > 0) futex_wake(&s->value, static_cast<int>(std::min<std::uint32_t>(n, 0x7fffffff)));
}

std::uint32_t CountingSemaphore::value() const { return state()->value.load(); }

}  // namespace kin::detail
