// Process-wide facts and naming shared by the sources of actors/ (private): who this process
// is, how its children are named and numbered, how a kin child ends.
#pragma once

#include <kin/process_info.hpp>
#include <kin/start_method.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace kin::detail {

struct ProcessGlobals {
  ProcessInfo current{"MainProcess", 0, false, {}};  // authkey: made by current_authkey()
  std::optional<ProcessInfo> parent;
  bool in_kin_child = false;           // this process runs a Process target
  std::vector<std::string> argv;       // as given to kin::init (spawn re-executes with it)
};

ProcessGlobals& process_globals();
/// This process's authkey (current_process().authkey), made on first use in the first process.
const std::string& current_authkey();

/// A C++ type name as written in source (the ABI's demangler; the mangled name if it fails).
std::string demangle(const char* mangled);
/// The demangled type of the exception being handled ("unknown exception" outside a catch).
std::string current_exception_type();

/// Thrown by kin::exit in a kin child to unwind to the child's entry (not a std::exception,
/// so `catch (const std::exception&)` in user code does not swallow it).
struct ExitRequest {
  int code;
};

/// Terminates daemon children and joins the others (Python's _exit_function). Runs at normal
/// exit of the program and when a kin child's target returns.
void finish_children();

/// The N of Python's default process names ("Process-N", "ForkPoolWorker-N"): one counter
/// for every process this program starts.
int next_process_number();

/// The N of Python's default thread names ("Thread-N"), shared with kin::Thread.
int next_thread_number();
/// Gives the calling thread (not a kin::Thread) the name and daemon flag current_thread()
/// reports, as Python's pools name their workers ("Thread-3 (worker)").
void name_current_thread(std::string name);

/// Flushes C stdio and the standard C++ streams.
void flush_std_streams();

/// Registers the atexit hook that runs finish_children() in this process (once per process).
void ensure_exit_hook();
/// In a new child (forked, spawned or from the forkserver): records who it is; a daemon leads
/// its own process group and dies with its OS parent, expected to be `os_parent`. `method` is
// how it was started: its get_start_method() from now on.
void become_child(ProcessInfo self, ProcessInfo parent, pid_t os_parent, StartMethod method);
/// Runs a child's body: its int result, kin::exit's code, or 1 after printing an uncaught
/// exception's type and message as "Process <name>:".
int run_child_body(const std::string& name, const std::function<int()>& body);
/// Finishes the child's own children, flushes, and _exits with `code`.
[[noreturn]] void leave_child(int code);

}  // namespace kin::detail
