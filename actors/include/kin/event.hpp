// kin::Event — Python's Event across processes and threads: a flag in shared memory that
// waiters sleep on (a futex on the flag word itself). set() wakes every waiter; clear() resets.
// Nothing is ever held, so a dying process cannot wedge an Event.
#pragma once

#include <kin/errors.hpp>

#include <kin/runtime/futex.hpp>
#include <kin/runtime/shared_block.hpp>

#include <chrono>

namespace kin {

class Event {
 public:
  Event();

  void set();
  void clear();
  [[nodiscard]] bool is_set() const noexcept;
  /// Blocks until the flag is set.
  void wait() { wait_until(std::nullopt); }
  /// Waits at most `timeout`; returns the flag (false: timed out).
  template <class Rep, class Period>
  bool wait(std::chrono::duration<Rep, Period> timeout) {
    return wait_until(detail::deadline_after(timeout));
  }

  template <class Inspector>
  friend void inspect(Inspector& f, Event& x) {
    detail::inspect_block(f, x.block_);
  }

 private:
  bool wait_until(detail::Deadline d);
  detail::SharedBlock block_;
};

}  // namespace kin
