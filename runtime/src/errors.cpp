#include <kin/errors.hpp>

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
std::string called_process_message(int rc, const std::vector<std::string>& cmd) {
  std::string args;
  for (const auto& a : cmd) args += (args.empty() ? "'" : ", '") + a + "'";
  std::string what = "Command '[" + args + "]' ";
  if (rc < 0) return what + "died with signal " + std::to_string(-rc) + ".";
  return what + "returned non-zero exit status " + std::to_string(rc) + ".";
}
}  // namespace

CalledProcessError::CalledProcessError(int returncode, std::vector<std::string> cmd,
                                       std::string output, std::string stderr_output)
    : ProcessError(called_process_message(returncode, cmd)),
      returncode_(returncode),
      cmd_(std::move(cmd)),
      output_(std::move(output)),
      stderr_(std::move(stderr_output)) {}

}  // namespace kin
