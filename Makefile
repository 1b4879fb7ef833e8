# portscope: plain make.  `make`, `make demo`, `make check`, `make SANITIZE=1 check`,
# `make install PREFIX=... DESTDIR=...`.  V=1 shows the commands.

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
MANDIR  ?= $(PREFIX)/share/man

CC      ?= cc
AR      ?= ar
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wno-format-nonliteral
ALL_CFLAGS = -std=gnu11 -D_GNU_SOURCE -pthread -Iinclude $(WARN) $(CFLAGS) -MMD -MP

ifeq ($(SANITIZE),1)
BUILD   ?= build/sanitize
ALL_CFLAGS += -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
else
BUILD   ?= build
endif

ifneq ($(V),1)
Q := @
endif

LIB_SRC  := $(wildcard src/lib/*.c)
CLI_SRC  := $(wildcard src/cli/*.c src/cli/lab/*.c)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
TOOL_SRC := $(wildcard tests/tools/*.c)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tests/%)
FUZZ_REPLAY := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/tests/%_replay)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
FUZZ_SECONDS ?= 60

# Only the program links these (exporter: HTTP; top: the terminal); the library needs libc alone.
CLI_LDLIBS := -lmicrohttpd -lncurses -pthread

LIBA := $(BUILD)/libportscope.a
BIN  := $(BUILD)/portscope

.PHONY: all build-deps demo check valgrind mutants unit e2e test-deps tools fuzz bench install uninstall clean

all: $(BIN) $(LIBA)

# The program's two libraries (libmicrohttpd, ncurses): installed as root when missing, or the command printed.
build-deps:
	$(Q)sh tests/deps.sh build

$(CLI_OBJ): | build-deps

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBA): $(LIB_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(BIN): $(CLI_OBJ) $(LIBA)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIBA) $(CLI_LDLIBS)

$(BUILD)/tests/test_%: tests/unit/test_%.c $(LIBA)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LIBA) -lcmocka

$(BUILD)/tests/%: tests/tools/%.c $(LIBA)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LIBA)

# A fuzz target built with the ordinary compiler replays its seed corpus in `make check`.
$(BUILD)/tests/fuzz_%_replay: tests/fuzz/fuzz_%.c tests/fuzz/replay_main.c $(LIBA)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< tests/fuzz/replay_main.c $(LIBA)

# libFuzzer needs clang; the library is compiled in with the same instrumentation.
build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(LIB_SRC)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  FUZZ    $<")
	$(Q)clang -std=gnu11 -D_GNU_SOURCE -Iinclude -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -o $@ $< $(LIB_SRC)

# Runs each target for FUZZ_SECONDS on a copy of its corpus (the tree is not written).
fuzz: $(FUZZ_BIN)
	$(Q)set -e; for f in $(FUZZ_BIN); do n=$${f##*/fuzz_}; \
		mkdir -p build/fuzz/corpus-$$n; cp tests/fuzz/corpus/$$n/* build/fuzz/corpus-$$n/; \
		echo "== fuzz_$$n for $(FUZZ_SECONDS) s"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -artifact_prefix=build/fuzz/$$n- \
			build/fuzz/corpus-$$n \
			2>&1 | grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::new_units_added|==[0-9]+==ERROR|SUMMARY)' || true; \
		test -z "$$(ls build/fuzz/$$n-* 2>/dev/null)" || { echo "fuzz_$$n found a crash: build/fuzz/$$n-*"; exit 1; }; \
	done

demo: $(BIN)
	$(BIN) demo

# Benchmarks: minutes, not seconds, and never part of `make check`.  BENCH_N connections.
BENCH_N ?= 100000
bench: $(BIN)
	$(BIN) bench -n $(BENCH_N) --chart build/bench-ramp.svg
	$(BIN) bench --accept-only
	bash bench/ls.sh $(BENCH_N) $(BIN)
	bash bench/observe.sh $(BENCH_N) $(BIN)

# Installs cmocka and bats when missing (as root), or says how.
test-deps:
	$(Q)sh tests/deps.sh

tools: $(TOOL_BIN)

# The test programs are built only after test-deps has installed cmocka.
unit: test-deps
	$(Q)$(MAKE) --no-print-directory $(UNIT_BIN)
	$(Q)bash tests/check.sh $(BUILD) unit

e2e: test-deps $(BIN) $(TOOL_BIN)
	$(Q)bash tests/check.sh $(BUILD) e2e

check: test-deps all
	$(Q)$(MAKE) --no-print-directory $(UNIT_BIN) $(TOOL_BIN) $(FUZZ_REPLAY)
	$(Q)bash tests/check.sh $(BUILD) all

# The same tests once more with the program under valgrind's memcheck (CI runs this).
valgrind: test-deps all
	$(Q)sh tests/deps.sh valgrind
	$(Q)$(MAKE) --no-print-directory $(UNIT_BIN) $(TOOL_BIN) $(FUZZ_REPLAY)
	$(Q)VALGRIND=1 bash tests/check.sh $(BUILD) all

# Each mutant in tests/mutants/ breaks one behaviour; the tests it names must fail (CI runs this).
mutants: test-deps
	$(Q)bash tests/mutants/run.sh

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCDIR)/portscope $(DESTDIR)$(MANDIR)/man1
	install -m 755 $(BIN) $(DESTDIR)$(BINDIR)/portscope
	install -m 644 $(LIBA) $(DESTDIR)$(LIBDIR)/libportscope.a
	install -m 644 include/portscope/*.h $(DESTDIR)$(INCDIR)/portscope/
	install -m 644 man/portscope.1 $(DESTDIR)$(MANDIR)/man1/portscope.1

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/portscope $(DESTDIR)$(LIBDIR)/libportscope.a $(DESTDIR)$(MANDIR)/man1/portscope.1
	rm -rf $(DESTDIR)$(INCDIR)/portscope

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
