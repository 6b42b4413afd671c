// Fds and processes that belong to kin's runtime itself (the forkserver zygote, its socket,
// the event loop's epoll/eventfd ...). They live as long as the program, so the test fixture
// that fails a test for a leaked fd or an unreaped child skips them.
#pragma once

#include <sys/types.h>

#include <vector>

namespace kin::detail {

void note_runtime_fd(int fd);
void forget_runtime_fd(int fd);
void note_runtime_pid(pid_t pid);
void forget_runtime_pid(pid_t pid);
[[nodiscard]] std::vector<int> runtime_fds();
[[nodiscard]] std::vector<pid_t> runtime_pids();

}  // namespace kin::detail
