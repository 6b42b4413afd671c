// kin::Barrier — Python's Barrier(parties, action, timeout) across processes and threads.
// wait() returns the arrival index (0 .. parties-1); the last party to arrive runs `action`
// (once per round, before anyone is released). abort() breaks the barrier, reset() brings it
// back to empty (parties waiting then get BrokenBarrierError), as in Python.
//
// A party whose process is killed while waiting breaks the barrier: the other waiters check,
// every 100 ms of sleep, whether a waiting party's process is gone (dead, zombie, or pid reused),
// and then all get BrokenBarrierError. A party that dies *before* reaching wait() looks like a
// slow one: only a timeout (per wait, or the barrier's default) ends that wait — give one when
// parties may die. A party killed inside the barrier's own critical section breaks it at once
// (robust mutex). Up to 64 waiting processes are watched. The action travels with
// fork children (copies) and threads; a spawn/forkserver child receives the barrier without it,
// so make sure the last arrival is a process that knows the action, or use none.
#pragma once

#include <kin/errors.hpp>

#include <kin/runtime/futex.hpp>
#include <kin/runtime/shared_block.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

namespace kin {

class Barrier {
 public:
  /// An empty handle (to assign to or decode into); using it throws ValueError.
  Barrier() = default;
  explicit Barrier(std::uint32_t parties, std::function<void()> action = {},
                   std::optional<std::chrono::nanoseconds> timeout = std::nullopt);
  template <class Rep, class Period>
  Barrier(std::uint32_t parties, std::function<void()> action, std::chrono::duration<Rep, Period> timeout)
      : Barrier(parties, std::move(action),
                std::optional<std::chrono::nanoseconds>(std::chrono::ceil<std::chrono::nanoseconds>(timeout))) {}

  /// Waits for all parties (or the default timeout); returns this party's arrival index.
  /// Throws BrokenBarrierError when the barrier is or becomes broken (abort, reset, timeout).
  std::uint32_t wait();
  template <class Rep, class Period>
  std::uint32_t wait(std::chrono::duration<Rep, Period> timeout) {
    return wait_until(detail::deadline_after(timeout));
  }
  void abort();
  void reset();
  [[nodiscard]] std::uint32_t parties() const;
  [[nodiscard]] std::uint32_t n_waiting() const;
  [[nodiscard]] bool broken() const;

  template <class Inspector>
  friend void inspect(Inspector& f, Barrier& x) {
    std::int64_t timeout_ns = x.timeout_ ? x.timeout_->count() : -1;
    f(timeout_ns);
    detail::inspect_block(f, x.block_);
    if constexpr (Inspector::writes_state) {
      x.timeout_ = timeout_ns < 0 ? std::nullopt : std::optional(std::chrono::nanoseconds(timeout_ns));
      x.action_.reset();
    }
  }

 private:
  std::uint32_t wait_until(detail::Deadline d);
  detail::SharedBlock block_;
  std::shared_ptr<std::function<void()>> action_;
  std::optional<std::chrono::nanoseconds> timeout_;
};

}  // namespace kin
