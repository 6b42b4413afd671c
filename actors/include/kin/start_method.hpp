// How a kin::Process starts its child, as in Python's multiprocessing:
//   fork       — fork the caller: any callable and captures; unsafe with other threads running
//                (kin warns once per process, like Python 3.12);
//   spawn      — fork+exec of this executable: a fresh image; the target must be a function
//                pointer (or KIN_ENTRY name) and its arguments serializable;
//   forkserver — a single-threaded server process forks the children (same rules as spawn).
//
//   kin::set_start_method("spawn");          // or kin::StartMethod::spawn; ValueError if unknown
//   for (auto& m : kin::get_all_start_methods()) std::puts(m.c_str());
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace kin {

enum class StartMethod { fork, forkserver, spawn };

/// The method Process::start() uses when none was chosen by a Context (default: fork).
void set_start_method(StartMethod m);
[[nodiscard]] StartMethod get_start_method();
/// "fork", "forkserver" or "spawn".
[[nodiscard]] const char* to_string(StartMethod m) noexcept;
/// The method named "fork", "spawn" or "forkserver"; ValueError for any other name (Python:
/// `ValueError: cannot find context for 'x'`).
[[nodiscard]] StartMethod start_method_named(std::string_view name);
/// `kin::set_start_method("spawn")`, as Python spells it; ValueError for an unknown name.
void set_start_method(std::string_view name);
/// Every method this platform supports, as Python lists them on Linux: fork, spawn, forkserver.
[[nodiscard]] std::vector<std::string> get_all_start_methods();

}  // namespace kin
