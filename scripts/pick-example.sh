#!/usr/bin/env bash
# Usage: scripts/pick-example.sh NAME ORIGIN  (ORIGIN = make's $(origin EXAMPLE))
# Prints the example `make run` should build: NAME when examples/NAME.cpp exists. When NAME is
# only the default and that example is not written yet, falls back to the first example there is
# and says so on stderr; a name the user asked for must exist.
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1 origin=${2:-file}
if [[ -f "examples/$name.cpp" ]]; then
  echo "$name"
  exit 0
fi
shopt -s nullglob
available=(examples/*.cpp)
available=("${available[@]##*/}")
available=("${available[@]%.cpp}")
if [[ "$origin" != "file" && "$origin" != "default" ]]; then
  echo "make run: no example '$name' (examples/$name.cpp); available: ${available[*]:-none}" >&2
  exit 1
fi
if [[ ${#available[@]} -eq 0 ]]; then
  echo "make run: no examples yet (examples/*.cpp)" >&2
  exit 1
fi
echo "make run: examples/$name.cpp does not exist yet; running '${available[0]}' instead" >&2
echo "${available[0]}"
