// Futex waits and wakes on 32-bit words in shared memory. The words live in memfd segments
// mapped by several processes, so these use the shared (not FUTEX_PRIVATE) operations: the
// kernel keys the wait queue by the page, not by this process's address.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>

namespace kin::detail {

using Deadline = std::optional<std::chrono::steady_clock::time_point>;

/// A deadline `d` from now; a negative `d` means "already due".
template <class Rep, class Period>
Deadline deadline_after(std::chrono::duration<Rep, Period> d) {
  auto now = std::chrono::steady_clock::now();
  if (d <= d.zero()) return now;
  auto max_wait = std::chrono::hours(24 * 365 * 100);
  if (d >= max_wait) return now + max_wait;
  return now + std::chrono::ceil<std::chrono::steady_clock::duration>(d);
}

/// Sleeps while `*word == expected`, until woken or `deadline` (none = forever). Returns
/// false only when the deadline passed; true for a wake-up, a changed word, a signal (callers
/// re-check their condition in a loop, so a spurious return is harmless).
bool futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected, Deadline deadline);
/// Wakes up to `n` sleepers on `word` (n < 0: all). Returns how many were woken.
int futex_wake(std::atomic<std::uint32_t>* word, int n);

/// This thread's kernel id (unique system-wide while it lives).
std::int32_t this_tid() noexcept;

/// True when `pid` no longer runs: gone, a zombie, or reused by a process that started at a
/// different time than `start_time` (0 = don't check).
bool process_is_dead(std::int32_t pid, std::uint64_t start_time = 0);
/// Field 22 of /proc/<pid>/stat (start time in clock ticks since boot); 0 if unknown.
std::uint64_t process_start_time(std::int32_t pid);

}  // namespace kin::detail
