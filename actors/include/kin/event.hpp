// kin::Event — Python's Event across processes and threads: a flag in shared memory, and a
// generation word that waiters sleep on (a futex). set() raises the flag and wakes every
// waiter; clear() lowers it. As in Python, every waiter present at set() returns true, even
// when clear() follows at once:
//
//   kin::Event go;                      // hand it to kin::Process / kin::Thread children
//   go.wait();                          // in each child
//   go.set(); go.clear();               // in the parent: every child above is released
//
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
