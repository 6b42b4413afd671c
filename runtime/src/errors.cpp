#include <kin/errors.hpp>

#include <cstdio>
#include <cstring>
#include <utility>

namespace kin {

// errno 0 means "no system error code" (e.g. getaddrinfo's own codes): the message stands
// alone rather than ending in strerror(0)'s misleading ": Success".
OSError::OSError(int err, const std::string& what)
    : Error(err == 0 ? what : what + ": " + std::strerror(err)), errno_(err) {}

RemoteError::RemoteError(std::string type_name, std::string message, pid_t pid)
    : Error(type_name + " in process " + std::to_string(pid) + ": " + message),
      type_name_(std::move(type_name)),
      message_(std::move(message)),
      pid_(pid) {}

WorkerLost::WorkerLost(pid_t pid, ExitStatus status)
    : WorkerLost(pid, status,
                 std::string("pool worker ").append(std::to_string(pid)).append(" died (")
                     .append(status.str()).append(") while running the task")) {}

WorkerLost::WorkerLost(pid_t pid, ExitStatus status, const std::string& what)
    : Error(what), pid_(pid), status_(status) {}

namespace {
// Python's str() of the argv list: "Command '['sleep', '10']' ".
std::string command_prefix(const std::vector<std::string>& cmd) {
  std::string args;
  for (const auto& a : cmd) args += (args.empty() ? "'" : ", '") + a + "'";
  return "Command '[" + args + "]' ";
}

std::string called_process_message(int rc, const std::vector<std::string>& cmd) {
  std::string what = command_prefix(cmd);
  if (rc < 0) return what + "died with signal " + std::to_string(-rc) + ".";
  return what + "returned non-zero exit status " + std::to_string(rc) + ".";
}
std::string timeout_message(const std::vector<std::string>& cmd, std::chrono::nanoseconds timeout) {
  char secs[32];
  std::snprintf(secs, sizeof secs, "%g", std::chrono::duration<double>(timeout).count());
  return command_prefix(cmd) + "timed out after " + secs + " seconds";
}
}  // namespace

TimeoutExpired::TimeoutExpired(std::vector<std::string> cmd, std::chrono::nanoseconds timeout,
                               std::string output, std::string stderr_output)
    : TimeoutError(timeout_message(cmd, timeout)),
      cmd_(std::move(cmd)),
      timeout_(timeout),
      output_(std::move(output)),
      stderr_(std::move(stderr_output)) {}

CalledProcessError::CalledProcessError(int returncode, std::vector<std::string> cmd,
                                       std::string output, std::string stderr_output)
    : ProcessError(called_process_message(returncode, cmd)),
      returncode_(returncode),
      cmd_(std::move(cmd)),
      output_(std::move(output)),
      stderr_(std::move(stderr_output)) {}

}  // namespace kin
