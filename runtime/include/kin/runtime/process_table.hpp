// ProcessTable: which processes are inside a shared object now (waiting in it, or holding a
// share of it), kept in the object's own shared memory, so that any other process can tell
// when one of them died there — SIGKILLed, a zombie, or its pid reused by another process
// (each entry keeps its process's start time). Nothing tells a process that another died in
// a futex wait, so the survivors ask: they sleep at most kDeathCheckSlice at a time and, after
// a slice that nobody woke them from, look for a dead entry. kin::Barrier keeps its waiting
// parties here and breaks when one is killed.
//
//   ProcessTable<64> waiting;                  // zero-filled memory is an empty table
//   waiting.enter(getpid());                   // under the object's lock, before sleeping
//   futex_wait(&seq, seen, death_check_slice(deadline));
//   if (!woken && waiting.forget_dead()) ...;  // a process died in there
//   waiting.leave(getpid());
//
// The table has no lock of its own: every call is made under the owning object's robust
// mutex, so a process killed in the middle of a change is reported to the next locker
// (owner_died), and the object decides what that means (a Barrier breaks). Processes beyond
// the first N inside are not watched: their deaths go unnoticed, and only a timeout ends a wait
// for them.
//
// process_is_dead and process_start_time are the one liveness test of the code base (also used
// by the shared-memory registry to reclaim a dead creator's segments).
#pragma once

#include <kin/runtime/deadline.hpp>
#include <kin/runtime/futex.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace kin::detail {

/// True when `pid` no longer runs: gone, a zombie, or reused by a process that started at a
/// different time than `start_time` (0 = don't check).
bool process_is_dead(std::int32_t pid, std::uint64_t start_time = 0);
/// Field 22 of /proc/<pid>/stat (start time in clock ticks since boot); 0 if unknown.
std::uint64_t process_start_time(std::int32_t pid);

/// How long a sleeper waits before it checks whether a process it waits on died.
inline constexpr std::chrono::milliseconds kDeathCheckSlice{100};

/// The end of the next sleep: `deadline`, or one slice from now if that comes first.
inline Deadline death_check_slice(Deadline deadline) {
  return earliest(deadline, Deadline::at(std::chrono::steady_clock::now() + kDeathCheckSlice));
}

template <std::size_t N>
struct ProcessTable {
  struct Entry {
    std::int32_t pid;
    std::uint32_t n;  // how many of its threads are inside (0: a free entry)
    std::uint64_t start_time;
  };
  Entry entries[N];

  /// One more thread of process `pid` is inside.
  void enter(std::int32_t pid) {
    if (Entry* e = find(pid)) {
      ++e->n;
      return;
    }
    for (auto& e : entries) {
      if (e.n == 0) {
        e = Entry{pid, 1, process_start_time(pid)};
        return;
      }
    }
  }
  /// One thread of process `pid` left.
  void leave(std::int32_t pid) noexcept {
    if (Entry* e = find(pid)) --e->n;
  }
  /// True when a process inside has died; its entry is dropped (so each death is told once).
  bool forget_dead() {
    for (auto& e : entries) {
      if (e.n > 0 && process_is_dead(e.pid, e.start_time)) {
        e = Entry{};
        return true;
      }
    }
    return false;
  }
  void clear() noexcept {
    for (auto& e : entries) e = Entry{};
  }

 private:
  Entry* find(std::int32_t pid) noexcept {
    for (auto& e : entries)
      if (e.pid == pid && e.n > 0) return &e;
    return nullptr;
  }
};

}  // namespace kin::detail
