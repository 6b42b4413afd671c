// die_at_syscall(nr): a fault at an exact point, for crash-consistency tests. From the call on,
// the kernel ends this process (SIGSYS, no handler runs, exactly like SIGKILL for the code
// under test) the moment it enters system call `nr`; the process never returns from it. Call it
// in a forked child right before the operation under test:
//
//   pid_t pid = kin::test::fork_child([&] {
//     kin::test::die_at_syscall(SYS_mremap);   // dies inside the ring's growth
//     q.put(big);
//   });
//
// Only the first entry counts (the process is gone then). Uses seccomp's
// SECCOMP_RET_KILL_PROCESS; the child also gets RLIMIT_CORE 0 so the death writes no core file.
#pragma once

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>

namespace kin::test {

inline void die_at_syscall(long nr) {
#if defined(__x86_64__)
  constexpr unsigned kArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
  constexpr unsigned kArch = AUDIT_ARCH_AARCH64;
#else
#error "die_at_syscall: add this architecture's AUDIT_ARCH value"
#endif
  rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kArch, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<unsigned>(nr), 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog prog{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
  // Without these the test would silently test nothing: fail loudly instead.
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) std::abort();
  if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) std::abort();
}

}  // namespace kin::test
