// Process-wide facts shared by process.cpp, current_process.cpp and init.cpp (private).
#pragma once

#include <kin/process_info.hpp>

#include <optional>
#include <string>
#include <vector>

namespace kin::detail {

struct ProcessGlobals {
  ProcessInfo current{"MainProcess", 0, false};
  std::optional<ProcessInfo> parent;
  bool in_kin_child = false;           // this process runs a Process target
  std::vector<std::string> argv;       // as given to kin::init (spawn re-executes with it)
};

ProcessGlobals& process_globals();

/// Thrown by kin::exit in a kin child to unwind to the child's entry (not a std::exception,
/// so `catch (const std::exception&)` in user code does not swallow it).
struct ExitRequest {
  int code;
};

/// Terminates daemon children and joins the others (Python's _exit_function). Runs at normal
/// exit of the program and when a kin child's target returns.
void finish_children();

/// Flushes C stdio and the standard C++ streams.
void flush_std_streams();

}  // namespace kin::detail
