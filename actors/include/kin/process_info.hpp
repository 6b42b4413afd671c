// ProcessInfo: what kin::current_process(), kin::parent_process() and kin::active_children()
// report about a process — its name, pid and daemon flag (Python returns Process objects
// there; kin returns these plain values, which can be copied and compared freely).
#pragma once

#include <sys/types.h>

#include <string>

namespace kin {

struct ProcessInfo {
  std::string name;
  pid_t pid = 0;
  bool daemon = false;

  friend bool operator==(const ProcessInfo&, const ProcessInfo&) = default;
};

}  // namespace kin
