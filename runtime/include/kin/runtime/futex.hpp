// Futex waits and wakes on 32-bit words in shared memory, and this thread's kernel id (the
// owner word of kin's futex locks). The words live in memfd segments mapped by several
// processes, so these use the shared (not FUTEX_PRIVATE) operations: the kernel keys the wait
// queue by the page, not by this process's address.
#pragma once

#include <kin/runtime/deadline.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>

namespace kin::detail {

/// A deadline `d` from now; a zero or negative `d` means "already due" (Deadline::after).
template <class Rep, class Period>
Deadline deadline_after(std::chrono::duration<Rep, Period> d) {
  return Deadline::after(d);
}

/// Sleeps while `*word == expected`, until woken or `deadline` (none = forever). Returns
/// false only when the deadline passed; true for a wake-up, a changed word, a signal (callers
/// re-check their condition in a loop, so a spurious return is harmless).
bool futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected, Deadline deadline);
/// Wakes up to `n` sleepers on `word` (n < 0: all). Returns how many were woken.
int futex_wake(std::atomic<std::uint32_t>* word, int n);

/// This thread's kernel id (unique system-wide while it lives).
std::int32_t this_tid() noexcept;

}  // namespace kin::detail
