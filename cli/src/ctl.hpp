// The `kin ctl` subcommand (cli/src/ctl.cpp): a client of kin supervise's control socket.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace kin::cli {

/// Adds `ctl` and its subcommands to `app`; the returned function runs the parsed command and
/// returns kin ctl's exit status (services::CtlExit).
std::function<int()> add_ctl(CLI::App& app);

}  // namespace kin::cli
