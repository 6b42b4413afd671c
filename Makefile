# kin's entry points: a thin driver around CMake + Ninja. Every target first installs what is
# missing (scripts/install-deps.sh, quiet when nothing is). `make help` lists the targets.
#
#   make run [EXAMPLE=name] [ARGS="..."]   build and run an example (default: producer_consumer)
#   make test                              build with -Werror, run the whole test suite
#   make services                          run examples/services/services.toml under kin supervise
#   make asan / make tsan                  the same tests under ASan+UBSan / TSan
#   make release-check                     build everything as users do (Release, -O3), -Werror
#   make fuzz [FUZZ_SECONDS=60]            build and run every libFuzzer target (clang)
#   make bench [BENCH=regex] [SCALE=1]     kin's benchmarks beside ../shared/bench-peers
#   make clean                             remove the build directories these targets create
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# build/ serves run, test and bench with the same arguments, so switching between them never
# reconfigures or rebuilds. Release (-O3 -DNDEBUG) is what users build, so the tests run on the
# code users get, and GCC's -O3 inlining brings warnings (-Wstringop-overflow, -Wrestrict) that
# -O2 never shows: one -Werror build covers both. BUILD_TYPE=RelWithDebInfo for a debugger.
BUILD_DIR    ?= build
ASAN_DIR     ?= build-asan
TSAN_DIR     ?= build-tsan
FUZZ_DIR     ?= build-fuzz
RELEASE_DIR  ?= build-release
BUILD_TYPE   ?= Release
JOBS         ?= $(shell nproc)
EXAMPLE      ?= producer_consumer
ARGS         ?=
CTEST_JOBS   ?= 2
TEST_TIMEOUT ?= 300
CTEST_ARGS   ?=
FUZZ_SECONDS ?= 60
BENCH        ?=
SCALE        ?= 1
PEERS_DIR    ?= $(CURDIR)/../shared/bench-peers

MAIN_CONFIG := -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DKIN_WERROR=ON
# Sanitizer builds: -O1 -g1 (line tables: symbolized reports at a third of -O2 -g's build time);
# neither the examples nor the header checks, which instrumentation cannot tell anything new
# about (the tests exercise the same code).
SAN_CONFIG := -DCMAKE_BUILD_TYPE=RelWithDebInfo '-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG' \
              -DKIN_WERROR=ON -DKIN_BUILD_EXAMPLES=OFF -DKIN_HEADER_CHECK=OFF
CTEST := ctest --output-on-failure --no-tests=error -j $(CTEST_JOBS) --timeout $(TEST_TIMEOUT)

# Sanitizer runs. Skipped there: the package.* tests (they rebuild kin from scratch in a
# consumer project without sanitizer flags, so they would check nothing new and cost minutes)
# and the benchmarks (CMake does not build bench/ when KIN_SANITIZE is set).
SAN_EXCLUDE ?= ^package\.
# ASan+UBSan: stop at the first report, with a distinct exit code (86) so that a report in a
# forked child is not mistaken for an ordinary `exit(1)` the test expected; leaks are errors.
ASAN_OPTIONS  ?= halt_on_error=1:exitcode=86:detect_leaks=1:print_stacktrace=1:strict_string_checks=1:check_initialization_order=1
UBSAN_OPTIONS ?= halt_on_error=1:exitcode=86:print_stacktrace=1:suppressions=$(CURDIR)/tests/sanitizers/ubsan.supp
# TSan: kin's fork start method forks a process that may have threads (CAF's scheduler, the
# event loop), and the child may start threads of its own, as Python's fork method allows.
# TSan's default die_after_fork=1 kills such a child at its first new thread; die_after_fork=0
# lets it run (TSan promises less about that child, but what it reports stays real).
TSAN_OPTIONS  ?= halt_on_error=1:exitcode=66:second_deadlock_stack=1:die_after_fork=0:suppressions=$(CURDIR)/tests/sanitizers/tsan.supp
LSAN_OPTIONS  ?= suppressions=$(CURDIR)/tests/sanitizers/lsan.supp
SAN_ENV := ASAN_OPTIONS='$(ASAN_OPTIONS)' UBSAN_OPTIONS='$(UBSAN_OPTIONS)' LSAN_OPTIONS='$(LSAN_OPTIONS)' TSAN_OPTIONS='$(TSAN_OPTIONS)'

.PHONY: help deps run services test asan tsan release-check fuzz bench clean

help:
	@grep -E '^#   make ' Makefile | sed 's/^# *//'

deps:
	@scripts/install-deps.sh

run: deps
	@name=$$(scripts/pick-example.sh "$(EXAMPLE)" "$(origin EXAMPLE)"); \
	  scripts/configure.sh $(BUILD_DIR) $(MAIN_CONFIG); \
	  cmake --build $(BUILD_DIR) -j $(JOBS) --target "$$name"; \
	  echo "make run: $(BUILD_DIR)/examples/$$name $(ARGS)"; \
	  $(BUILD_DIR)/examples/$$name $(ARGS)

# The README's second quick start: a producer/consumer system under `kin supervise` (Ctrl-C
# stops it; ARGS="--http 127.0.0.1:8080" adds the dashboard).
services: deps
	@scripts/configure.sh $(BUILD_DIR) $(MAIN_CONFIG)
	cmake --build $(BUILD_DIR) -j $(JOBS) --target kin_cli services_demo
	PATH="$(CURDIR)/$(BUILD_DIR)/examples:$(CURDIR)/$(BUILD_DIR)/cli:$$PATH" \
	  $(BUILD_DIR)/cli/kin supervise examples/services/services.toml $(ARGS)

test: deps
	@scripts/configure.sh $(BUILD_DIR) $(MAIN_CONFIG)
	cmake --build $(BUILD_DIR) -j $(JOBS)
	$(CTEST) --test-dir $(BUILD_DIR) $(CTEST_ARGS)

asan: deps
	@scripts/configure.sh $(ASAN_DIR) $(SAN_CONFIG) -DKIN_SANITIZE=address
	cmake --build $(ASAN_DIR) -j $(JOBS)
	$(SAN_ENV) $(CTEST) --test-dir $(ASAN_DIR) -E '$(SAN_EXCLUDE)' $(CTEST_ARGS)

tsan: deps
	@scripts/configure.sh $(TSAN_DIR) $(SAN_CONFIG) -DKIN_SANITIZE=thread
	cmake --build $(TSAN_DIR) -j $(JOBS)
	$(SAN_ENV) $(CTEST) --test-dir $(TSAN_DIR) -E '$(SAN_EXCLUDE)' $(CTEST_ARGS)

# Every target as users build it (Release, -O3) with -Werror; nothing runs. With the default
# BUILD_TYPE this is build/, the same build `make test` makes, so it costs nothing after it.
RELEASE_CHECK_DIR := $(if $(filter Release,$(BUILD_TYPE)),$(BUILD_DIR),$(RELEASE_DIR))
release-check: deps
	@scripts/configure.sh $(RELEASE_CHECK_DIR) $(if $(filter Release,$(BUILD_TYPE)),$(MAIN_CONFIG),-DCMAKE_BUILD_TYPE=Release -DKIN_WERROR=ON)
	cmake --build $(RELEASE_CHECK_DIR) -j $(JOBS)

fuzz: deps
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_DIR=$(FUZZ_DIR) JOBS=$(JOBS) scripts/fuzz.sh

bench: deps
	@scripts/install-deps.sh bench
	@scripts/configure.sh $(BUILD_DIR) $(MAIN_CONFIG)
	@targets="$(patsubst bench/%.cpp,%,$(wildcard bench/*_bench.cpp))"; \
	  if [[ -n "$$targets" ]]; then cmake --build $(BUILD_DIR) -j $(JOBS) --target $$targets; fi
	@BUILD_DIR=$(BUILD_DIR) BENCH='$(BENCH)' SCALE=$(SCALE) PEERS_DIR=$(PEERS_DIR) bench/run.sh

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(TSAN_DIR) $(FUZZ_DIR) $(RELEASE_DIR)
