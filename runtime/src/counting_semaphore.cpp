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

namespace {
std::int64_t free_permits(const SemaphoreState* s) {
  std::int64_t held = 0;
  for (const auto& h : s->holders) held += h.count;
  return s->base - held;
}

// This process's pid and start time, read outside any critical section (it reads /proc).
struct Me {
  std::int32_t pid;
  std::uint64_t start_time;
};
Me me() {
  static thread_local Me cached{0, 0};
  auto pid = static_cast<std::int32_t>(::getpid());
  if (cached.pid != pid) cached = Me{pid, process_start_time(pid)};
  return cached;
}
}  // namespace

CountingSemaphore::CountingSemaphore(std::uint32_t initial, bool bounded) {
  block_ = SharedBlock::create(sizeof(SemaphoreState), bounded ? "kin.BoundedSemaphore" : "kin.Semaphore");
  auto* s = state();
  s->mu.init();
  s->base = initial;
  s->bound = bounded ? initial : 0;
  s->reclaimed = 0;
  new (&s->seq) std::atomic<std::uint32_t>(0);
  new (&s->waiters) std::atomic<std::uint32_t>(0);
}

void CountingSemaphore::lock_state() const {
  if (!block_.valid()) throw ValueError("kin: use of a moved-from semaphore");
  // Every change inside is a single store (see SemaphoreState), so a holder of this mutex that
  // was killed leaves a consistent state: owner_died needs no repair.
  state()->mu.lock(std::nullopt);
}

std::uint32_t CountingSemaphore::reclaim_locked() {
  auto* s = state();
  std::uint32_t back = 0;
  for (auto& h : s->holders) {
    if (h.count > 0 && process_is_dead(h.pid, h.start_time)) {
      std::uint32_t c = h.count;
      s->reclaimed += c;  // (killed between these two stores: only the report over-counts)
      h.count = 0;
      back += c;
    }
  }
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
  const Me self = me();
  bool slept_a_slice = false;
  for (;;) {
    lock_state();
    StateGuard g{s->mu};
    if (slept_a_slice && free_permits(s) <= 0) reclaim_locked();
    if (free_permits(s) > 0) {
      SemaphoreHolding* mine = nullptr;
      SemaphoreHolding* free_slot = nullptr;
      for (auto& h : s->holders) {
        if (h.count > 0 && h.pid == self.pid && h.start_time == self.start_time) {
          mine = &h;
          break;
        }
        if (free_slot == nullptr && h.count == 0) free_slot = &h;
      }
      if (mine == nullptr && free_slot != nullptr) {
        // count is still 0 here: a crash before the count store leaves the slot free.
        free_slot->pid = self.pid;
        free_slot->start_time = self.start_time;
        mine = free_slot;
      }
      if (mine != nullptr) {
        ++mine->count;  // the one store that takes the permit
      } else {
        --s->base;  // table full: an untracked permit (not reclaimable)
      }
      recovered = s->reclaimed > 0;
      if (recovered) --s->reclaimed;
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
    s->waiters.fetch_sub(1);
    s->mu.lock(std::nullopt);  // re-taken for the guard of this iteration
  }
}

void CountingSemaphore::release(std::uint32_t n) {
  if (n == 0) return;
  auto* s = state();
  const Me self = me();
  lock_state();
  StateGuard g{s->mu};
  if (s->bound != 0 && free_permits(s) + n > s->bound)
    throw ValueError("kin::BoundedSemaphore: released too many times");
  for (std::uint32_t k = 0; k < n; ++k) {
    // Return one of our own permits, else someone else's (a semaphore used as a signal), else
    // grow the count: each step one store.
    SemaphoreHolding* pick = nullptr;
    for (auto& h : s->holders) {
      if (h.count > 0 && h.pid == self.pid && h.start_time == self.start_time) {
        pick = &h;
        break;
      }
      if (pick == nullptr && h.count > 0) pick = &h;
    }
    if (pick != nullptr) {
      --pick->count;
    } else {
      ++s->base;
    }
  }
  s->seq.fetch_add(1);
  if (s->waiters.load() > 0) futex_wake(&s->seq, static_cast<int>(n));
}

std::uint32_t CountingSemaphore::value() const {
  lock_state();
  StateGuard g{state()->mu};
  auto v = free_permits(state());
  return v > 0 ? static_cast<std::uint32_t>(v) : 0;
}

}  // namespace kin::detail
