#include <kin/runtime/counting_semaphore.hpp>
#include <kin/errors.hpp>

#include <unistd.h>

#include <algorithm>
#include <new>

namespace kin::detail {

namespace {
constexpr auto kSlice = std::chrono::milliseconds(100);

struct StateGuard {
  RobustMutex& mu;
  ~StateGuard() { mu.unlock(); }
};
}  // namespace

CountingSemaphore::CountingSemaphore(std::uint32_t initial, bool bounded) {
  block_ = SharedBlock::create(sizeof(SemaphoreState), bounded ? "kin.BoundedSemaphore" : "kin.Semaphore");
  auto* s = state();
  s->mu.init();
  s->value = initial;
  s->bound = bounded ? initial : 0;
  s->reclaimed = 0;
  new (&s->seq) std::atomic<std::uint32_t>(0);
  new (&s->waiters) std::atomic<std::uint32_t>(0);
}

void CountingSemaphore::lock_state() const {
  if (!block_.valid()) throw ValueError("kin: use of a moved-from semaphore");
  // A process killed inside these few-instruction critical sections leaves at worst a holding
  // count off by one; the state stays usable, so owner_died needs no repair here.
  state()->mu.lock(std::nullopt);
}

std::uint32_t CountingSemaphore::reclaim_locked() {
  auto* s = state();
  std::uint32_t back = 0;
  for (auto& h : s->holders) {
    if (h.pid != 0 && h.count > 0 && process_is_dead(h.pid, h.start_time)) {
      back += h.count;
      h = SemaphoreHolding{};
    }
  }
  s->value += back;
  s->reclaimed += back;
  return back;
}

std::uint32_t CountingSemaphore::reclaim_dead() {
  lock_state();
  StateGuard g{state()->mu};
  auto back = reclaim_locked();
  if (back > 0) {
    state()->seq.fetch_add(1);
    futex_wake(&state()->seq, static_cast<int>(back));
  }
  return back;
}

bool CountingSemaphore::acquire(bool blocking, Deadline deadline, bool& recovered) {
  auto* s = state();
  const auto me = static_cast<std::int32_t>(::getpid());
  bool slept_a_slice = false;
  for (;;) {
    lock_state();
    StateGuard g{s->mu};
    if (s->value == 0 && slept_a_slice) reclaim_locked();
    if (s->value > 0) {
      --s->value;
      recovered = s->reclaimed > 0;
      if (recovered) --s->reclaimed;
      SemaphoreHolding* free_slot = nullptr;
      SemaphoreHolding* mine = nullptr;
      for (auto& h : s->holders) {
        if (h.pid == me) {
          mine = &h;
          break;
        }
        if (free_slot == nullptr && (h.pid == 0 || h.count == 0)) free_slot = &h;
      }
      if (mine == nullptr && free_slot != nullptr) {
        *free_slot = SemaphoreHolding{me, 0, process_start_time(me)};
        mine = free_slot;
      }
      if (mine != nullptr) ++mine->count;
      return true;
    }
    if (!blocking) return false;
    auto now = std::chrono::steady_clock::now();
    if (deadline && now >= *deadline) return false;
    std::uint32_t seq = s->seq.load();
    s->waiters.fetch_add(1);
    s->mu.unlock();
    auto slice_end = now + kSlice;
    Deadline d = deadline && *deadline < slice_end ? *deadline : slice_end;
    bool woken = futex_wait(&s->seq, seq, d);
    slept_a_slice = !woken;
    s->mu.lock(std::nullopt);  // re-taken for the guard of this iteration
    s->waiters.fetch_sub(1);
  }
}

void CountingSemaphore::release(std::uint32_t n) {
  if (n == 0) return;
  auto* s = state();
  lock_state();
  StateGuard g{s->mu};
  if (s->bound != 0 && s->value + n > s->bound)
    throw ValueError("kin::BoundedSemaphore: released too many times");
  const auto me = static_cast<std::int32_t>(::getpid());
  std::uint32_t left = n;
  for (auto& h : s->holders) {
    if (h.pid == me && h.count > 0) {
      auto k = std::min(left, h.count);
      h.count -= k;
      left -= k;
    }
  }
  for (auto& h : s->holders) {
    if (left == 0) break;
    if (h.count > 0) {
      auto k = std::min(left, h.count);
      h.count -= k;
      left -= k;
    }
  }
  s->value += n;
  s->seq.fetch_add(1);
  if (s->waiters.load() > 0) futex_wake(&s->seq, static_cast<int>(n));
}

std::uint32_t CountingSemaphore::value() const {
  lock_state();
  StateGuard g{state()->mu};
  return state()->value;
}

}  // namespace kin::detail
