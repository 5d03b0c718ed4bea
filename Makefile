# bitgask: build, test, run, bench and install.
#
#   make run       build the library and run examples/quickstart.c in a fresh directory
#   make test      header check + lints (rustfmt, clippy) + Rust tests in release and in debug (with the C
#                  programs built by tests/c_abi.rs) + every C test variant + valgrind + merge, adopt and
#                  rotation-seal kill-point sweeps + the bitgask command's and server's tests + the Go bitgask's
#                  directories (test-gofixtures) + fuzz smoke
#   make soak      the merge and rotation-seal kill-point sweeps with their full workload (more
#                  keys, hits and rounds)
#                  the fault sweep over every operation and 1,000 power-loss cycles
#                  the C kill -9 loops (sync on put, with merges, interval sync, write batches with
#                  and without sync), 1,000 cycles each
#                  + make valgrind + make wire-fuzz (10 minutes)
#   make valgrind  the C API misuse tests under valgrind memcheck (zero errors, zero leaks)
#   make bench     the C benchmark over the public API (release build)
#   make bench-peers   bitgask beside LevelDB, LMDB, RocksDB, SQLite and the machine's limits (medians of 3 rounds)
#   make keydir-curve  the keydir's memory per key beyond the key bytes, 100 k to 10 M keys
#   make fuzz      every fuzz target for FUZZ_SECONDS (default 60) each (make test: fuzz-smoke)
#   make test-full-disk  fill a 6 MiB tmpfs (user namespace, no root) through the command and the
#                      server, delete, reclaim, write again (part of make test)
#   make test-server   bitgask serve with redis-cli, redis-benchmark, redis-py, raw sockets, and a
#                      20-second wire fuzz
#   make wire-fuzz     mutated commands, pipelines and partial frames at a running bitgask serve for
#                      WIRE_FUZZ_SECONDS (default 600)
#   make test-cluster  three bitgask serve processes behind twemproxy (nutcracker)
#   make bench-server  bitgask serve against redis-server (redis-benchmark, medians of 5 rounds)
#   make bench-uring   the -P 1 row against Redis, bitgask serve and an io_uring prototype, with
#                      system calls, switches and CPU per request (bench/uring-serve/README.md)
#   make install   prefix=/usr/local DESTDIR= debuginfo= : stripped libraries, headers (C and C++), bitgask.pc
#   make test-python, make test-cxx, make test-go   the language bindings (part of make test)

CARGO    ?= cargo
CC       ?= cc
CXX      ?= g++
prefix   ?= /usr/local
libdir   ?= $(prefix)/lib
includedir ?= $(prefix)/include
DESTDIR  ?=

VERSION  := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
ABI      := $(firstword $(subst ., ,$(VERSION)))
REL      := target/release
BUILD    := build
LIBDIR   := $(BUILD)/lib
SONAME   := libbitgask.so.$(ABI)

WARN     := -Wall -Wextra -Werror
CFLAGS   ?= -O2 -g
ALL_CFLAGS := $(CFLAGS) $(WARN) -Iinclude -Ic_tests
SYSLIBS  := -lpthread -ldl -lm
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

C_TEST_SRCS := $(wildcard c_tests/*.c)
C_TEST_HDRS := $(wildcard c_tests/*.h)

.PHONY: bench-deps bench-peers bench-peers-smoke keydir-curve
.PHONY: all lib header header-check lint test cargo-test test-debug stack-dumper fault-tests c-tests valgrind kill-tests test-cli test-full-disk test-server test-cluster test-gofixtures bench-server bench-uring server-deps server-bin wire-fuzz soak run bench bench-smoke install uninstall install-check clean

all: lib

# The release library, staged with its versioned names so the shared test binaries resolve the
# soname exactly as an installed copy would.
lib: $(LIBDIR)/.stamp
$(LIBDIR)/.stamp: $(shell find src -name '*.rs') build.rs Cargo.toml
	$(CARGO) build --release
	mkdir -p $(LIBDIR)
	cp $(REL)/libbitgask.so $(LIBDIR)/libbitgask.so.$(VERSION)
	ln -sf libbitgask.so.$(VERSION) $(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(LIBDIR)/libbitgask.so
	cp $(REL)/libbitgask.a $(LIBDIR)/libbitgask.a
	touch $@

# include/bitgask.h is generated from src/ffi/ by tools/gen-header (cbindgen) and committed:
# `make header` rewrites it, and header-check fails if that changes the committed file. It must
# also compile in the oldest dialects it claims (its API convention 9), warnings as errors.
HEADER_STRICT := -Wall -Wextra -Wpedantic -Werror -Iinclude -fsyntax-only c_tests/dialect/header_only.c
header:
	$(CARGO) run -q -p bitgask-gen-header
header-check: header
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
	  git diff --exit-code -- include/bitgask.h || { echo "include/bitgask.h is stale: run make header and commit it"; exit 1; }; \
	else echo "not a git checkout: header freshness not checked"; fi
	$(CC) -std=c89 $(HEADER_STRICT)
	$(CC) -std=c99 $(HEADER_STRICT)
	$(CXX) -x c++ -std=c++98 $(HEADER_STRICT)

# Every "docs/DESIGN.md section N" cited in the code, header and README names a section of it.
.PHONY: design-refs
design-refs:
	scripts/check-design-refs.sh
test: design-refs


# Formatting (rustfmt.toml) and clippy over every crate and target, failing on any finding.
lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# The library's Rust tests as shipped (release). tests/c_abi.rs is left to test-debug: make c-tests
# runs the same C programs against the release library, four ways.
cargo-test:
	$(CARGO) test --release --lib

# The Rust tests once more in a debug build, where overflow checks and debug_assert! are on, and
# the C test programs against the debug library (tests/c_abi.rs compiles them with the cc crate).
test-debug: stack-dumper
	$(CARGO) test --lib --test c_abi

# gdb, with which a C test runner that times out prints every thread's stack (c_tests/main.c).
# Optional: without it the runner only reports the timeout.
stack-dumper:
	@command -v gdb >/dev/null 2>&1 || apt-get install -y gdb >/dev/null 2>&1 || echo "gdb not installed: a C test that times out prints no stacks"

# The fault campaign (storage/fault.rs, cargo feature fault-injection): ENOSPC, EIO and short
# writes injected at a workload's operations (make test samples every 4th, make soak all), and
# simulated power loss at a random operation, unsynced writes dropped, garbled or persisted out of
# order, with one writer and with four (100 cycles each in make test, 1,000 in make soak). Then the
# server's parked writes answered with an error when their fsync fails.
FAULT_TEST := $(CARGO) test --release --features fault-injection --lib -- fault_tests seal_tests
fault-tests:
	BITGASK_FAULT_STRIDE=4 $(FAULT_TEST)
	$(CARGO) test --release -p bitgask-cli --features fault-injection --lib failed_fsync

# One test runner per variant: shared library, static library, compiled as C++, sanitizers.
$(BUILD)/c_tests_shared: $(C_TEST_SRCS) $(C_TEST_HDRS) lib
	$(CC) $(ALL_CFLAGS) -std=c11 $(C_TEST_SRCS) -o $@ -L$(LIBDIR) -Wl,-rpath,'$$ORIGIN/lib' -lbitgask $(SYSLIBS)
$(BUILD)/c_tests_static: $(C_TEST_SRCS) $(C_TEST_HDRS) lib
	$(CC) $(ALL_CFLAGS) -std=c11 $(C_TEST_SRCS) -o $@ $(LIBDIR)/libbitgask.a $(SYSLIBS)
$(BUILD)/c_tests_cxx: $(C_TEST_SRCS) $(C_TEST_HDRS) lib
	$(CXX) $(ALL_CFLAGS) -x c++ -std=c++17 $(C_TEST_SRCS) -x none -o $@ $(LIBDIR)/libbitgask.a $(SYSLIBS)
$(BUILD)/c_tests_asan: $(C_TEST_SRCS) $(C_TEST_HDRS) lib
	$(CC) $(ALL_CFLAGS) -std=c11 $(SAN) $(C_TEST_SRCS) -o $@ $(LIBDIR)/libbitgask.a $(SYSLIBS)

# The variants are compiled, and then run, at the same time (scripts/run-variants.sh).
C_VARIANTS := shared static cxx asan
NPROC      := $(shell nproc 2>/dev/null || echo 2)
c-tests: lib stack-dumper
	@$(MAKE) --no-print-directory -j$(NPROC) $(addprefix $(BUILD)/c_tests_,$(C_VARIANTS))
	@sh scripts/run-variants.sh "C tests" $(addprefix $(BUILD)/c_tests_,$(C_VARIANTS))

# The C API misuse tests (every test of c_tests/test_args.c and the NULL/error-argument tests of
# the other files; none forks) in the shared-library runner under valgrind memcheck: any memory
# error or definitely/indirectly lost block fails. No suppressions: what is left at exit is only
# still reachable (parking_lot's global table of parked threads).
VALGRIND_TESTS := $(shell sed -n 's/^TEST(\([A-Za-z0-9_]*\)).*/\1/p' c_tests/test_args.c) \
  close_null_is_a_noop_returning_ok err_out_is_not_written_on_success_or_positive_outcomes \
  a_newer_format_version_is_refused empty_value_get_returns_a_non_null_buffer \
  iter_next_with_null_value_skips_the_value iter_outliving_close_reports_closed merge_calls_null_args \
  ops_validate_of_a_missing_path_is_an_error_without_report ops_report_accessors_check_their_arguments \
  ops_backup_refuses_bad_destinations_and_creates_nothing \
  ops_backup_refuses_an_empty_directory_inside_the_database ops_null_arguments_are_null_arg \
  put_ttl_zero_is_invalid_and_writes_nothing what_outlives_close_stays_usable \
  multi_get_argument_errors_write_nothing
valgrind: $(BUILD)/c_tests_shared
	@command -v valgrind >/dev/null 2>&1 || apt-get install -y valgrind
	@echo "== C misuse tests under valgrind memcheck (shared)"
	valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect \
	  ./$(BUILD)/c_tests_shared $(VALGRIND_TESTS)

# The library with named crash points (cargo feature kill-points) in its own target directory,
# and a runner that kills a merging (or rotating) process at each point, then reopens and checks.
KP_REL        := target/killpoints/release
KP_TEST_SRCS  := $(wildcard c_tests/killpoints/*.c) c_tests/main.c c_tests/util.c c_tests/crash_model.c

$(KP_REL)/libbitgask.a: $(shell find src -name '*.rs') build.rs Cargo.toml
	$(CARGO) build --release --features kill-points --target-dir target/killpoints

$(BUILD)/c_tests_killpoints: $(KP_TEST_SRCS) $(C_TEST_HDRS) $(KP_REL)/libbitgask.a
	mkdir -p $(BUILD)
	$(CC) $(ALL_CFLAGS) -std=c11 $(KP_TEST_SRCS) -o $@ $(KP_REL)/libbitgask.a $(SYSLIBS)

kill-tests: $(BUILD)/c_tests_killpoints stack-dumper
	@echo "== merge, tail-first reclaim, adopt and rotation-seal kill-point sweeps"
	./$(BUILD)/c_tests_killpoints

soak: $(BUILD)/c_tests_killpoints $(BUILD)/c_tests_static valgrind
	@echo "== merge and rotation-seal kill-point sweeps (soak)"
	BITGASK_SOAK=1 ./$(BUILD)/c_tests_killpoints
	@echo "== C kill -9 loops (soak: 1,000 cycles each)"
	BITGASK_SOAK=1 BITGASK_TEST_TIMEOUT=1800 ./$(BUILD)/c_tests_static kill9_loop_keeps_every_acknowledged_put \
	  kill9_loop_with_merges_keeps_acknowledged_puts_and_deletes kill9_loop_interval_sync_keeps_every_returned_write \
	  batch_kill9_loop_keeps_batches_whole_with_sync batch_kill9_loop_keeps_batches_whole_without_sync
	@echo "== fault sweep (soak: every operation)"
	BITGASK_FAULT_STRIDE=1 BITGASK_POWERLOSS_CYCLES=1000 BITGASK_MODEL_RUNS=500 $(FAULT_TEST) --nocapture
	$(MAKE) --no-print-directory wire-fuzz

# The bitgask command: its unit tests, then every subcommand driven end to end from a script.
test-cli:
	$(CARGO) build --release -p bitgask-cli
	$(CARGO) test --release -p bitgask-cli
	python3 tests/cli/test_cli.py $(REL)/bitgask

# bitgask serve (the Redis-protocol server). The script installs redis-tools, redis-server,
# nutcracker (Debian) and redis-py, pytest (PyPI) when missing; tests/server/README-section.md
# describes the tests.
SERVER_BIN := $(abspath $(REL)/bitgask)
PYTEST     := python3 -m pytest -q -p no:cacheprovider

server-deps:
	@sh scripts/install-test-deps.sh

server-bin:
	$(CARGO) build --release -p bitgask-cli

# A full disk through the command and the server (tests/fulldisk): a tmpfs of 6 MiB in a user
# and mount namespace of its own (unshare -rm, no root); skipped with a note where user
# namespaces are not allowed. The library's own full-disk tests run in cargo-test and fault-tests.
test-full-disk:
	$(CARGO) build --release -p bitgask-cli
	python3 tests/fulldisk/test_fulldisk.py $(REL)/bitgask

test-server: server-deps server-bin
	tests/server/cli_test.sh $(SERVER_BIN)
	tests/server/benchmark_smoke.sh $(SERVER_BIN)
	BITGASK_BIN=$(SERVER_BIN) $(PYTEST) tests/server/test_redis_py.py tests/server/test_abuse.py tests/server/test_restart.py tests/server/test_event_loop.py
	python3 tests/server/wire_fuzz.py --bin $(SERVER_BIN) --seconds 10

# The wire-level fuzzer (tests/server/wire_fuzz.py): a server is alive and under its RSS bound
# after every connection; a finding's sessions and the server log go to build/wire-fuzz-findings/.
WIRE_FUZZ_SECONDS ?= 600
wire-fuzz: server-deps server-bin
	python3 tests/server/wire_fuzz.py --bin $(SERVER_BIN) --seconds $(WIRE_FUZZ_SECONDS)

test-cluster: server-deps server-bin
	BITGASK_BIN=$(SERVER_BIN) $(PYTEST) tests/server/test_cluster.py

# Directories as the Go bitgask writes them (tests/gofixtures/README.md): the writer checked
# against an independent reader; then every fixture through open, validate and repair (refused,
# unchanged) and adopt (the Go system's answers, a crash at every step) in tests/go_fixtures.rs.
# The kill -9 sweep of adopt is in kill-tests, the command's adopt in test-cli.
test-gofixtures: server-deps
	$(PYTEST) tests/gofixtures
	$(CARGO) test --release --test go_fixtures

bench-server: server-deps server-bin
	tests/server/bench_server.sh $(SERVER_BIN)

# A measurement tool, not part of the server: its own crate and workspace (io-uring stays out of
# the command's dependencies), built into target/uring-serve.
bench-uring: server-deps server-bin
	CARGO_TARGET_DIR=$(abspath target/uring-serve) $(CARGO) build --release --manifest-path bench/uring-serve/Cargo.toml
	bench/uring-serve/compare.sh $(SERVER_BIN) $(abspath target/uring-serve/release/uring-serve)

# Fuzzing (fuzz/README.md): cargo-fuzz, installed when missing, on the stable toolchain. make fuzz
# runs every target FUZZ_SECONDS (default 60) each; make fuzz-smoke (part of make test) replays
# fuzz/regressions/ and the seed corpus, then runs every target a few seconds.
.PHONY: fuzz fuzz-smoke
FUZZ_SECONDS ?= 60
fuzz:
	CARGO="$(CARGO)" bash fuzz/run.sh fuzz $(FUZZ_SECONDS)
fuzz-smoke:
	CARGO="$(CARGO)" bash fuzz/run.sh smoke

# Language bindings (README: Python, C++, Go). scripts/install-binding-deps.sh installs what they
# need when it is missing: a virtual environment with cffi, pytest, hypothesis and mypy; Go.
.PHONY: test-python test-cxx test-go
PYENV   := $(BUILD)/pyenv
PYFRESH := $(BUILD)/pyfresh

# The package built against build/lib into the test environment, its pytest suite, mypy --strict
# on the package and a sample program; then `pip install ./python` into an empty environment the
# way a user runs it (build isolation, cargo reusing target/), and that sample run there.
test-python: lib
	@sh scripts/install-binding-deps.sh python $(PYENV)
	BITGASK_LIB_DIR=$(abspath $(LIBDIR)) $(PYENV)/bin/python -m pip install -q --disable-pip-version-check \
	    --no-build-isolation --no-deps --force-reinstall ./python
	cd python && ../$(PYENV)/bin/python -m pytest -q -p no:cacheprovider tests
	$(PYENV)/bin/python -m mypy --strict --cache-dir $(BUILD)/mypy-cache python/src/bitgask python/tests/typed_usage.py
	rm -rf $(PYFRESH) && python3 -m venv --without-pip $(PYFRESH)
	$(PYENV)/bin/python -m pip --python $(PYFRESH)/bin/python install -q --disable-pip-version-check ./python
	@d=$$(mktemp -d) && $(PYFRESH)/bin/python python/tests/typed_usage.py "$$d/db" >/dev/null; s=$$?; rm -rf "$$d"; \
	  [ $$s = 0 ] && echo "pip install ./python in a fresh environment: ok"; exit $$s

# C++ binding (include/bitgask.hpp): the tests as C++17 and C++20 with -Wall -Wextra -Werror
# -Wpedantic, once more under AddressSanitizer and UndefinedBehaviorSanitizer; then the quickstart
# built against a staged `make install` through pkg-config, as a user builds it.
CXX_TEST_SRCS := $(wildcard cxx_tests/*.cpp)
CXX_TEST_DEPS := $(CXX_TEST_SRCS) $(wildcard cxx_tests/*.hpp) include/bitgask.hpp include/bitgask.h lib
CXX_TEST_CMD   = $(CXX) $(CXXTESTFLAGS) $(WARN) -Wpedantic -Iinclude -Icxx_tests $(CXX_TEST_SRCS) -o $@ \
                 $(LIBDIR)/libbitgask.a $(SYSLIBS)
CXX_VARIANTS  := c++17 c++20 asan
CXXTESTFLAGS  ?= -O1 -g
CXX_STAGE     := $(abspath $(BUILD)/stage-cxx)

$(BUILD)/cxx_tests_c++17: $(CXX_TEST_DEPS)
	$(CXX_TEST_CMD) -std=c++17
$(BUILD)/cxx_tests_c++20: $(CXX_TEST_DEPS)
	$(CXX_TEST_CMD) -std=c++20
$(BUILD)/cxx_tests_asan: $(CXX_TEST_DEPS)
	$(CXX_TEST_CMD) -std=c++17 $(SAN)

test-cxx: lib
	@$(MAKE) --no-print-directory -j$(NPROC) $(addprefix $(BUILD)/cxx_tests_,$(CXX_VARIANTS))
	@sh scripts/run-variants.sh "C++ tests" $(addprefix $(BUILD)/cxx_tests_,$(CXX_VARIANTS))
	rm -rf $(CXX_STAGE)
	$(MAKE) --no-print-directory install prefix=$(CXX_STAGE) >/dev/null
	$(CXX) $(CFLAGS) $(WARN) -std=c++17 examples/quickstart.cpp -o $(BUILD)/quickstart_cxx \
	    $$(PKG_CONFIG_PATH=$(CXX_STAGE)/lib/pkgconfig pkg-config --cflags --libs bitgask) -Wl,-rpath,$(CXX_STAGE)/lib
	@d=$$(mktemp -d) && ./$(BUILD)/quickstart_cxx "$$d/db"; s=$$?; rm -rf "$$d" $(CXX_STAGE); exit $$s

# Go binding (go/): gofmt, go vet and go test -race with the checkout's static library (build tag
# bitgask_local), offline (the package has no dependencies to download); then the example through
# pkg-config against a staged `make install`, the way a user's program links the library.
GO       ?= go
GO_ENV   := GOPROXY=off GOFLAGS=-mod=readonly GOTOOLCHAIN=local CGO_ENABLED=1 \
            $(if $(HOME),,GOCACHE=$(abspath $(BUILD))/go-cache)
GO_STAGE := $(abspath $(BUILD)/stage-go)

test-go: lib
	@sh scripts/install-binding-deps.sh go
	@cd go && unformatted=$$(gofmt -l .) && [ -z "$$unformatted" ] || { echo "go/: gofmt -w $$unformatted"; exit 1; }
	cd go && $(GO_ENV) $(GO) vet -tags bitgask_local ./...
	cd go && $(GO_ENV) $(GO) test -tags bitgask_local -race -count=1 ./...
	rm -rf $(GO_STAGE)
	$(MAKE) --no-print-directory install prefix=$(GO_STAGE) >/dev/null
	cd go && $(GO_ENV) PKG_CONFIG_PATH=$(GO_STAGE)/lib/pkgconfig CGO_LDFLAGS="-Wl,-rpath,$(GO_STAGE)/lib" \
	    $(GO) test -count=1 -run '^Example$$' ./...
	rm -rf $(GO_STAGE)

test: header-check lint cargo-test test-debug fault-tests c-tests valgrind kill-tests test-cli test-full-disk test-server test-cluster test-gofixtures bench-smoke bench-peers-smoke run install-check fuzz-smoke
test: test-python test-cxx test-go

$(BUILD)/quickstart: examples/quickstart.c lib
	$(CC) $(ALL_CFLAGS) -std=c11 $< -o $@ -L$(LIBDIR) -Wl,-rpath,'$$ORIGIN/lib' -lbitgask $(SYSLIBS)

run: $(BUILD)/quickstart
	@d=$$(mktemp -d) && ./$(BUILD)/quickstart "$$d/db"; s=$$?; rm -rf "$$d"; exit $$s

$(BUILD)/bench: bench/bench.c lib
	$(CC) $(ALL_CFLAGS) -O3 -std=c11 $< -o $@ $(LIBDIR)/libbitgask.a $(SYSLIBS)

bench: $(BUILD)/bench
	./$(BUILD)/bench

# The same program with tiny counts: proves the benchmark still runs, measures nothing.
bench-smoke: $(BUILD)/bench
	./$(BUILD)/bench --smoke

# bitgask beside LevelDB, LMDB, RocksDB and SQLite and the machine's own limits, one process and
# one run (bench/peers.c; bench/peer_<engine>.c adapt each library's C API). The peers come from
# Debian, installed by scripts/install-bench-deps.sh when missing. BENCH_DIR: where the files
# go (default TMPDIR, else /tmp); BENCH_PEERS_ARGS: extra flags (--rounds, --only, --phase, --tsv).
BENCH_PEERS_SRCS := bench/peers.c bench/limits.c $(wildcard bench/peer_*.c)
BENCH_PEERS_HDRS := bench/peers.h bench/limits.h bench/bench_util.h
BENCH_PEERS_LIBS := -lleveldb -llmdb -lrocksdb -lsqlite3

bench-deps:
	@sh scripts/install-bench-deps.sh

$(BUILD)/bench_peers: $(BENCH_PEERS_SRCS) $(BENCH_PEERS_HDRS) lib | bench-deps
	$(CC) $(ALL_CFLAGS) -O3 -std=c11 $(BENCH_PEERS_SRCS) -o $@ $(LIBDIR)/libbitgask.a $(BENCH_PEERS_LIBS) $(SYSLIBS)

bench-peers: $(BUILD)/bench_peers
	./$(BUILD)/bench_peers $(BENCH_PEERS_ARGS)

# Memory per key of the keydir alone, inserting up to 10 M keys (about a minute; make test runs
# the same measure up to 150 k keys as a unit test).
keydir-curve:
	$(CARGO) test --release --lib keydir::tests::keydir_curve -- --ignored --nocapture

# Tiny counts, every engine and phase, a few seconds: proves it runs, measures nothing.
bench-peers-smoke: $(BUILD)/bench_peers
	./$(BUILD)/bench_peers --smoke

# scripts/install-lib.sh: stripped libraries (debuginfo=yes adds the shared library's debug info in
# $(libdir)/.debug/), headers, bitgask.pc (with an rpath when libdir is outside the loader's path),
# and ldconfig after a plain install into the loader's path.
INSTALL_ENV = DESTDIR="$(DESTDIR)" prefix="$(prefix)" libdir="$(libdir)" includedir="$(includedir)" \
              VERSION=$(VERSION) ABI=$(ABI) LIBDIR=$(LIBDIR) DIST=$(BUILD)/dist debuginfo=$(debuginfo)
$(BUILD)/dist/.stamp: $(LIBDIR)/.stamp scripts/install-lib.sh
	@$(INSTALL_ENV) sh scripts/install-lib.sh strip
	touch $@

install: lib $(BUILD)/dist/.stamp
	@$(INSTALL_ENV) sh scripts/install-lib.sh install

uninstall:
	@$(INSTALL_ENV) sh scripts/install-lib.sh uninstall

# The README's install and link commands run as written (tests/install/check.sh), then what was
# installed: stripped libraries, bitgask.pc, DESTDIR, debuginfo=yes, uninstall.
install-check: lib
	sh tests/install/check.sh

clean:
	$(CARGO) clean
	rm -rf $(BUILD)
