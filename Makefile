# lua-xano-realtime
#
#   make                 build the C core for Lua 5.4 (build/5.4/xano/realtime/core.so)
#   make LUA=luajit      the same for LuaJIT (also lua5.1, lua5.3)
#   make test            run the specs; the last line reads "N passed, N failed"
#   make check           strict build (-Werror), then the specs
#   make demo            the support-chat story on the bundled server
#   make deps            install what is missing from Debian (as root)
#   make install         into PREFIX (or DESTDIR), LuaRocks-style variables

LUA         ?= lua5.4
PKG_CONFIG  ?= pkg-config
PREFIX      ?= /usr/local

# Lua version and headers for the chosen interpreter
ifeq ($(LUA),luajit)
  LUA_VERSION ?= 5.1
  LUA_PC      ?= luajit
else
  LUA_VERSION ?= $(patsubst lua%,%,$(LUA))
  LUA_PC      ?= lua$(LUA_VERSION)
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

BUILD       ?= build/$(LUA_VERSION)$(if $(SANITIZE),-$(SANITIZE))
SRC         := $(wildcard src/*.c)
OBJ         := $(SRC:src/%.c=$(BUILD)/obj/%.o)
MOD         := $(BUILD)/xano/realtime/core.so
BUSTED      ?= $(shell command -v busted 2>/dev/null || echo /usr/bin/busted)

all: $(MOD)

$(BUILD)/obj/%.o: src/%.c $(wildcard src/*.h)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $(WERROR) $(SANFLAGS) -fPIC -fvisibility=hidden \
	  $(LUA_CFLAGS) $(LWS_CFLAGS) -c $< -o $@

$(MOD): $(OBJ)
	@mkdir -p $(@D)
	$(CC) $(LIBFLAG) $(LDFLAGS) $(SANFLAGS) -o $@ $(OBJ) $(LWS_LIBS) -lpthread

# test and demo first install what a fresh Debian machine lacks (.ci/deps).
# The specs run against the build tree; busted's report ends with the line
# "N passed, N failed" (spec/support/summary.lua).
test:
	@bash .ci/deps
	@$(MAKE) --no-print-directory all
	XRT_BUILD=$(BUILD) XRT_LUA=$(LUA) $(LUA) $(BUSTED) $(SPEC)

check: WERROR = -Werror
check: clean all test

demo:
	@bash .ci/deps
	@$(MAKE) --no-print-directory all
	XRT_BUILD=$(BUILD) $(LUA) examples/demo.lua

deps:
	bash .ci/deps

install: all
	install -d $(DESTDIR)$(INST_LIBDIR)/xano/realtime $(DESTDIR)$(INST_LUADIR)/xano/realtime \
	  $(DESTDIR)$(INST_BINDIR)
	install -m 755 $(MOD) $(DESTDIR)$(INST_LIBDIR)/xano/realtime/core.so
	install -m 644 lua/xano/realtime.lua $(DESTDIR)$(INST_LUADIR)/xano/realtime.lua
	install -m 644 lua/xano/realtime/*.lua $(DESTDIR)$(INST_LUADIR)/xano/realtime/
	install -m 755 bin/xano-realtime-server $(DESTDIR)$(INST_BINDIR)/xano-realtime-server

clean:
	rm -rf build

.PHONY: all test check demo deps install clean
