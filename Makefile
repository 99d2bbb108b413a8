# SPDX-License-Identifier: GPL-2.0-only
# ipsecif: route-based IPsec interfaces with an eBPF ESP data path.

CLANG    ?= clang-16
BPFTOOL  ?= bpftool
CC       ?= gcc
BUILD    := build
ARCH_INC := /usr/include/$(shell $(CC) -dumpmachine)

BPF_CFLAGS := -O2 -g -target bpf -mcpu=v3 -Wall -Werror \
	      -Iinclude -Ibpf -I$(ARCH_INC)
CFLAGS     ?= -O2 -g
CFLAGS     += -Wall -Wextra -Werror -std=gnu11 -Iinclude -Idaemon -I$(BUILD) \
	      $(shell pkg-config --cflags libnl-route-3.0 2>/dev/null)
LDLIBS_NL  := $(shell pkg-config --libs libnl-route-3.0 2>/dev/null)
LDLIBS_BPF := -lbpf -lelf -lz
LDLIBS_XDP := $(shell pkg-config --libs libxdp 2>/dev/null || echo -lxdp)

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_HDRS := $(wildcard bpf/*.h) $(wildcard include/*.h)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(BUILD)/%.bpf.o,$(BPF_SRCS))
SKELS    := $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRCS))

LIB_OBJS := $(BUILD)/keys.o $(BUILD)/mtu.o $(BUILD)/setkey.o $(BUILD)/table.o $(BUILD)/ifcmd.o $(BUILD)/ctl.o \
	    $(BUILD)/json.o
TESTS    := $(BUILD)/test_crypto $(BUILD)/test_replay $(BUILD)/test_mtu $(BUILD)/test_setkey $(BUILD)/test_table $(BUILD)/test_ifcmd $(BUILD)/test_ctl \
	    $(BUILD)/test_json $(BUILD)/test_engcipher
BENCHES  := $(BUILD)/bench_crypto $(BUILD)/bench_gen
FIXTURES := $(BUILD)/dp_fixture $(BUILD)/eng_fixture $(BUILD)/eng_redirect.bpf.o
PROGRAMS := $(BUILD)/ipsecif-agent $(BUILD)/ipsecifctl $(BUILD)/ipsecif-engine
# The agent, one noun a file (daemon/agentd.h lists them).
AGENT_OBJS := $(patsubst %,$(BUILD)/%.o,main loop log pins attach tcblock tcwatch lan iface sadb saapi script \
		events state config server show seqstore engine)
# An engine worker: the cipher (no I/O) and the AF_XDP loop.
ENGINE_OBJS := $(BUILD)/engine-main.o $(BUILD)/worker.o $(BUILD)/engcipher.o

# strongSwan's kernel-ipsecif plugin, built against the Debian source of
# the charon installed here (scripts/fetch-strongswan.sh, cached in build/).
SWAN_DIR    := $(BUILD)/strongswan
PLUGIN      := $(BUILD)/libstrongswan-kernel-ipsecif.so
PLUGIN_DIR  ?= /usr/lib/ipsec/plugins
PLUGIN_SRCS := plugin/kernel_ipsecif_plugin.c plugin/kernel_ipsecif_ipsec.c \
	       daemon/agent-client.c daemon/ctl.c

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.DELETE_ON_ERROR:
.PHONY: all deps check test bench bench-crypto bench-crossover bench-scale bench-charon demo fuzz clean install-plugin \
	soak install uninstall man-lint

FUZZ_SECONDS ?= 180
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Idaemon

all: $(BPF_OBJS) $(SKELS) $(LIB_OBJS) $(PROGRAMS) $(TESTS) $(BENCHES) $(FIXTURES) $(PLUGIN)

deps:
	$(Q)./scripts/install-deps.sh

$(BUILD):
	$(Q)mkdir -p $@

$(BUILD)/%.bpf.o: bpf/%.bpf.c $(BPF_HDRS) | $(BUILD)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $* > $@

$(BUILD)/%.o: daemon/%.c $(wildcard daemon/*.h) $(wildcard include/*.h) $(SKELS) | $(BUILD)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/test_%: tests/test_%.c tests/test.h tests/ctest.h tests/hex.h $(LIB_OBJS) $(SKELS)
	$(call msg,CCLD,$@)
	$(Q)$(CC) $(CFLAGS) -Itests $< $(LIB_OBJS) -o $@ $(LDLIBS_BPF) -lcrypto -lpthread

# The cipher's test takes engcipher.o besides what every test takes.
$(BUILD)/test_engcipher: tests/test_engcipher.c tests/test.h tests/ctest.h tests/hex.h $(LIB_OBJS) \
			 $(BUILD)/engcipher.o $(SKELS)
	$(call msg,CCLD,$@)
	$(Q)$(CC) $(CFLAGS) -Itests $< $(LIB_OBJS) $(BUILD)/engcipher.o -o $@ $(LDLIBS_BPF) -lcrypto

$(BUILD)/ipsecif-engine: $(ENGINE_OBJS)
	$(call msg,CCLD,$@)
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS_XDP) $(LDLIBS_BPF) -lcrypto

$(BUILD)/ipsecif-agent: $(AGENT_OBJS) $(BUILD)/agent-client.o $(BUILD)/netdev.o $(LIB_OBJS)
	$(call msg,CCLD,$@)
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS_BPF) $(LDLIBS_NL) -lcrypto

$(BUILD)/ipsecifctl: $(BUILD)/ipsecifctl.o $(BUILD)/agent-client.o $(BUILD)/ctl.o
	$(call msg,CCLD,$@)
	$(Q)$(CC) $(CFLAGS) $^ -o $@

$(BUILD)/dp_fixture: tests/dp_fixture.c tests/hex.h $(LIB_OBJS) $(SKELS)
	$(call msg,CCLD,$@)
	$(Q)$(CC) $(CFLAGS) -Itests $< $(LIB_OBJS) -o $@ $(LDLIBS_BPF)

# The engine worker's test: an XDP program sending every frame to the
# xsks map, and the launcher that hands a worker its file descriptors.
$(BUILD)/eng_redirect.bpf.o: tests/eng_redirect.bpf.c | $(BUILD)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/eng_fixture: tests/eng_fixture.c tests/hex.h include/ipsecif_engine.h include/ipsecif_crypto.h
	$(call msg,CCLD,$@)
	$(Q)$(CC) $(CFLAGS) -Itests $< -o $@ $(LDLIBS_BPF)

$(BUILD)/bench_%: tests/bench_%.c tests/ctest.h $(LIB_OBJS) $(SKELS)
	$(call msg,CCLD,$@)
	$(Q)$(CC) $(CFLAGS) -Itests $< $(LIB_OBJS) -o $@ $(LDLIBS_BPF) -lcrypto -lpthread

$(SWAN_DIR)/src: scripts/fetch-strongswan.sh
	$(call msg,FETCH,strongSwan source (Debian))
	$(Q)mkdir -p $(SWAN_DIR)
	$(Q)./scripts/fetch-strongswan.sh $(SWAN_DIR) > $@.new && mv $@.new $@

$(PLUGIN): $(PLUGIN_SRCS) plugin/kernel_ipsecif_plugin.h daemon/ctl.h daemon/agent.h \
	   include/ipsecif.h $(SWAN_DIR)/src
	$(call msg,CCLD,$@)
	$(Q)S=$$(cat $(SWAN_DIR)/src) && $(CC) -O2 -g -fPIC -shared -fvisibility=hidden \
		-Wall -Wextra -Wno-unused-parameter -Werror -std=gnu11 \
		-include $$S/config.h -I$$S/src/libstrongswan -I$$S/src/libcharon \
		-Iinclude -Idaemon $(PLUGIN_SRCS) -o $@

# The lossless-rekey test for SOAK_SECONDS (30 minutes), with its figures.
SOAK_SECONDS ?= 1800
soak: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)IPSECIF_SOAK_SECONDS=$(SOAK_SECONDS) /usr/bin/python3 -m pytest -q -s \
		-p no:cacheprovider tests/test_ike_rekey.py::test_rekey_soak

# Into charon's plugin folder; charon loads it when strongswan.conf names it
# ahead of kernel-netlink (docs/STRONGSWAN.md).
install-plugin: $(PLUGIN)
	$(Q)install -m 0644 $(PLUGIN) $(PLUGIN_DIR)/

# make install [DESTDIR=...] [PREFIX=/usr/local] [sbindir=...] ...: the
# programs, the charon plugin and its strongswan.d snippet, the systemd
# units (the agent's, and a timer that keeps node_exporter's textfile
# current), an example configuration (never over an existing one), the manual
# pages and the bash completion.  make uninstall removes what it put
# there, except a configuration that was changed.
PREFIX        ?= /usr/local
prefix        ?= $(PREFIX)
exec_prefix   ?= $(prefix)
sbindir       ?= $(exec_prefix)/sbin
datarootdir   ?= $(prefix)/share
mandir        ?= $(datarootdir)/man
sysconfdir    ?= /etc
unitdir       ?= $(prefix)/lib/systemd/system
bashcompdir   ?= $(datarootdir)/bash-completion/completions
swanconfdir   ?= $(sysconfdir)/strongswan.d/charon
# node_exporter's textfile collector folder (Debian's prometheus-node-exporter).
textfiledir   ?= /var/lib/prometheus/node-exporter
UNITS := ipsecif-agent.service ipsecif-metrics.service ipsecif-metrics.timer
MAN8 := man/ipsecifctl.8 man/ipsecif-agent.8 man/ipsecif-engine.8
MAN5 := man/ipsecif.conf.5
MAN7 := man/ipsecif.7
MANS := $(MAN8) $(MAN5) $(MAN7)
INSTALL ?= install

install: $(PROGRAMS) $(PLUGIN)
	$(call msg,INSTALL,$(DESTDIR)$(prefix))
	$(Q)$(INSTALL) -d $(DESTDIR)$(sbindir) $(DESTDIR)$(PLUGIN_DIR) $(DESTDIR)$(swanconfdir) \
		$(DESTDIR)$(unitdir) $(DESTDIR)$(sysconfdir) $(DESTDIR)$(mandir)/man8 \
		$(DESTDIR)$(mandir)/man5 $(DESTDIR)$(mandir)/man7 $(DESTDIR)$(bashcompdir)
	$(Q)$(INSTALL) -m 0755 $(PROGRAMS) $(DESTDIR)$(sbindir)/
	$(Q)$(INSTALL) -m 0644 $(PLUGIN) $(DESTDIR)$(PLUGIN_DIR)/
	$(Q)$(INSTALL) -m 0644 scripts/kernel-ipsecif.conf $(DESTDIR)$(swanconfdir)/
	$(Q)for u in $(UNITS); do \
		sed -e 's|@sbindir@|$(sbindir)|g' -e 's|@sysconfdir@|$(sysconfdir)|g' \
		    -e 's|@textfiledir@|$(textfiledir)|g' scripts/$$u > $(DESTDIR)$(unitdir)/$$u && \
		chmod 0644 $(DESTDIR)$(unitdir)/$$u || exit 1; \
	done
	$(Q)[ -e $(DESTDIR)$(sysconfdir)/ipsecif.conf ] || \
		$(INSTALL) -m 0600 scripts/ipsecif.conf $(DESTDIR)$(sysconfdir)/ipsecif.conf
	$(Q)$(INSTALL) -m 0644 $(MAN8) $(DESTDIR)$(mandir)/man8/
	$(Q)$(INSTALL) -m 0644 $(MAN5) $(DESTDIR)$(mandir)/man5/
	$(Q)$(INSTALL) -m 0644 $(MAN7) $(DESTDIR)$(mandir)/man7/
	$(Q)$(INSTALL) -m 0644 scripts/ipsecifctl.bash-completion $(DESTDIR)$(bashcompdir)/ipsecifctl
	$(Q)ln -sf ipsecifctl $(DESTDIR)$(bashcompdir)/ipsecif-agent

uninstall:
	$(call msg,UNINSTALL,$(DESTDIR)$(prefix))
	$(Q)rm -f $(addprefix $(DESTDIR)$(sbindir)/,$(notdir $(PROGRAMS))) \
		$(DESTDIR)$(PLUGIN_DIR)/$(notdir $(PLUGIN)) \
		$(DESTDIR)$(swanconfdir)/kernel-ipsecif.conf \
		$(addprefix $(DESTDIR)$(unitdir)/,$(UNITS)) \
		$(addprefix $(DESTDIR)$(mandir)/man8/,$(notdir $(MAN8))) \
		$(addprefix $(DESTDIR)$(mandir)/man5/,$(notdir $(MAN5))) \
		$(addprefix $(DESTDIR)$(mandir)/man7/,$(notdir $(MAN7))) \
		$(DESTDIR)$(bashcompdir)/ipsecifctl $(DESTDIR)$(bashcompdir)/ipsecif-agent
	$(Q)! cmp -s scripts/ipsecif.conf $(DESTDIR)$(sysconfdir)/ipsecif.conf || \
		rm -f $(DESTDIR)$(sysconfdir)/ipsecif.conf

# The manual pages, as mandoc's linter sees them (make check runs it).
man-lint:
	$(call msg,LINT,$(MANS))
	$(Q)mandoc -Tlint -W warning $(MANS)

# Everything the tests need is installed first, so this works on a fresh machine.
check: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(MAKE) --no-print-directory man-lint
	$(Q)$(MAKE) --no-print-directory test

test: $(TESTS) $(FIXTURES) $(PROGRAMS)
	$(Q)./scripts/run-tests.sh --pytest tests $(TESTS)

bench-crypto: deps
	$(Q)$(MAKE) --no-print-directory $(BENCHES)
	$(Q)mkdir -p $(BUILD)/bench
	$(Q)$(BUILD)/bench_crypto --json $(BUILD)/bench/crypto.json

# ipsecif beside plain routing, XDP forwarding, wireguard-go and strongSwan's
# kernel-libipsec, in namespaces (scripts/bench.py; BENCH_ARGS="--reps 3 --seconds 10
# --cases ..." and so on; docs/BENCHMARKS.md).  make check runs its --smoke.
# The wireguard-go a Debian user installs today: bookworm-backports', pinned,
# unpacked under build/ (scripts/fetch-backports.sh), never installed.
WG_GO_VERSION := 0.0.20231211-1~bpo12+1
BACKPORTS     := $(BUILD)/backports

$(BACKPORTS)/root/.wireguard-go-$(WG_GO_VERSION): scripts/fetch-backports.sh scripts/apt-private.sh
	$(Q)./scripts/fetch-backports.sh $(BACKPORTS) wireguard-go=$(WG_GO_VERSION) >/dev/null

bench: deps $(BACKPORTS)/root/.wireguard-go-$(WG_GO_VERSION)
	$(Q)$(MAKE) --no-print-directory all
	$(Q)WG_GO=$(BACKPORTS)/root/usr/bin/wireguard-go WG_GO_VERSION=$(WG_GO_VERSION) \
		/usr/bin/python3 scripts/bench.py $(BENCH_ARGS)

# Where the engine starts to pay, per suite and size (scripts/bench_crossover.py,
# CROSSOVER_ARGS; docs/BENCHMARKS.md "The engine").
bench-crossover: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)/usr/bin/python3 scripts/bench_crossover.py $(CROSSOVER_ARGS)

# 4,096 interfaces on one agent, set up one ipsecifctl command per step:
# ms per interface as they grow, show and flush times, memory, an agent
# restart under a ping (scripts/bench_scale.py; SCALE_ARGS="--max 1024",
# "--tc-hook block" as a hub runs, and so on; docs/BENCHMARKS.md "Scale").
bench-scale: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)/usr/bin/python3 scripts/bench_scale.py $(SCALE_ARGS)

# 1,000 tunnels keyed by charon through the kernel-ipsecif plugin, one IKE_SA
# each, between two gateways: the time until all are up, pings over a sample
# with their SAs' counters, RSS, the teardown (scripts/bench_charon.py, with
# bench_scale.py's helpers; CHARON_ARGS="--tunnels 100"; docs/BENCHMARKS.md).
bench-charon: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)/usr/bin/python3 scripts/bench_charon.py $(CHARON_ARGS)

# The NetBSD ipsecif(4) page's four hosts, live (SUITE=..., KEEP=1: scripts/demo.sh).
demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)./scripts/demo.sh

# The parsers under libFuzzer, with ASan and UBSan, for FUZZ_SECONDS each:
# fuzz-setkey (setkey scripts), fuzz-ctl (control messages and what they carry).
FUZZ_SRCS := daemon/setkey.c daemon/keys.c daemon/ctl.c daemon/ifcmd.c daemon/table.c \
	     daemon/mtu.c

fuzz: fuzz-setkey fuzz-ctl

fuzz-%: deps
	$(Q)mkdir -p $(BUILD)/fuzz/$*-corpus
	$(call msg,FUZZ,$(BUILD)/fuzz/$*)
	$(Q)$(CLANG) $(FUZZ_FLAGS) tests/fuzz_$*.c $(FUZZ_SRCS) -o $(BUILD)/fuzz/$* -lbpf
	$(Q)cp tests/$*-seeds/* $(BUILD)/fuzz/$*-corpus/
	$(Q)$(BUILD)/fuzz/$* -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
		$(BUILD)/fuzz/$*-corpus

clean:
	$(call msg,CLEAN,$(BUILD))
	$(Q)rm -rf $(BUILD)
