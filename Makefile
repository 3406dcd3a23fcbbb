# lua-xano-realtime
#
#   make                 build the C core for Lua 5.4 (build/5.4/xano/realtime/core.so)
#   make LUA=luajit      the same for LuaJIT (build/luajit; also lua5.1, lua5.3)
#   make test            run the specs on every Lua of TEST_LUAS (lua5.4 luajit);
#                        the last line sums the runs: "N passed, N failed"
#   make test LUA=lua5.3 SPEC=spec/x_spec.lua   one Lua, some specs
#   make embed           the game-loop host of examples/embed (Lua 5.4)
#   make check           strict build (-Werror), then the specs
#   make demo            the support-chat story on the bundled server
#   eval "$(make env)"   use this checkout from any folder: builds the core if
#                        needed (messages on stderr), then prints the exports of
#                        LUA_PATH_5_4 / LUA_CPATH_5_4 (LUA=lua5.3: the _5_3 pair;
#                        lua5.1, luajit: LUA_PATH / LUA_CPATH) and PATH (bin/),
#                        so that "lua5.4 my.lua" finds xano.realtime
#   make server          the bundled server in the foreground, configured by
#                        examples/server-config.lua: ws://127.0.0.1:8080/rt/local
#                        (PORT=9000 for another port; ADMIN_KEY=k turns on the
#                        server console); Ctrl-C stops it
#   make bench           benchmarks vs the JS SDK and raw libwebsockets (bench/README.md)
#   make deps            install what is missing from Debian (as root)
#   make sanitize        the specs on an ASan + UBSan build (see "C hygiene" below)
#   make soak MINUTES=30 the model spec (spec/model_spec.lua) for MINUTES minutes on
#                        one Lua: random sequences until the time is up; reports the
#                        process's RSS and open descriptors after a warm-up and at
#                        the end, and fails when RSS grew by more than SOAK_RSS_KIB
#                        (8 MiB) or descriptors by more than SOAK_FDS (4)
#   make tsan            the threaded specs on a TSan build
#   make valgrind        memcheck over a client's whole life
#   make fuzz            the libFuzzer targets of fuzz/, FUZZ_SECONDS each
#   make mutants         apply each deliberate breakage of tools/mutants/list.lua
#                        to a scratch copy, run the specs that must catch it, list
#                        the survivors (exit 1 if any); MUTANTS_SAMPLE=N runs N of
#                        them picked by MUTANTS_SEED (printed), MUTANTS=id,id some
#   make install         into PREFIX (or DESTDIR), LuaRocks-style variables
#   make console-screenshot   the console's browser spec alone (it writes docs/console.png)

LUA         ?= lua5.4
PKG_CONFIG  ?= pkg-config
PREFIX      ?= /usr/local

# Lua version and headers for the chosen interpreter.  LuaJIT has the 5.1
# API and installs into the 5.1 tree, but builds in its own directory: its
# headers differ from Lua 5.1's, and make would take one build for the other.
ifeq ($(LUA),luajit)
  LUA_VERSION ?= 5.1
  LUA_PC      ?= luajit
  LUA_TAG     ?= luajit
else
  LUA_VERSION ?= $(patsubst lua%,%,$(LUA))
  LUA_PC      ?= lua$(LUA_VERSION)
  LUA_TAG     ?= $(LUA_VERSION)
endif
LUA_INCDIR  ?=
LUA_CFLAGS  ?= $(if $(LUA_INCDIR),-I$(LUA_INCDIR),$(shell $(PKG_CONFIG) --cflags $(LUA_PC) 2>/dev/null))
LWS_CFLAGS  ?= $(shell $(PKG_CONFIG) --cflags libwebsockets 2>/dev/null)
LWS_LIBS    ?= $(shell $(PKG_CONFIG) --libs libwebsockets 2>/dev/null || echo -lwebsockets) \
               $(shell $(PKG_CONFIG) --libs libssl libcrypto 2>/dev/null || echo -lssl -lcrypto)

INST_LIBDIR ?= $(PREFIX)/lib/lua/$(LUA_VERSION)
INST_LUADIR ?= $(PREFIX)/share/lua/$(LUA_VERSION)
INST_BINDIR ?= $(PREFIX)/bin

CFLAGS      ?= -O2 -g
WARN        ?= -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wstrict-prototypes \
               -Wmissing-prototypes -Wpointer-arith -Wcast-qual -Wformat=2 \
               -Wundef -Wwrite-strings -Wno-unused-parameter
LIBFLAG     ?= -shared
SANITIZE    ?=

BUILD       ?= build/$(LUA_TAG)$(if $(SANITIZE),-$(SANITIZE))
SRC         := $(wildcard src/*/*.c)
# every part's folder: files include the headers of other units by name
SRC_DIRS    := $(sort $(dir $(wildcard src/*/*.h)))
SRC_INC     := $(patsubst %/,-I%,$(SRC_DIRS))
SRC_HDRS    := $(wildcard src/*/*.h src/*/*.def)
OBJ         := $(SRC:src/%.c=$(BUILD)/obj/%.o)
MOD         := $(BUILD)/xano/realtime/core.so
BUSTED      ?= $(shell command -v busted 2>/dev/null || echo /usr/bin/busted)

# the Lua interpreters a plain "make test" runs the specs on
TEST_LUAS   ?= lua5.4 luajit

# the game-loop host (examples/embed): embeds Lua 5.4, loads build/5.4
EMBED_HOST  := build/embed/xrt-host
EMBED_CFLAGS ?= $(shell $(PKG_CONFIG) --cflags lua5.4 2>/dev/null)
EMBED_LIBS  ?= $(shell $(PKG_CONFIG) --libs lua5.4 2>/dev/null || echo -llua5.4)

# $(call build_for,LUA,TAG,VERSION,PKG): the module for another Lua, in
# build/TAG, whatever this make was given for its own Lua
build_for = $(MAKE) --no-print-directory LUA=$(1) LUA_TAG=$(2) LUA_VERSION=$(3) LUA_PC=$(4) \
	LUA_INCDIR= LUA_CFLAGS="$$($(PKG_CONFIG) --cflags $(4))" SANITIZE= WERROR=$(WERROR) BUILD=build/$(2) all

all: $(MOD)

$(BUILD)/obj/%.o: src/%.c $(SRC_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $(WERROR) $(SANFLAGS) -fPIC -fvisibility=hidden \
	  $(SRC_INC) $(LUA_CFLAGS) $(LWS_CFLAGS) -c $< -o $@

$(MOD): $(OBJ)
	@mkdir -p $(@D)
	$(CC) $(LIBFLAG) $(LDFLAGS) $(SANFLAGS) -o $@ $(OBJ) $(LWS_LIBS) -lpthread

$(EMBED_HOST): examples/embed/host.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $(WERROR) $(EMBED_CFLAGS) $< -o $@ \
	  $(LDFLAGS) $(EMBED_LIBS) -lm

embed:
	@$(call build_for,lua5.4,5.4,5.4,lua5.4)
	@$(MAKE) --no-print-directory WERROR=$(WERROR) $(EMBED_HOST)

# What the host specs start besides the Lua under test: the LuaJIT build
# (nginx loads it) and the game-loop host with the Lua 5.4 build.
hosts: embed
	@$(call build_for,luajit,luajit,5.1,luajit)

# test and demo first install what a fresh Debian machine lacks (.ci/deps).
# The specs run against the build tree; busted's report ends with the line
# "N passed, N failed" (spec/support/summary.lua).  Without LUA on the
# command line, test runs once per Lua of TEST_LUAS and .ci/test-matrix
# prints the sum of the runs as the last line.
ifeq ($(origin LUA),file)
test:
	@bash .ci/deps
	@bash .ci/test-matrix '$(MAKE) --no-print-directory test WERROR=$(WERROR) SPEC="$(SPEC)"' $(TEST_LUAS)
else
test:
	@bash .ci/deps
	@$(MAKE) --no-print-directory WERROR=$(WERROR) all hosts
	XRT_BUILD=$(BUILD) XRT_LUA=$(LUA) $(LUA) $(BUSTED) $(SPEC)
endif

# The README's screenshot of the server console: the browser spec run once,
# writing its screenshot to docs/console.png (headless Debian chromium).
console-screenshot:
	XRT_CONSOLE_SCREENSHOT=docs/console.png $(MAKE) --no-print-directory test LUA=lua5.4 \
	  SPEC=spec/server_console_browser_spec.lua

MINUTES      ?= 30
SOAK_RSS_KIB ?= 8192
SOAK_FDS     ?= 4

soak:
	@bash .ci/deps
	@$(MAKE) --no-print-directory WERROR=$(WERROR) all
	XRT_MODEL_SECONDS=$$(( $(MINUTES) * 60 )) XRT_MODEL_SOAK_RSS_KIB=$(SOAK_RSS_KIB) \
	  XRT_MODEL_SOAK_FDS=$(SOAK_FDS) XRT_BUILD=$(BUILD) XRT_LUA=$(LUA) $(LUA) $(BUSTED) spec/model_spec.lua

check: WERROR = -Werror
check: clean all test

demo:
	@bash .ci/deps
	@$(MAKE) --no-print-directory all
	XRT_BUILD=$(BUILD) $(LUA) examples/demo.lua

deps:
	bash .ci/deps

# make env: the checkout's lua/ and build, for the Lua of LUA only (each
# Lua reads its versioned variables first, so a 5.4 build never reaches
# LuaJIT).  Everything but the export lines goes to stderr: the output is
# meant for eval.
CHECKOUT    := $(abspath .)
ENV_SUFFIX  := $(if $(filter 5.1,$(LUA_VERSION)),,_$(subst .,_,$(LUA_VERSION)))
env:
	@$(MAKE) --no-print-directory -s all >&2
	@echo "export LUA_PATH$(ENV_SUFFIX)='$(CHECKOUT)/lua/?.lua;$(CHECKOUT)/lua/?/init.lua;;'"
	@echo "export LUA_CPATH$(ENV_SUFFIX)='$(abspath $(BUILD))/?.so;;'"
	@echo "export PATH='$(CHECKOUT)/bin':\"\$$PATH\""

# make server: what the README's quickstart connects to.
PORT        ?= 8080
SERVER_CONFIG ?= examples/server-config.lua
server: all
	@XRT_BUILD=$(BUILD) exec $(LUA) bin/xano-realtime-server --port $(PORT) --config $(SERVER_CONFIG) \
	  $(if $(ADMIN_KEY),--admin-key '$(ADMIN_KEY)')

install: all
	install -d $(DESTDIR)$(INST_LIBDIR)/xano/realtime $(DESTDIR)$(INST_LUADIR)/xano/realtime \
	  $(DESTDIR)$(INST_LUADIR)/xano/realtime/server $(DESTDIR)$(INST_BINDIR)
	install -m 755 $(MOD) $(DESTDIR)$(INST_LIBDIR)/xano/realtime/core.so
	install -m 644 lua/xano/realtime.lua $(DESTDIR)$(INST_LUADIR)/xano/realtime.lua
	install -m 644 lua/xano/realtime/*.lua $(DESTDIR)$(INST_LUADIR)/xano/realtime/
	install -m 644 lua/xano/realtime/server/*.lua $(DESTDIR)$(INST_LUADIR)/xano/realtime/server/
	install -m 755 bin/xano-realtime-server $(DESTDIR)$(INST_BINDIR)/xano-realtime-server

# make bench: every benchmark of bench/README.md side by side (about five
# minutes; XRT_BENCH_QUICK=1 for a small run).  Installs what it lacks from
# Debian (.ci/deps plus BENCH_PACKAGES), builds this library for Lua 5.4
# and, when it can, LuaJIT, then the benchmark programs, and writes
# bench/results/*.json, bench/results/latest.png and bench/README.md.
BENCH_PACKAGES ?= gnuplot-nox
BENCH_CFLAGS   ?= -O2 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter
BENCH_TOOLS    := build/bench/relay_server build/bench/raw_client build/bench/5.4/xrt_bench.so

build/bench/relay_server: bench/relay_server.c
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) $(LWS_CFLAGS) $< -o $@ $(LWS_LIBS)

build/bench/raw_client: bench/raw_client.c
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) $(LWS_CFLAGS) $< -o $@ $(LWS_LIBS) -lm -lpthread

build/bench/5.4/xrt_bench.so: bench/benchutil.c
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -fPIC $(LIBFLAG) $$($(PKG_CONFIG) --cflags lua5.4) $< -o $@

build/bench/luajit/xrt_bench.so: bench/benchutil.c
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -fPIC $(LIBFLAG) $$($(PKG_CONFIG) --cflags luajit) $< -o $@

bench:
	@XRT_DEPS_EXTRA="$(BENCH_PACKAGES)" bash .ci/deps
	@$(MAKE) --no-print-directory LUA=lua5.4 all
	@$(MAKE) --no-print-directory $(BENCH_TOOLS)
	@{ $(MAKE) --no-print-directory LUA=luajit all && \
	   $(MAKE) --no-print-directory build/bench/luajit/xrt_bench.so; } >/dev/null 2>&1 || \
	  echo "bench: no LuaJIT build (make LUA=luajit failed): LuaJIT is left out" >&2
	XRT_BENCH_COMMAND="make bench" sh bench/run.sh

# ------------------------------------------------------------- C hygiene
# make sanitize   the core built with ASan + UBSan (build/5.4-asan), the
#                 whole suite run under it on Lua 5.4
# make tsan       the core built with TSan (build/5.4-tsan), the threaded
#                 specs (TSAN_SPECS) run under it
# make valgrind   memcheck over a client's whole life (spec/support/lifecycle.lua)
# make fuzz       each libFuzzer target of fuzz/ for FUZZ_SECONDS (default 60)
#
# lua5.4 is not instrumented.  ASan: the runtime is preloaded
# (LD_PRELOAD of gcc's libasan.so), and every process the specs start
# inherits it, which they survive; LeakSanitizer is off, since busted
# exits without closing the Lua state (leaks are make valgrind's job).
# UBSan findings abort; float-cast-overflow, which gcc leaves out of
# -fsanitize=undefined, catches a number of seconds or bytes too big for
# the integer the core keeps it in.  TSan cannot be preloaded (children
# such as /bin/sh crash under it), so make tsan builds build/5.4-tsan/lua,
# a minimal interpreter linked with the TSan runtime (tools/sanlua.c), and
# leaves out the specs that start lua5.4 itself on the build under test
# (server_cli_spec.lua).  Debian 12: gcc 12 (libasan8, libubsan1,
# libtsan2 come with it); the fuzzers need clang 14 and
# libclang-rt-14-dev, which make fuzz installs when missing.
SAN_CC       ?= gcc
ASAN_FLAGS   ?= -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=undefined,float-cast-overflow \
                -fno-omit-frame-pointer
TSAN_FLAGS   ?= -fsanitize=thread -fno-omit-frame-pointer
SAN_CFLAGS   ?= -O1 -g
ASAN_ENV     ?= ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:strict_string_checks=1 \
                UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
TSAN_ENV     ?= TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
TSAN_SPECS   ?= $(filter-out spec/server_cli_spec.lua,$(sort $(wildcard spec/client_*_spec.lua spec/server_*_spec.lua))) \
                spec/core_lifecycle_spec.lua spec/faults_spec.lua spec/flood_spec.lua spec/security_spec.lua
VALGRIND     ?= valgrind --leak-check=full --errors-for-leak-kinds=definite,possible \
                --show-leak-kinds=definite,possible --error-exitcode=1 --num-callers=30
FUZZ_CC      ?= clang
FUZZ_FLAGS   ?= -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_SECONDS ?= 60
FUZZERS      := ws http utf8 queue status
FUZZ_BUILD   := build/fuzz
FUZZ_PACKAGES ?= clang libclang-rt-14-dev

# the interpreter linked with a sanitizer runtime (SANFLAGS), in the build
$(BUILD)/lua: tools/sanlua.c
	@mkdir -p $(@D)
	$(CC) $(SAN_CFLAGS) $(SANFLAGS) $$($(PKG_CONFIG) --cflags lua5.4) $< -o $@ \
	  $$($(PKG_CONFIG) --libs lua5.4)

sanitize:
	@bash .ci/deps
	@$(MAKE) --no-print-directory LUA=lua5.4 all hosts
	@$(MAKE) --no-print-directory LUA=lua5.4 SANITIZE=asan CC=$(SAN_CC) CFLAGS="$(SAN_CFLAGS)" \
	  SANFLAGS="$(ASAN_FLAGS)" all
	$(ASAN_ENV) LD_PRELOAD=$$($(SAN_CC) -print-file-name=libasan.so) XRT_SANITIZE=asan \
	  XRT_BUILD=build/5.4-asan XRT_LUA=lua5.4 lua5.4 $(BUSTED) $(SPEC)

tsan:
	@bash .ci/deps
	@$(MAKE) --no-print-directory LUA=lua5.4 all
	@$(MAKE) --no-print-directory LUA=lua5.4 SANITIZE=tsan CC=$(SAN_CC) CFLAGS="$(SAN_CFLAGS)" \
	  SANFLAGS="$(TSAN_FLAGS)" all build/5.4-tsan/lua
	$(TSAN_ENV) XRT_SANITIZE=tsan XRT_BUILD=build/5.4-tsan XRT_LUA=build/5.4-tsan/lua \
	  build/5.4-tsan/lua $(BUSTED) $(or $(SPEC),$(TSAN_SPECS))

valgrind:
	@XRT_DEPS_EXTRA=valgrind bash .ci/deps
	@$(MAKE) --no-print-directory LUA=lua5.4 all
	$(VALGRIND) lua5.4 spec/support/lifecycle.lua build/5.4

$(FUZZ_BUILD)/%_fuzz: fuzz/%_fuzz.c src/transport/wsframe.c src/transport/http.c src/transport/queue.c $(SRC_HDRS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(SRC_INC) $(LWS_CFLAGS) $< src/transport/wsframe.c src/transport/http.c src/transport/queue.c -o $@ $(LWS_LIBS)

# Each target starts from its seeds (fuzz/corpus/NAME) and what earlier
# runs found (build/fuzz/corpus/NAME); a crash stops make and leaves its
# input in build/fuzz/NAME-crash-*.
fuzz:
	@XRT_DEPS_EXTRA="$(FUZZ_PACKAGES)" bash .ci/deps
	@$(MAKE) --no-print-directory $(FUZZERS:%=$(FUZZ_BUILD)/%_fuzz)
	@for t in $(FUZZERS); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t; \
	  echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
	  $(FUZZ_BUILD)/$${t}_fuzz -max_total_time=$(FUZZ_SECONDS) -timeout=10 -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_BUILD)/$$t- $(FUZZ_BUILD)/corpus/$$t fuzz/corpus/$$t \
	    > $(FUZZ_BUILD)/$$t.log 2>&1 || { tail -n 60 $(FUZZ_BUILD)/$$t.log; exit 1; }; \
	  grep -E '^(stat::number_of_executed_units|Done)' $(FUZZ_BUILD)/$$t.log | tail -n 1; \
	done

# ------------------------------------------------------------- mutants
# make mutants: see tools/mutants/run.lua (and docs/testing.md).  Each
# mutant runs in build/mutants/<id>, a copy of the tree with the Lua 5.4
# build; a C mutant rebuilds there.  Survivors keep their copy and log.
MUTANTS_SAMPLE  ?= 0
MUTANTS_SEED    ?=
MUTANTS         ?=
MUTANTS_TIMEOUT ?= 120

mutants:
	@bash .ci/deps
	@$(MAKE) --no-print-directory LUA=lua5.4 all
	@MUTANTS_SAMPLE="$(MUTANTS_SAMPLE)" MUTANTS_SEED="$(MUTANTS_SEED)" MUTANTS="$(MUTANTS)" \
	  MUTANTS_TIMEOUT="$(MUTANTS_TIMEOUT)" MUTANTS_BASELINE="$(MUTANTS_BASELINE)" \
	  XRT_LUA=lua5.4 BUSTED="$(BUSTED)" lua5.4 tools/mutants/run.lua

clean:
	rm -rf build

.PHONY: bench all test check demo deps env server install clean embed hosts sanitize tsan valgrind fuzz \
	mutants console-screenshot soak
