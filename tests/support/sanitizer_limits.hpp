// What a sanitizer build cannot check, said once for every test that has to allow for it.
//
//   if (kin::testing::asan && GetParam() == kin::StartMethod::fork)
//     GTEST_SKIP() << kin::testing::asan_fork_reason;
//   kin::set_start_method(kin::testing::threaded_fork_method());
//
// GCC 12's AddressSanitizer (Debian 12's libasan8) has no fork handler for its allocator: a
// child forked while another thread of the parent holds one of the allocator's size-class locks
// waits for that lock forever at its first malloc (google/sanitizers#1814; LLVM's runtime gained
// the handler in release 17). glibc's malloc locks its arenas around fork, so the Release build,
// which every test also runs in, does not have this hazard. Under ASan, tests that fork from a
// process whose actor system is busy use the forkserver instead, which forks from its own
// single thread; the few that need fork itself (closures) are skipped there, not weakened.
// ASan also keeps freed memory in a quarantine (256 MiB by default), so resident-memory
// ceilings are checked only in builds without it.
#pragma once

#include <kin/start_method.hpp>

namespace kin::testing {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool asan = true;
#else
inline constexpr bool asan = false;
#endif

inline constexpr const char* asan_fork_reason =
    "GCC 12's ASan allocator has no fork handler: a fork beside busy threads can deadlock the "
    "child (the Release run covers this test)";

/// fork, except under ASan, where the forkserver forks from a thread with no allocator locks.
inline kin::StartMethod threaded_fork_method() {
  return asan ? kin::StartMethod::forkserver : kin::StartMethod::fork;
}

}  // namespace kin::testing
