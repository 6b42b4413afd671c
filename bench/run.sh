#!/usr/bin/env bash
# `make bench`: runs kin's benchmark programs and the peers of ../shared/bench-peers one after
# the other in the same run, prints every figure as its raw metric line as it comes, then a
# table of each kin figure beside its peers (pairs: bench/peers.tsv; logic: bench/compare.py).
#
# Env (set by the Makefile):
#   BUILD_DIR  where kin's bench/*_bench programs were built (default build); the peers are
#              compiled into $BUILD_DIR/bench-peers, never into the peers' own directory
#   BENCH      regex selecting figures, kin's and the peers' ('' = all; see compare.py)
#   SCALE      size multiplier: KIN_BENCH_SCALE for kin, the scale argument for the peers
#   PEERS_DIR  the peer kit (default ../shared/bench-peers beside the repository)
#   PYTHON     interpreter for python_mp.py (default python3)
#   BENCH_TIMEOUT  seconds one program may run (default 900)
# The raw lines of the run are kept in $BUILD_DIR/bench-results/ (latest.txt = this run).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
BENCH=${BENCH:-}
SCALE=${SCALE:-1}
PEERS_DIR=${PEERS_DIR:-$PWD/../shared/bench-peers}
PYTHON=${PYTHON:-python3}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-900}
compare=(python3 -u bench/compare.py --bench "$BENCH")

plan=$("${compare[@]}" plan)
kin_filter=$(sed -n 's/^kin-filter //p' <<<"$plan")
mapfile -t peer_cmds < <(sed -n 's/^peer //p' <<<"$plan")

results="$BUILD_DIR/bench-results"
mkdir -p "$results"
log="$results/bench-$(date -u +%Y%m%dT%H%M%SZ).txt"
ln -sfn "$(basename "$log")" "$results/latest.txt"
failed=()

# Runs one program; its selected metric lines (and comments) go to stdout and to the log.
run() {
  local label=$1
  shift
  echo "# $label" | tee -a "$log"
  local t0=$SECONDS
  if ! timeout --kill-after=10 "$BENCH_TIMEOUT" "$@" | "${compare[@]}" filter | tee -a "$log"; then
    echo "# $label FAILED (exit status ${PIPESTATUS[0]})" | tee -a "$log" >&2
    failed+=("$label")
  fi
  echo "# $label took $((SECONDS - t0)) s" >>"$log"
}

echo "# make bench: scale $SCALE, BENCH='${BENCH}', $(nproc) cpus, kernel $(uname -r)," \
     "$(date -u +%FT%TZ)" | tee "$log"

# kin's programs: every executable bench/*_bench, each measuring only the selected figures.
shopt -s nullglob
kin_programs=()
for exe in "$BUILD_DIR"/bench/*_bench; do
  [[ -f "$exe" && -x "$exe" ]] && kin_programs+=("$exe")
done
[[ ${#kin_programs[@]} -eq 0 ]] && echo "# no kin benchmark programs in $BUILD_DIR/bench yet" | tee -a "$log"
for exe in "${kin_programs[@]}"; do
  KIN_BENCH_SCALE=$SCALE KIN_BENCH_FILTER=$kin_filter run "kin: $(basename "$exe")" "$exe"
done

# The peers: only the sub-benchmarks that print a selected figure.
if [[ ${#peer_cmds[@]} -gt 0 && ! -f "$PEERS_DIR/limits.c" ]]; then
  echo "# no peer kit at $PEERS_DIR: kin figures only" | tee -a "$log" >&2
  peer_cmds=()
fi
peer_bin="$BUILD_DIR/bench-peers"
mkdir -p "$peer_bin"
stale() {  # true when $peer_bin/$1 is missing or older than its source $2
  [[ ! -x "$peer_bin/$1" || "$2" -nt "$peer_bin/$1" ]]
}
for cmd in "${peer_cmds[@]}"; do
  case "$cmd" in
    limits:*)
      if stale limits "$PEERS_DIR/limits.c"; then
        "${CC:-gcc}" -O2 -Wall -pthread -o "$peer_bin/limits" "$PEERS_DIR/limits.c"
      fi
      run "peer: limits ${cmd#limits:}" "$peer_bin/limits" "${cmd#limits:}" "$SCALE" ;;
    limits_boost)
      if stale limits_boost "$PEERS_DIR/limits_boost.cpp"; then
        "${CXX:-g++}" -O2 -Wall -std=c++17 -pthread -o "$peer_bin/limits_boost" \
          "$PEERS_DIR/limits_boost.cpp" -lrt
      fi
      run "peer: limits_boost" "$peer_bin/limits_boost" "$SCALE" ;;
    limits_caf)
      if stale limits_caf "$PEERS_DIR/limits_caf.cpp"; then
        "${CXX:-g++}" -O2 -std=c++17 -pthread -o "$peer_bin/limits_caf" "$PEERS_DIR/limits_caf.cpp" \
          -lcaf_io -lcaf_core
      fi
      run "peer: limits_caf" "$peer_bin/limits_caf" "$SCALE" ;;
    supervisor_restart)  # skips, with a comment line, a supervisor that is not installed
      run "peer: supervisor_restart.sh" bash "$PEERS_DIR/supervisor_restart.sh" "$SCALE" ;;
    python:*)
      run "peer: python_mp.py ${cmd#python:}" "$PYTHON" "$PEERS_DIR/python_mp.py" "${cmd#python:}" "$SCALE" ;;
    *) echo "bench/run.sh: unknown peer command $cmd" >&2; exit 2 ;;
  esac
done

"${compare[@]}" table "$log"
echo
echo "raw figures: $log"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "bench: failed: ${failed[*]}" >&2
  exit 1
fi
