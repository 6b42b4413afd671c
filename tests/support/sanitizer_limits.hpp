// What a sanitizer build cannot check, said once for every test that has to allow for it.
//
//   if (kin::testing::fork_beside_threads_unsafe && GetParam() == kin::StartMethod::fork)
//     GTEST_SKIP() << kin::testing::fork_reason;
//   kin::set_start_method(kin::testing::threaded_fork_method());
//
// GCC 12's AddressSanitizer (Debian 12's libasan8) has no fork handler for its allocator: a
// child forked while another thread of the parent holds one of the allocator's size-class locks
// waits for that lock forever at its first malloc (google/sanitizers#1814; LLVM's runtime gained
// the handler in release 17). glibc's malloc locks its arenas around fork, so the Release build,
// which every test also runs in, does not have this hazard. Under ASan, tests that fork from a
// process whose actor system is busy use the forkserver instead, which forks from its own
// single thread; the few that need fork itself (closures) are skipped there, not weakened.
// GCC 12's ThreadSanitizer has the same limit in another form: its thread registry survives the
// fork, so a thread the child starts can get the id of a parent thread TSan still counts as
// alive ("ThreadSanitizer: dup thread with used id") and the child dies of it; those tests use
// the forkserver (or are skipped) under TSan too.
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

#if defined(__SANITIZE_THREAD__)
inline constexpr bool tsan = true;
#else
inline constexpr bool tsan = false;
#endif

/// A fork beside busy threads is what these sanitizer runtimes cannot follow.
inline constexpr bool fork_beside_threads_unsafe = asan || tsan;

inline constexpr const char* fork_reason =
    "GCC 12's ASan allocator has no fork handler (a fork beside busy threads can deadlock the "
    "child) and its TSan keeps the parent's threads registered in the child; the Release run "
    "covers this test";

/// fork, except under ASan and TSan, where the forkserver forks from a single thread.
inline kin::StartMethod threaded_fork_method() {
  return fork_beside_threads_unsafe ? kin::StartMethod::forkserver : kin::StartMethod::fork;
}

}  // namespace kin::testing
