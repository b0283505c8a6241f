# nnedge - one GNU Makefile (STYLE 3.10). Out-of-tree build into build/.
#
#   make                 library + CLI (build/libnnedge.a, build/libnnedge.so, build/nnedge)
#   make test            build and run the quick test suite (prints "N passed, M failed")
#   make test-full       quick suite + slower golden/fuzz-corpus checks
#   make demo            predict the bundled demo case
#   make bench           kernel and forward benchmarks (JSON on stdout)
#   make bench-peers     nnedge vs ONNX Runtime vs PyTorch, same weights and input (PEERS_ARGS)
#   make fuzz            build libFuzzer targets (clang) and run each for FUZZ_SECONDS
#   make test-arm64      the test suite cross-built for AArch64, run under qemu-aarch64
#   make CC=aarch64-linux-gnu-gcc   cross build (library + CLI) into build/aarch64-linux-gnu/
#   make clean
# Variables: CC=..., DEBUG=1, SANITIZE=address,undefined|thread, ISA=ref, WERROR=1,
#            NO_DEPS=1 (do not run scripts/install-deps.sh),
#            NO_CAIRO=1 (no cairo: the figure functions return NNE_ERR_UNSUPPORTED).

CC      ?= cc
BUILD   ?= build
TRIPLE  := $(shell $(CC) -dumpmachine 2>/dev/null)

ifeq ($(origin CC),default)
CC := cc
endif

# Cross builds (make CC=aarch64-linux-gnu-gcc): a compiler whose target is not this machine's
# architecture builds into build/<triple>/ (the native objects stay), pkg-config reads the
# target's Debian multiarch directory, scripts/install-deps.sh --arm64 brings the :arm64
# packages, and cairo is left out (NO_CAIRO=1) when the target has none.
HOST_ARCH  := $(shell uname -m)
CROSS      :=
ifneq ($(TRIPLE),)
ifeq ($(findstring $(HOST_ARCH),$(TRIPLE)),)
CROSS      := $(TRIPLE)
endif
endif
PKG_CONFIG := pkg-config
DEPS_ARGS  :=
ifneq ($(CROSS),)
BUILD      := $(BUILD)/$(CROSS)
PKG_CONFIG := PKG_CONFIG_LIBDIR=/usr/lib/$(CROSS)/pkgconfig:/usr/share/pkgconfig pkg-config
DEPS_ARGS  := $(if $(filter aarch64%,$(CROSS)),--arm64)
endif

OPT     := -O2
ifeq ($(DEBUG),1)
OPT     := -O0 -g -DNNE_DEBUG
endif

WARN    := -Wall -Wextra -Wpedantic -Wshadow -Wdouble-promotion -Wvla
ifeq ($(WERROR),1)
WARN    += -Werror
endif

# Install missing Debian packages before pkg-config is asked about them (parse time, so the
# flags below are right on a fresh machine). Skipped for `make clean` and with NO_DEPS=1.
ifeq ($(filter clean,$(MAKECMDGOALS)),)
ifneq ($(NO_DEPS),1)
DEPS_RC := $(shell sh scripts/install-deps.sh $(DEPS_ARGS) >&2; echo $$?)
ifneq ($(DEPS_RC),0)
$(error scripts/install-deps.sh failed; install the packages it names, or build with NO_DEPS=1)
endif
endif
endif

ifneq ($(CROSS),)
ifneq ($(shell $(PKG_CONFIG) --exists cairo 2>/dev/null && echo yes),yes)
NO_CAIRO   := 1
endif
endif
PKGS       := libcjson libzip zlib cairo
ifeq ($(NO_CAIRO),1)
PKGS       := $(filter-out cairo,$(PKGS))
endif
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null || echo -I/usr/include/cjson)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null || echo -lcjson -lzip -lz \
                $(if $(filter cairo,$(PKGS)),-lcairo))

CFLAGS_BASE := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(OPT) -g $(WARN) \
               -fPIC -fvisibility=hidden -DNNE_BUILD -Iinclude -Isrc $(PKG_CFLAGS)
LDLIBS      := $(PKG_LIBS) -lpthread -lm

comma := ,
ifneq ($(SANITIZE),)
CFLAGS_BASE += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS     += -fsanitize=$(SANITIZE)
BUILD       := $(BUILD)/san-$(subst $(comma),-,$(SANITIZE))
endif

ifeq ($(ISA),ref)
CFLAGS_BASE += -DNNE_ISA_REF_ONLY
endif

ifeq ($(NO_CAIRO),1)
CFLAGS_BASE += -DNNE_NO_CAIRO
endif

override CFLAGS := $(CFLAGS_BASE) $(CFLAGS)

LIB_SRC  := $(wildcard src/*.c) $(wildcard src/arch/*.c)
CLI_SRC  := $(wildcard tools/nnedge/*.c)
TEST_SRC := $(wildcard tests/test_*.c)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
BENCH_SRC:= $(wildcard bench/*.c)

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_BIN:= $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

LIB_A    := $(BUILD)/libnnedge.a
LIB_SO   := $(BUILD)/libnnedge.so
CLI      := $(BUILD)/nnedge

# Per-file ISA flags: only the arch files see intrinsics flags (STYLE 3.6).
ifneq (,$(findstring x86_64,$(TRIPLE)))
$(BUILD)/obj/src/arch/x86_avx2.o: ARCH_FLAGS := -mavx2 -mfma -mf16c
endif

.PHONY: all lib cli deps test test-full test-arm64 test-qemu bench bench-peers demo fuzz clean

all: deps lib cli

deps: # done at parse time (above); kept as a target for scripts that call it

lib: $(LIB_A) $(LIB_SO)
cli: $(CLI)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(ARCH_FLAGS) -MMD -MP -c $< -o $@

$(LIB_A): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIB_SO): $(LIB_OBJ)
	$(CC) -shared $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(CLI): $(CLI_OBJ) $(LIB_A)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIB_A) $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -Itests -o $@ $< $(LIB_A) $(LDFLAGS) $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -o $@ $< $(LIB_A) $(LDFLAGS) $(LDLIBS)

test: deps $(TEST_BIN) $(CLI)
	@sh tests/run.sh $(BUILD) $(TEST_BIN)

test-full: test
	@NNE_TEST_FULL=1 sh tests/run.sh $(BUILD) $(TEST_BIN)

# AArch64: the library, CLI and test suite cross-built (make CC=$(ARM_CC), into
# build/aarch64-linux-gnu/) and run under qemu-aarch64 against the arm64 multiarch libraries
# (scripts/install-deps.sh --arm64). Tests that run the CLI get a wrapper that starts the
# arm64 nnedge through qemu as well. ARM_TESTS sets the list: by default every test but
# test_predict, whose sliding windows take over 10 minutes emulated (ARM_TESTS=test_predict).
ARM_CC    ?= aarch64-linux-gnu-gcc
QEMU      ?= qemu-aarch64
ARM_TESTS ?= $(filter-out test_predict,$(TEST_SRC:tests/%.c=%))

test-arm64:
	@sh scripts/install-deps.sh --arm64
	@$(MAKE) --no-print-directory CC=$(ARM_CC) ARM_TESTS="$(ARM_TESTS)" test-qemu

# Runs the (cross-built) tests through $(QEMU); normally reached through test-arm64.
test-qemu: deps $(TEST_BIN) $(CLI)
	@printf '#!/bin/sh\nexec %s "$$(dirname "$$0")/nnedge" "$$@"\n' "$(QEMU)" >$(BUILD)/nnedge-qemu
	@chmod +x $(BUILD)/nnedge-qemu
	@NNE_TEST_RUNNER=$(QEMU) NNE_TEST_CLI=$(BUILD)/nnedge-qemu sh tests/run.sh $(BUILD) \
	    $(addprefix $(BUILD)/tests/,$(ARM_TESTS))

bench: deps $(BENCH_BIN) $(CLI)
	@for b in $(BENCH_BIN); do $$b || exit 1; done

# Peers on this machine, in one run (bench/peers.py; spec/performance.md protocol). Needs the
# Python venv of tools/README.md plus onnx, onnxscript and onnxruntime; never part of `make
# test`. Default: the reference network at its 128^3 patch, all CPUs, 3 rounds; e.g.
# PEERS_ARGS="--patch 64,64,64 --threads 2 --out build/peers/r.json".
PEERS_PY   ?= build/venv/bin/python
PEERS_ARGS ?=
bench-peers: deps $(CLI)
	$(PEERS_PY) bench/peers.py --nnedge $(CLI) $(PEERS_ARGS)

# libFuzzer targets: clang only, ASan + UBSan, each run for FUZZ_SECONDS on its seed corpus.
FUZZ_SECONDS ?= 20
FUZZ_MAX_LEN ?= 131072
FUZZ_CC      ?= clang
FUZZ_BUILD   := $(BUILD)/fuzz
FUZZ_BIN     := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/%)
FUZZ_CFLAGS  := $(filter-out -fvisibility=hidden,$(CFLAGS_BASE)) -O1 -g \
                -fsanitize=fuzzer-no-link,address,undefined \
                -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_BUILD)/obj/%.o)

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(if $(findstring x86_avx2,$<),-mavx2 -mfma -mf16c) -c $< -o $@

$(FUZZ_BUILD)/%: tests/fuzz/%.c $(FUZZ_LIB_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB_OBJ) $(LDLIBS)

fuzz: deps $(FUZZ_BIN)
	@for f in $(FUZZ_BIN); do \
	  n=$$(basename $$f); mkdir -p $(FUZZ_BUILD)/corpus/$$n; \
	  echo "fuzz: $$n for $(FUZZ_SECONDS) s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -max_len=$(FUZZ_MAX_LEN) $(FUZZ_BUILD)/corpus/$$n \
	      tests/fuzz/corpus/$$n 2>$(FUZZ_BUILD)/$$n.log || { tail -40 $(FUZZ_BUILD)/$$n.log; exit 1; }; \
	  grep -E '^(#[0-9]+ +DONE|Done)' $(FUZZ_BUILD)/$$n.log | tail -1; \
	done

demo: all
	@sh scripts/demo.sh $(CLI)

clean:
	rm -rf $(BUILD)/obj $(BUILD)/tests $(BUILD)/bench $(BUILD)/fuzz $(BUILD)/san-* \
	       $(LIB_A) $(LIB_SO) $(CLI)

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_BIN:=.d) $(BENCH_BIN:=.d)
