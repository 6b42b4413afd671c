// The registry that keeps named shared-memory segments (kin::SharedMemory) from outliving a
// crash. Every process that creates a segment appends `+<inode> <name>` to its own registry
// file, `<dir>/<pid>.<start time>`, and `-<name>` when it unlinks it. A file whose process is
// gone — dead, or its pid reused (the start time from /proc/<pid>/stat no longer matches) —
// lists segments to unlink; the inode check keeps a reclaimer from unlinking a newer segment
// that reuses the name. Reclamation happens
//   1. at the creator's normal exit (an atexit hook, like Python's resource_tracker),
//   2. when a parent reaps a child: reclaim_segments_of(pid) (the reaper calls it), and
//   3. on the next kin program's first SharedMemory use: reclaim_dead_segments() scans all.
// The directory is $KIN_SHM_REGISTRY_DIR, else $XDG_RUNTIME_DIR/kin-shm-registry, else
// /tmp/kin-shm-registry-<uid> — never /dev/shm, so registry files are not segments.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>

namespace kin::detail {

/// The prefix of generated segment names: $KIN_SHM_PREFIX, or "kin_".
std::string shm_name_prefix();
/// The registry directory (created on demand, mode 0700).
std::string shm_registry_dir();

/// Records that this process created segment `name` (call right after shm_open succeeded).
void shm_register(const std::string& name, ino_t inode);
/// Records that `name` was unlinked by this process.
void shm_unregister(const std::string& name);

/// Unlinks the segments still registered by `pid` if that process is gone; returns how many.
std::size_t reclaim_segments_of(pid_t pid);
/// Scans the whole registry for dead creators; returns how many segments were unlinked.
std::size_t reclaim_dead_segments();
/// Runs reclaim_dead_segments() once per process (first SharedMemory use).
void reclaim_dead_segments_once();

}  // namespace kin::detail
