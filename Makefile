# tsnet: `make run` runs the plugin, `make test` runs every test tier this machine can run.
# Both install what they need first (see README.md, "Set-up").

SHELL := /bin/bash
NODE_BIN := node_modules/.bin
SYSTEM_PACKAGES := docker.io iptables busybox-static iproute2 util-linux conntrack
SOURCES := $(shell find src test bench -name '*.ts' 2>/dev/null)

.PHONY: all deps system-deps build run test check-layers test-unit test-netns test-docker clean

all: build

# Debian packages the product and the tests call (only installs what is missing; needs root).
system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: node_modules/.package-lock.json

# dist/ is made anew: a test file that was moved or deleted must not linger there and still run.
dist/.built: node_modules/.package-lock.json tsconfig.json $(SOURCES)
	rm -rf dist
	$(NODE_BIN)/tsc -p tsconfig.json
	@touch $@

build: dist/.built

run: system-deps build
	node --max-semi-space-size=1 dist/src/main.js

test: system-deps build check-layers test-unit test-netns test-docker

# The import layers of src/ (.dependency-cruiser.js, README.md "Layout"): no import runs upward.
check-layers: deps
	$(NODE_BIN)/depcruise src --config .dependency-cruiser.js

test-unit: build
	$(NODE_BIN)/mocha --reporter dot 'dist/test/unit/**/*.test.js' 'dist/test/api/**/*.test.js'

# The data-path tier: each test file in a fresh private network namespace of its own (one `unshare --net`
# per file), so whatever a file creates dies with it and no file sees another's. Ends with the line
# `N passed, N failed[, N skipped]`.
test-netns: build
	node dist/test/run-netns-tier.js

# The product against real dockerds, once per engine in DOCKER_ENGINE (default both):
#   20  Debian 12's docker.io 20.10 (/usr/sbin/dockerd)
#   28  Docker 28.5.2 + containerd 2.1.9 from Debian unstable, fetched once into ENGINE_CACHE
# `make test-docker DOCKER_ENGINE=28` runs one. Every engine runs even when one fails; the target fails then.
DOCKER_ENGINE ?= 20 28
ENGINE_CACHE ?= $(CURDIR)/.cache/docker-28.5.2
DOCKER_TIER = $(NODE_BIN)/mocha --reporter spec --timeout 180000 'dist/test/docker/**/*.test.js'

.PHONY: test-docker-20 test-docker-28 docker-engine-28
test-docker: build
	@rc=0; for e in $(DOCKER_ENGINE); do $(MAKE) --no-print-directory test-docker-$$e || rc=1; done; exit $$rc

test-docker-20: build
	@echo "== docker tier on Debian's docker.io: $$(/usr/sbin/dockerd --version)"
	$(DOCKER_TIER)

test-docker-28: build docker-engine-28
	@echo "== docker tier on $$($(ENGINE_CACHE)/root/usr/sbin/dockerd --version) ($(ENGINE_CACHE))"
	TSNET_TEST_ENGINE_DIR=$(ENGINE_CACHE)/root $(DOCKER_TIER)

docker-engine-28:
	scripts/fetch-docker-engine.sh $(ENGINE_CACHE)

clean:
	rm -rf dist

# ---- managed plugin (README.md, "Managed plugin") -----------------------------------------------------------
# `make plugin` assembles plugin/build/tsnet (config.json + rootfs) and runs `docker plugin create`;
# `make plugin-enable` starts it. An existing plugin of that name is replaced only with PLUGIN_FORCE=1
# (its `docker plugin set` settings go with it; the state directory stays).
PLUGIN_NAME ?= tsnet
PLUGIN_DIR ?= plugin/build/tsnet
PLUGIN_FORCE ?= 0
DOCKER ?= docker

.PHONY: plugin plugin-enable

plugin: system-deps build
	@if $(DOCKER) plugin inspect $(PLUGIN_NAME) >/dev/null 2>&1 && [ "$(PLUGIN_FORCE)" != 1 ]; then \
	  echo "plugin $(PLUGIN_NAME) already exists: 'make plugin PLUGIN_FORCE=1' replaces it (docker plugin rm -f), or choose PLUGIN_NAME=..." >&2; \
	  exit 1; \
	fi
	plugin/build.sh $(PLUGIN_DIR)
	@if $(DOCKER) plugin inspect $(PLUGIN_NAME) >/dev/null 2>&1; then \
	  echo "$(DOCKER) plugin rm -f $(PLUGIN_NAME)"; $(DOCKER) plugin rm -f $(PLUGIN_NAME); \
	fi
	mkdir -p /var/lib/tsnet   # default source of the plugin's state mount, which must exist
	$(DOCKER) plugin create $(PLUGIN_NAME) $(PLUGIN_DIR)

plugin-enable:
	$(DOCKER) plugin enable $(PLUGIN_NAME)

# ---- socket install (README.md, "Installing as a service") ---------------------------------------------------
PREFIX ?= /opt/tsnet
# The operator's command (README.md, "Troubleshooting") goes here, on the PATH.
BINDIR ?= /usr/local/bin

.PHONY: install
install: system-deps build
	mkdir -p $(PREFIX)
	rm -rf $(PREFIX)/dist $(PREFIX)/node_modules
	cp -a dist package.json package-lock.json README.md $(PREFIX)/
	cd $(PREFIX) && npm ci --omit=dev --no-audit --no-fund
	install -m 0644 systemd/tsnet.service /etc/systemd/system/tsnet.service
	printf '#!/bin/sh\nexec node $(PREFIX)/dist/src/cli/main.js "$$@"\n' > $(BINDIR)/tsnet && chmod 0755 $(BINDIR)/tsnet
	@echo "installed the tsnet command as $(BINDIR)/tsnet (tsnet --help)"
	@echo "now: systemctl daemon-reload && systemctl enable --now tsnet"

# ---- benchmarks (README.md, "Benchmarks") ---------------------------------------------------------------------
# `make bench` runs every bench with its modest defaults (a few minutes each on 2 cores); each prints a markdown
# table and the exact command. Sizes: BENCH_ROUNDS, BENCH_CREATES, BENCH_CYCLES, BENCH_ENDPOINTS, ... (see README).
# `make bench-vxlan` runs only the VXLAN bench (3-node Swarm; BENCH_REPS, BENCH_SECONDS, BENCH_SERVICE_REPS).
.PHONY: bench bench-deps bench-vxlan bench-vip

# iperf3 is a bench-only dependency (not in SYSTEM_PACKAGES: `make test` does not need it).
bench-deps: system-deps build
	@command -v iperf3 >/dev/null 2>&1 || { echo "installing iperf3"; apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iperf3; }

bench: bench-deps
	unshare --net -- node dist/bench/rpc.js   # its tsnet daemon gets a private network stack
	node dist/bench/bridge.js
	node dist/bench/macvlan.js
	node dist/bench/vxlan.js
	node dist/bench/vip.js
	node dist/bench/soak.js
	node dist/bench/reconcile.js

bench-vxlan: bench-deps
	node dist/bench/vxlan.js

bench-vip: bench-deps
	node dist/bench/vip.js
