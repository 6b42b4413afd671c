#include <kin/barrier.hpp>
#include <kin/errors.hpp>
#include <kin/runtime/robust_mutex.hpp>

#include <atomic>
#include <new>

namespace kin {

namespace {
struct BarrierState {
  detail::RobustMutex mu;
  std::uint32_t parties;
  std::uint32_t count;        // parties inside wait() in this round
  std::uint64_t generation;   // bumped when a round completes or is reset
  std::uint64_t reset_round;  // generation + 1 of a round ended by reset() (0: none)
  std::uint32_t is_broken;
  std::atomic<std::uint32_t> seq;  // futex word: bumped on every state change
};

BarrierState* st(const detail::SharedBlock& b) {
  if (!b.valid()) throw ValueError("kin: use of a moved-from Barrier");
  return b.as<BarrierState>();
}

void wake_all(BarrierState* s) {
  s->seq.fetch_add(1);
  detail::futex_wake(&s->seq, -1);
}

void break_locked(BarrierState* s) {
  s->is_broken = 1;
  wake_all(s);
}

// Holds the state mutex; a party that died inside the critical section breaks the barrier.
struct Guard {
  BarrierState* s;
  explicit Guard(BarrierState* st) : s(st) {
    if (s->mu.lock(std::nullopt) == detail::LockResult::owner_died) break_locked(s);
  }
  ~Guard() { s->mu.unlock(); }
};
}  // namespace

Barrier::Barrier(std::uint32_t parties, std::function<void()> action,
                 std::optional<std::chrono::nanoseconds> timeout)
    : timeout_(timeout) {
  if (parties == 0) throw ValueError("kin::Barrier: parties must be > 0");
  block_ = detail::SharedBlock::create(sizeof(BarrierState), "kin.Barrier");
  auto* s = new (block_.data()) BarrierState{};
  s->mu.init();
  s->parties = parties;
  if (action) action_ = std::make_shared<std::function<void()>>(std::move(action));
}

std::uint32_t Barrier::wait() {
  return wait_until(timeout_ ? detail::deadline_after(*timeout_) : detail::Deadline{});
}

std::uint32_t Barrier::wait_until(detail::Deadline d) {
  auto* s = st(block_);
  Guard g{s};
  if (s->is_broken) throw BrokenBarrierError("kin::Barrier: the barrier is broken");
  std::uint32_t index = s->count++;
  if (s->count == s->parties) {
    if (action_ && *action_) {
      try {
        (*action_)();
      } catch (...) {
        --s->count;
        break_locked(s);
        throw;
      }
    }
    s->count = 0;
    ++s->generation;
    wake_all(s);
    return index;
  }
  const std::uint64_t round = s->generation;
  for (;;) {
    std::uint32_t seq = s->seq.load();
    s->mu.unlock();
    bool in_time = detail::futex_wait(&s->seq, seq, d);
    if (s->mu.lock(std::nullopt) == detail::LockResult::owner_died) break_locked(s);
    if (s->generation != round) {
      if (s->reset_round == round + 1) throw BrokenBarrierError("kin::Barrier: reset while waiting");
      return index;
    }
    if (s->is_broken) {
      --s->count;
      throw BrokenBarrierError("kin::Barrier: the barrier is broken");
    }
    if (!in_time || (d && std::chrono::steady_clock::now() >= *d)) {
      --s->count;
      break_locked(s);
      throw BrokenBarrierError("kin::Barrier: timed out waiting for the other parties");
    }
  }
}

void Barrier::abort() {
  auto* s = st(block_);
  Guard g{s};
  break_locked(s);
}

void Barrier::reset() {
  auto* s = st(block_);
  Guard g{s};
  if (s->count > 0) s->reset_round = s->generation + 1;
  ++s->generation;
  s->count = 0;
  s->is_broken = 0;
  wake_all(s);
}

std::uint32_t Barrier::parties() const { return st(block_)->parties; }

std::uint32_t Barrier::n_waiting() const {
  auto* s = st(block_);
  Guard g{s};
  return s->is_broken ? 0 : s->count;
}

bool Barrier::broken() const {
  auto* s = st(block_);
  Guard g{s};
  return s->is_broken != 0;
}

}  // namespace kin
