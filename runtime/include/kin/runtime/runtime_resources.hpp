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
/// In a fork child (called by the runtime's fork handler first): the lists' lock may have
/// been copied while another thread held it; the parent's runtime pids are not ours.
void runtime_resources_after_fork() noexcept;

}  // namespace kin::detail
