// The `kin node` subcommand (cli/src/node.cpp): a kin::Node serving until SIGTERM.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace kin::cli {

/// Adds `node` to `app`; the returned function runs it when it was parsed (its exit status),
/// else returns -1.
std::function<int()> add_node(CLI::App& app);

}  // namespace kin::cli
