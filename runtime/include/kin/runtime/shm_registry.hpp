// The registry that keeps named shared-memory segments (kin::SharedMemory) from outliving a
// crash. Every process that creates a segment records it in its own registry file,
// `<dir>/<pid>.<start time>.m<mount namespace>`, *before* the segment exists: shm_create()
// makes it under a temporary name that only this process could choose (listed first), then
// lists its inode, then renames it into place, so a creator killed at any instruction leaves
// only names its file lists. A file whose process is gone — dead, or its pid reused (the start
// time from /proc/<pid>/stat no longer matches) — lists segments to unlink; the inode check
// keeps a reclaimer from unlinking a newer segment that reuses the name. Reclamation happens
//   1. at the creator's normal exit (an atexit hook, like Python's resource_tracker),
//   2. when a parent reaps a child: reclaim_segments_of(pid) (the reaper calls it), and
//   3. on the next kin program's first SharedMemory use: reclaim_dead_segments() scans all.
// A program only reclaims files of its own mount namespace: one that sees another /dev/shm
// (a container, `unshare -m`) must not drop entries for segments it cannot see.
//
// The directory is $KIN_SHM_REGISTRY_DIR, else $XDG_RUNTIME_DIR/kin-shm-registry, else
// /tmp/kin-shm-registry-<euid> — never /dev/shm, so registry files are not segments. It is
// created 0700 and refused (OSError EACCES/ELOOP at SharedMemory creation; reclamation then
// does nothing) unless it is a real directory owned by this user with no access for others:
// anyone who could write there could make us unlink, or append to, any file we can. Entries
// are opened relative to the directory, never through a symlink.
//
//   unique_fd fd = shm_create("orders", 1 << 20);   // /dev/shm/orders, registered, reserved
#pragma once

#include <kin/runtime/unique_fd.hpp>

#include <sys/types.h>

#include <cstddef>
#include <string>

namespace kin::detail {

/// The prefix of generated segment names: $KIN_SHM_PREFIX, or "kin_".
std::string shm_name_prefix();
/// The registry directory (created on demand, mode 0700; OSError if it is unsafe to use).
std::string shm_registry_dir();

/// Creates /dev/shm/<name> with `size` bytes reserved (reserve_shm: OSError rather than a
/// later SIGBUS or SIGXFSZ), registered so that it is unlinked whenever this process dies,
/// at any point of the creation included. OSError(EEXIST) when the name is taken.
[[nodiscard]] unique_fd shm_create(const std::string& name, std::size_t size);
/// Records that this process created segment `name` by other means (right after it exists).
void shm_register(const std::string& name, ino_t inode);
/// Records that `name` was unlinked by this process.
void shm_unregister(const std::string& name);

/// Unlinks the segments still registered by `pid` if that process is gone; returns how many.
/// Never throws (a refused or unreadable registry reclaims nothing).
std::size_t reclaim_segments_of(pid_t pid);
/// Scans the whole registry for dead creators; returns how many segments were unlinked.
std::size_t reclaim_dead_segments();
/// Runs reclaim_dead_segments() once per process (first SharedMemory use).
void reclaim_dead_segments_once();

}  // namespace kin::detail
