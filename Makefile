# memwarden — a tiny PID 1 that keeps a service inside its memory limit.
#
#   make            build/memwarden (static)
#   make SYSTEMD=1  and build/systemd/memwarden (libsystemd: journal, sd_notify)
#   make test       install what the tests need (as root), build, run every tier
#   make install    PREFIX=/usr/local LIBDIR=$(PREFIX)/lib/memwarden DESTDIR=
#
# Build output goes to build/. The release binary is linked statically so it
# runs in any image; the test build (build/san/) is dynamically linked with
# AddressSanitizer and UndefinedBehaviorSanitizer, which cannot be static.

VERSION    := 0.1.0
PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib/memwarden
BINDIR     ?= $(PREFIX)/bin
DESTDIR    ?=

CC         ?= cc
WARN       := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
              -Wformat=2 -Wno-format-nonliteral -Wvla
CPPFLAGS   += -Iinclude -D_GNU_SOURCE -DMEMWARDEN_VERSION='"$(VERSION)"' \
              -DMEMWARDEN_LIBDIR='"$(LIBDIR)"'
CFLAGS     ?= -O2 -g
CFLAGS     += -std=gnu11 $(WARN) -fno-common
SANFLAGS   := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

SRC        := $(wildcard src/*.c)
LIBSRC     := $(filter-out src/main.c,$(SRC))
OBJ        := $(SRC:src/%.c=build/obj/%.o)
SANOBJ     := $(SRC:src/%.c=build/san/obj/%.o)
SANLIBOBJ  := $(LIBSRC:src/%.c=build/san/obj/%.o)
LIBS       := -l:libinih.a -l:libcgroup.a

# The release binary is built with musl when musl-gcc is there (Debian's
# musl-tools; tests/deps.sh installs it): a static musl memwarden is a
# third of the resident size of a static glibc one (bench/README.md).
# Without it, glibc. Debian's libinih.a is linked into both; for musl it
# needs glibc's ctype table (src/musl/inih_ctype.c) and ini.h alone on the
# include path, without the rest of glibc's headers. So is libcgroup.a,
# which needs glibc's _FORTIFY_SOURCE functions (src/musl/glibc_fortify.c).
MUSL_GCC   := $(shell command -v musl-gcc 2>/dev/null)
INIH_A     := $(shell $(CC) -print-file-name=libinih.a)
CGROUP_A   := $(shell $(CC) -print-file-name=libcgroup.a)
ifneq ($(MUSL_GCC),)
RELEASE_CC    := $(MUSL_GCC)
RELEASE_FLAGS := -Ibuild/musl-include
RELEASE_EXTRA := build/obj/musl_inih_ctype.o build/obj/musl_glibc_fortify.o
RELEASE_DEPS  := build/musl-include/ini.h build/musl-include/libcgroup.h
else
RELEASE_CC    := $(CC)
RELEASE_FLAGS :=
RELEASE_EXTRA :=
RELEASE_DEPS  :=
endif

UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=build/unit/%)
WORKLOAD_SRC := $(wildcard tests/workloads/*.c)
WORKLOAD_BIN := $(WORKLOAD_SRC:tests/workloads/%.c=build/workloads/%)

.PHONY: all container vm demo test test-build unit integration install clean format lint tidy template check-template

all: build/memwarden build/memwarden-agent.so

build/memwarden: $(OBJ) $(RELEASE_EXTRA)
	$(RELEASE_CC) $(CFLAGS) -static -o $@ $(OBJ) $(RELEASE_EXTRA) $(INIH_A) $(CGROUP_A)

build/obj/%.o: src/%.c $(wildcard include/*.h) $(RELEASE_DEPS) | build/obj
	$(RELEASE_CC) $(CPPFLAGS) $(RELEASE_FLAGS) $(CFLAGS) -c -o $@ $<

build/obj/musl_%.o: src/musl/%.c | build/obj
	$(RELEASE_CC) $(CFLAGS) -c -o $@ $<

build/musl-include/ini.h: /usr/include/ini.h
	mkdir -p build/musl-include
	ln -sf /usr/include/ini.h $@

build/musl-include/libcgroup.h: /usr/include/libcgroup.h
	mkdir -p build/musl-include
	ln -sfn /usr/include/libcgroup build/musl-include/libcgroup
	ln -sf /usr/include/libcgroup.h $@

# The agent (SPEC section 6): a small preloaded library of its own, with no
# dependency on the rest of memwarden but the wire format in agent_proto.h.
build/memwarden-agent.so: src/agent/agent.c include/agent_proto.h | build/obj
	$(CC) -std=gnu11 $(WARN) -O2 -g -fPIC -shared -fvisibility=hidden -D_GNU_SOURCE \
		-Iinclude -o $@ src/agent/agent.c -ldl -pthread

# The sanitizer build of memwarden itself, for the integration tier.
build/san/memwarden: $(SANOBJ)
	$(CC) $(SANFLAGS) -o $@ $(SANOBJ) $(LIBS)

build/san/obj/%.o: src/%.c $(wildcard include/*.h) | build/san/obj
	$(CC) $(CPPFLAGS) -std=gnu11 $(WARN) $(SANFLAGS) -c -o $@ $<

# A plain dynamic build for valgrind, which cannot follow a static binary's
# malloc nor run under AddressSanitizer.
VGOBJ      := $(SRC:src/%.c=build/vg/obj/%.o)
build/vg/memwarden: $(VGOBJ)
	$(CC) -O1 -g -o $@ $(VGOBJ) $(LIBS)

build/vg/obj/%.o: src/%.c $(wildcard include/*.h) | build/vg/obj
	$(CC) $(CPPFLAGS) -std=gnu11 $(WARN) -O1 -g -c -o $@ $<

# `make SYSTEMD=1` builds build/systemd/memwarden as well: the build with
# libsystemd, for the journal target ([log] target = journal) and sd_notify
# to systemd when memwarden itself is a Type=notify service (SPEC sections 7
# and 10). It is linked with glibc and dynamically: Debian's libsystemd-dev
# ships libsystemd.so only, no static archive. `make install SYSTEMD=1`
# installs it as memwarden; test-build builds it whenever libsystemd-dev
# is installed, for tests/integration/test_journal.py.
HAVE_LIBSYSTEMD := $(wildcard /usr/include/systemd/sd-journal.h)
SDOBJ      := $(SRC:src/%.c=build/systemd/obj/%.o)
INSTALL_BIN := build/memwarden
ifeq ($(SYSTEMD),1)
ifeq ($(HAVE_LIBSYSTEMD),)
$(error SYSTEMD=1 needs libsystemd's headers: apt-get install libsystemd-dev)
endif
INSTALL_BIN := build/systemd/memwarden
all: build/systemd/memwarden
endif
test-build: $(if $(HAVE_LIBSYSTEMD),build/systemd/memwarden)

build/systemd/memwarden: $(SDOBJ)
	$(CC) $(CFLAGS) -o $@ $(SDOBJ) $(LIBS) -lsystemd

build/systemd/obj/%.o: src/%.c $(wildcard include/*.h)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -DMEMWARDEN_JOURNAL $(CFLAGS) -c -o $@ $<

build/san/libmemwarden.a: $(SANLIBOBJ)
	rm -f $@ && ar rcs $@ $(SANLIBOBJ)

build/unit/%: tests/unit/%.c build/san/libmemwarden.a | build/unit
	$(CC) $(CPPFLAGS) -std=gnu11 $(WARN) $(SANFLAGS) -o $@ $< build/san/libmemwarden.a \
		-lcmocka $(LIBS)

# Test workloads: small C programs the integration tests run as services.
build/workloads/%: tests/workloads/%.c | build/workloads
	$(CC) -std=gnu11 -O1 -g -Wall -Wextra -Werror -D_GNU_SOURCE -pthread -o $@ $<

build/obj build/san/obj build/vg/obj build/unit build/workloads:
	mkdir -p $@

test-build: build/memwarden build/memwarden-agent.so build/san/memwarden build/vg/memwarden $(UNIT_BIN) $(WORKLOAD_BIN)

unit: $(UNIT_BIN)
	tests/run-unit.sh $(UNIT_BIN)

# A demonstration on this machine (needs root for its PID namespace).
demo:
	tests/deps.sh
	$(MAKE) build/memwarden build/memwarden-agent.so build/workloads/memhog build/workloads/fragment build/workloads/leaker
	tests/demo.sh

# `make test` first installs what is missing (it needs root for that),
# then builds and runs every tier and prints one summary line.
test:
	tests/run-all.sh

# One tier alone: real containers with podman (needs root).
container: build/memwarden
	python3 tests/container/run.py

# One tier alone: cgroup v2 in a qemu VM (needs root for its setup).
vm: build/memwarden
	python3 tests/vm/run.py

# Fuzzing (tests/fuzz/README.md): libFuzzer targets built with clang,
# against build/fuzz/, the src/ objects compiled by clang with coverage
# instrumentation, ASan and UBSan. `make fuzz` runs each target
# FUZZ_SECONDS (FUZZ_TARGETS="config notify" for some); `make test` runs
# each briefly through tests/run-fuzz.sh.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
FUZZFLAGS  := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all \
              -fno-omit-frame-pointer
FUZZOBJ    := $(LIBSRC:src/%.c=build/fuzz/obj/%.o)
FUZZ_BIN   := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))

build/fuzz/obj/%.o: src/%.c $(wildcard include/*.h) | build/fuzz/obj
	$(FUZZ_CC) $(CPPFLAGS) -std=gnu11 $(filter-out -Werror,$(WARN)) $(FUZZFLAGS) \
		-fsanitize=fuzzer-no-link -c -o $@ $<

build/fuzz/libmemwarden.a: $(FUZZOBJ)
	rm -f $@ && ar rcs $@ $(FUZZOBJ)

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h build/fuzz/libmemwarden.a
	$(FUZZ_CC) $(CPPFLAGS) -std=gnu11 $(WARN) $(FUZZFLAGS) -fsanitize=fuzzer -o $@ $< \
		build/fuzz/libmemwarden.a $(LIBS)

build/fuzz/obj:
	mkdir -p $@

.PHONY: fuzz fuzz-build
fuzz-build: $(FUZZ_BIN)

fuzz:
	tests/run-fuzz.sh -t $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# etc/memwarden.ini is generated from the schema in src/config.c.
template: build/memwarden
	build/memwarden check --template > etc/memwarden.ini

# The bundled jemalloc (SPEC section 5): the system's libjemalloc.so.2
# (Debian's libjemalloc2), copied into LIBDIR where `[allocator] jemalloc =
# auto` looks first; the agent beside it, where `agent = auto` looks.
JEMALLOC_SO := $(shell $(CC) -print-file-name=libjemalloc.so.2)

# The man pages go to MANDIR: memwarden(8) and memwarden.ini(5).
MANDIR     ?= $(PREFIX)/share/man

install: $(INSTALL_BIN) build/memwarden-agent.so
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5
	install -m 0755 $(INSTALL_BIN) $(DESTDIR)$(BINDIR)/memwarden
	install -m 0644 build/memwarden-agent.so $(DESTDIR)$(LIBDIR)/memwarden-agent.so
	@test -f "$(JEMALLOC_SO)" || { echo "install: libjemalloc.so.2 not found (apt-get install libjemalloc2)" >&2; exit 1; }
	install -m 0644 $(JEMALLOC_SO) $(DESTDIR)$(LIBDIR)/libjemalloc.so.2
	install -m 0644 man/memwarden.8 $(DESTDIR)$(MANDIR)/man8/memwarden.8
	install -m 0644 man/memwarden.ini.5 $(DESTDIR)$(MANDIR)/man5/memwarden.ini.5

# man/memwarden.ini.5's keys are generated from the schema in src/config.c,
# like etc/memwarden.ini (man/gen-ini.sh); the rest of both pages is written
# by hand. Phony: man/ is a directory.
.PHONY: man
man: build/memwarden
	man/gen-ini.sh build/memwarden man/memwarden.ini.5 > build/memwarden.ini.5
	mv build/memwarden.ini.5 man/memwarden.ini.5

format:
	clang-format -i src/*.c src/agent/*.c src/musl/*.c include/*.h tests/unit/*.c tests/workloads/*.c \
		tests/container/workloads/*.c tests/vm/workloads/*.c

# clang-tidy with the checks in .clang-tidy (warnings are errors).
tidy:
	clang-tidy --quiet $(SRC) src/agent/agent.c -- $(CPPFLAGS) -std=gnu11

lint:
	cppcheck -q --error-exitcode=1 --enable=warning,performance,portability \
		--inline-suppr -Iinclude -D_GNU_SOURCE src

clean:
	rm -rf build
