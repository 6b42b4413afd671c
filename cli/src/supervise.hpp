// The `kin supervise` subcommand (cli/src/supervise.cpp).
#pragma once

#include <string>

namespace kin::cli {

/// Runs `file`'s services until SIGTERM/SIGINT; returns the exit status (2: a bad file).
int supervise(const std::string& file, const std::string& http);

}  // namespace kin::cli
