// How a kin::Process starts its child, as in Python's multiprocessing:
//   fork       — fork the caller: any callable and captures; unsafe with other threads running
//                (kin warns once per process, like Python 3.12);
//   spawn      — fork+exec of this executable: a fresh image; the target must be a function
//                pointer (or KIN_ENTRY name) and its arguments serializable;
//   forkserver — a single-threaded server process forks the children (same rules as spawn).
#pragma once

namespace kin {

enum class StartMethod { fork, forkserver, spawn };

/// The method Process::start() uses when none was chosen by a Context (default: fork).
void set_start_method(StartMethod m);
[[nodiscard]] StartMethod get_start_method();
/// "fork", "forkserver" or "spawn".
[[nodiscard]] const char* to_string(StartMethod m) noexcept;

}  // namespace kin
