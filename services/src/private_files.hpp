// The files of a supervisor only its user may touch: its runtime directory (0700) and the
// control socket's key file (0600). Anyone who could write the directory could replace the
// socket; anyone who could read the key could command the services.
#pragma once

#include <string>

namespace kin::services::detail {

/// Creates `dir` (and its parents) if missing, a new one 0700. OSError(EACCES/ENOTDIR) when it
/// is a symlink or not a directory, belongs to another user, or others can write it.
void make_private_dir(const std::string& dir);
/// The key in `path`, made (32 random bytes as hex, 0600) when missing. OSError(EACCES) when
/// the file belongs to another user or others can read it, or it is empty.
std::string read_or_make_key(const std::string& path);

}  // namespace kin::services::detail
