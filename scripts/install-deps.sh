#!/usr/bin/env bash
# Installs the Debian packages kin needs to build, test, fuzz and benchmark, and nothing else.
# Quiet and quick when everything is present (every `make` target runs it first); touches apt
# only when a package is missing, and only then runs `apt-get update`.
#
#   libcaf-dev            CAF 0.17.6 (core, io, openssl): the actor substrate
#   libboost-dev          Boost.Asio (event loop), Boost.Interprocess (a bench peer)
#   googletest libgtest-dev, libbenchmark-dev
#   libssl-dev            HMAC for authkeys, TLS through libcaf-openssl
#   cmake ninja-build make g++ gcc
#   clang libclang-rt-14-dev   libFuzzer and the sanitizer runtimes for clang (make fuzz)
#   python3               the Python peers of `make bench`
#   libcli11-dev          the `kin` command's argument parsing (cli/)
#   libtomlplusplus-dev   `kin supervise`'s services.toml (services/)
#   nlohmann-json3-dev    `kin ctl status --json` and the dashboard's /api (services/)
#   chromium chromium-driver   the dashboard's browser test (headless, driven over WebDriver)
set -euo pipefail

PACKAGES=(
  libcaf-dev libboost-dev googletest libgtest-dev libbenchmark-dev libssl-dev
  cmake ninja-build make g++ gcc clang libclang-rt-14-dev python3 libcli11-dev
  libtomlplusplus-dev nlohmann-json3-dev chromium chromium-driver
)
# `install-deps.sh bench` (make bench) adds supervisor and s6: the OS supervisors that
# ../shared/bench-peers/supervisor_restart.sh measures kin's supervisor against.
if [[ "${1:-}" == bench ]]; then PACKAGES+=(supervisor s6); fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
as_root=()
if [[ $(id -u) -ne 0 ]]; then
  if ! command -v sudo >/dev/null; then
    echo "install-deps: not root and no sudo; install as root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  as_root=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done" >&2
