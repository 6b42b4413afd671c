#include <kin/errors.hpp>

#include <cstring>
#include <utility>

namespace kin {

OSError::OSError(int err, const std::string& what)
    : Error(what + ": " + std::strerror(err)), errno_(err) {}

RemoteError::RemoteError(std::string type_name, std::string message, pid_t pid)
    : Error(type_name + " in process " + std::to_string(pid) + ": " + message),
      type_name_(std::move(type_name)),
      message_(std::move(message)),
      pid_(pid) {}

}  // namespace kin
