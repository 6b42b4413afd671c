// Module-level functions of Python's multiprocessing about processes:
// current_process(), parent_process(), active_children(), cpu_count(), process_cpu_count(),
// and kin::exit().
#pragma once

#include <kin/process_info.hpp>

#include <optional>
#include <vector>

namespace kin {

/// This process: "MainProcess" in the program's first process, the Process's name in a child.
[[nodiscard]] ProcessInfo current_process();
/// The process that started this one, when it is a kin child (std::nullopt in the main one).
[[nodiscard]] std::optional<ProcessInfo> parent_process();
/// The kin children of this process still running; finished ones are reaped on the way.
[[nodiscard]] std::vector<ProcessInfo> active_children();
/// The number of CPUs in the system (Python's os.cpu_count()).
[[nodiscard]] int cpu_count();
/// The CPUs this process may run on — its affinity mask, as `taskset` or a container's cpuset
/// set it (Python 3.13's os.process_cpu_count()). What pools size themselves by.
[[nodiscard]] int process_cpu_count();

/// Ends the calling kin child with `code` after unwinding its stack (destructors run), like
/// Python's sys.exit in a Process. Outside a kin child it is std::exit(code).
[[noreturn]] void exit(int code);

}  // namespace kin
