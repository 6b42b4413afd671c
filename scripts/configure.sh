#!/usr/bin/env bash
# Usage: scripts/configure.sh BUILD_DIR [cmake -D... arguments]
# Configures BUILD_DIR with Ninja, but only when it has never been configured or was configured
# with other arguments: switching between `make run`, `make test` and `make bench` (which share
# one directory and one set of arguments) never re-runs CMake needlessly, and Ninja itself
# re-runs CMake when a CMakeLists.txt or a globbed source list changes.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$1
shift
stamp="$dir/.kin-configure-args"
want=$(printf '%s\n' "$@")
if [[ -f "$dir/build.ninja" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
# A directory configured with another generator or compiler cannot be reconfigured in place.
if [[ -f "$dir/CMakeCache.txt" ]] && ! grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja$' "$dir/CMakeCache.txt"; then
  echo "configure: $dir was configured with another generator; remove it (make clean)" >&2
  exit 1
fi
cmake -S . -B "$dir" -G Ninja --log-level=WARNING "$@"
printf '%s\n' "$want" >"$stamp"
