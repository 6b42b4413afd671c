#!/usr/bin/env bash
# `make fuzz`: builds every libFuzzer target (tests/fuzz/<name>_fuzz.cpp) with clang in
# build-fuzz/ and runs each for FUZZ_SECONDS; fails when any target finds a crash, a leak, a
# timeout or an out-of-memory input (the input is kept under build-fuzz/artifacts/<name>/).
#
# Env: FUZZ_SECONDS (default 60) per target; FUZZ_FILTER (regex on target names, default all);
#      FUZZ_DIR (default build-fuzz); JOBS (parallel compile jobs).
# Corpora: new inputs go to build-fuzz/corpus/<name>/ (kept between runs); seeds are read from
# tests/fuzz/corpus/<name>/ when present, and a dictionary from tests/fuzz/<name>.dict.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_FILTER=${FUZZ_FILTER:-}
FUZZ_DIR=${FUZZ_DIR:-build-fuzz}
JOBS=${JOBS:-$(nproc)}

targets=()
for src in tests/fuzz/*_fuzz.cpp; do
  [[ -e "$src" ]] || continue
  name=$(basename "$src" .cpp)
  [[ -z "$FUZZ_FILTER" || "$name" =~ $FUZZ_FILTER ]] && targets+=("$name")
done
if [[ ${#targets[@]} -eq 0 ]]; then
  echo "fuzz: no fuzz targets (tests/fuzz/*_fuzz.cpp${FUZZ_FILTER:+ matching $FUZZ_FILTER}); nothing to do"
  exit 0
fi

# Instrument all of kin (not just the fuzz target's own file) for coverage and ASan+UBSan, so
# the fuzzer sees the branches of runtime/src (framing, handover) too; -g1 (line tables) is
# all a report needs.
scripts/configure.sh "$FUZZ_DIR" \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" \
  "-DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer" \
  -DKIN_FUZZ=ON -DKIN_BUILD_TESTS=OFF -DKIN_BUILD_BENCH=OFF -DKIN_BUILD_EXAMPLES=OFF \
  -DKIN_BUILD_CLI=OFF
cmake --build "$FUZZ_DIR" -j "$JOBS" --target "${targets[@]}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:print_stacktrace=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
failed=()
for name in "${targets[@]}"; do
  corpus="$FUZZ_DIR/corpus/$name" artifacts="$FUZZ_DIR/artifacts/$name" log="$FUZZ_DIR/logs/$name.log"
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  args=(-max_total_time="$FUZZ_SECONDS" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$artifacts/" "$corpus")
  [[ -d "tests/fuzz/corpus/$name" ]] && args+=("tests/fuzz/corpus/$name")
  [[ -f "tests/fuzz/$name.dict" ]] && args=(-dict="tests/fuzz/$name.dict" "${args[@]}")
  echo "fuzz: $name for ${FUZZ_SECONDS}s (log: $log)"
  if "$FUZZ_DIR/tests/fuzz/$name" "${args[@]}" >"$log" 2>&1; then
    grep -E '^(#[0-9]+\s+DONE|Done [0-9]+ runs|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" \
      | sed "s/^/fuzz: $name: /" || true
  else
    echo "fuzz: $name FAILED; crashing input under $artifacts/:" >&2
    tail -n 60 "$log" >&2
    failed+=("$name")
  fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz: failures in ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} target(s) ran ${FUZZ_SECONDS}s each without a finding"
