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
ALL_CFLAGS = -std=gnu11 -D_GNU_SOURCE -Iinclude $(WARN) $(CFLAGS) -MMD -MP

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
CLI_SRC  := $(wildcard src/cli/*.c)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
TOOL_SRC := $(wildcard tests/tools/*.c)

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tests/%)

LIBA := $(BUILD)/libportscope.a
BIN  := $(BUILD)/portscope

.PHONY: all demo check unit e2e test-deps tools install uninstall clean

all: $(BIN) $(LIBA)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBA): $(LIB_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(BIN): $(CLI_OBJ) $(LIBA)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIBA)

$(BUILD)/tests/test_%: tests/unit/test_%.c $(LIBA)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LIBA) -lcmocka

$(BUILD)/tests/%: tests/tools/%.c $(LIBA)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LIBA)

demo: $(BIN)
	$(BIN) demo

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
	$(Q)$(MAKE) --no-print-directory $(UNIT_BIN) $(TOOL_BIN)
	$(Q)bash tests/check.sh $(BUILD) all

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
