#include <kin/barrier.hpp>
#include <kin/errors.hpp>
#include <kin/runtime/code_address.hpp>
#include <kin/runtime/entry_registry.hpp>
#include <kin/runtime/process_table.hpp>
#include <kin/runtime/robust_mutex.hpp>

#include <unistd.h>

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
  // Processes with a party waiting now, so that a waiter can notice a party that was killed
  // while waiting and break the barrier.
  detail::ProcessTable<64> waiting;
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
[[nodiscard]] detail::RobustLock lock_state(BarrierState* s) {
  detail::RobustLock g{s->mu};
  if (g.owner_died()) break_locked(s);
  return g;
}
}  // namespace

namespace detail {

BarrierActionRef barrier_action_ref(BarrierAction fn, bool has_closure) {
  if (fn == nullptr) {
    if (has_closure)
      throw StartMethodError(
          "kin::Barrier: its action is a closure, which cannot reach another program image (spawn, "
          "forkserver, a channel); give a plain function or a KIN_ENTRY function, or use "
          "StartMethod::fork");
    return {};
  }
  const auto addr = reinterpret_cast<std::uintptr_t>(fn);
  if (auto name = entry_name_of(addr)) return {2, *name, 0};
  auto ref = code_ref_of(reinterpret_cast<const void*>(fn));
  return {1, std::move(ref.object), ref.offset};
}

BarrierAction barrier_action_from(const BarrierActionRef& ref) {
  switch (ref.kind) {
    case 0: return nullptr;
    case 1: return reinterpret_cast<BarrierAction>(resolve_code_ref({ref.name, ref.offset}));
    case 2:
      if (auto fn = entry_named(ref.name)) return reinterpret_cast<BarrierAction>(*fn);
      throw ProtocolError("kin::Barrier: no KIN_ENTRY named " + ref.name + " in this program");
  }
  throw ProtocolError("kin::Barrier: bad action reference");
}

}  // namespace detail

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
  auto g = lock_state(s);
  if (s->is_broken) throw BrokenBarrierError("kin::Barrier: the barrier is broken");
  std::uint32_t index = s->count++;
  if (s->count == s->parties) {
    if (action_fn_ != nullptr || (action_ && *action_)) {
      try {
        if (action_fn_ != nullptr)
          action_fn_();
        else
          (*action_)();
      } catch (...) {
        --s->count;
        break_locked(s);
        throw;
      }
    }
    s->count = 0;
    ++s->generation;
    s->waiting.clear();
    wake_all(s);
    return index;
  }
  const std::uint64_t round = s->generation;
  const auto me = static_cast<std::int32_t>(::getpid());
  s->waiting.enter(me);
  for (;;) {
    std::uint32_t seq = s->seq.load();
    g.unlock();
    bool woken = detail::futex_wait(&s->seq, seq, detail::death_check_slice(d));
    if (g.lock() == detail::LockResult::owner_died) break_locked(s);
    if (s->generation != round) {
      // Completed or reset: the waiter table was for that round only.
      if (s->reset_round == round + 1) throw BrokenBarrierError("kin::Barrier: reset while waiting");
      return index;
    }
    if (s->is_broken) {
      --s->count;
      s->waiting.leave(me);
      throw BrokenBarrierError("kin::Barrier: the barrier is broken");
    }
    bool timed_out = d && std::chrono::steady_clock::now() >= *d;
    if (timed_out || (!woken && s->waiting.forget_dead())) {
      --s->count;
      s->waiting.leave(me);
      break_locked(s);
      throw BrokenBarrierError(timed_out ? "kin::Barrier: timed out waiting for the other parties"
                                         : "kin::Barrier: a waiting party's process died");
    }
  }
}

void Barrier::abort() {
  auto* s = st(block_);
  auto g = lock_state(s);
  break_locked(s);
}

void Barrier::reset() {
  auto* s = st(block_);
  auto g = lock_state(s);
  if (s->count > 0) s->reset_round = s->generation + 1;
  ++s->generation;
  s->count = 0;
  s->is_broken = 0;
  s->waiting.clear();
  wake_all(s);
}

std::uint32_t Barrier::parties() const { return st(block_)->parties; }

std::uint32_t Barrier::n_waiting() const {
  auto* s = st(block_);
  auto g = lock_state(s);
  return s->is_broken ? 0 : s->count;
}

bool Barrier::broken() const {
  auto* s = st(block_);
  auto g = lock_state(s);
  return s->is_broken != 0;
}

}  // namespace kin
