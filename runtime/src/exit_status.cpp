#include <kin/exit_status.hpp>

#include <sys/wait.h>

#include <cstring>

namespace kin {

ExitStatus ExitStatus::from_wait_status(int status) {
  if (WIFSIGNALED(status)) return killed(WTERMSIG(status), WCOREDUMP(status));
  return exited(WEXITSTATUS(status));
}

ExitStatus ExitStatus::from_siginfo(int child_code, int child_status) {
  if (child_code == CLD_EXITED) return exited(child_status);
  return killed(child_status, child_code == CLD_DUMPED);
}

std::string signal_name(int sig) {
  if (const char* abbrev = ::sigabbrev_np(sig)) return std::string("SIG") + abbrev;
  return "signal " + std::to_string(sig);
}

std::string ExitStatus::str() const {
  if (signal_ == 0) return "exit " + std::to_string(code_);
  return "killed by " + signal_name(signal_) + (core_ ? " (core dumped)" : "");
}

}  // namespace kin
