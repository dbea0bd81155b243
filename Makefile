# The registry's commands. `make run` and `make test` install what is missing first.
.PHONY: run test deps typecheck lint build schemas rebuild unit clean bench cluster

TESTS := $(sort $(wildcard test/*.test.ts))

# Running needs npm packages and nats-server only; the tests also need the programs they run
# (chromium, dig, HAProxy, Prometheus, Go): scripts/install-deps.sh says which.
run: DEPS_FOR := run
run: deps build
	@scripts/run.sh

test: deps build typecheck lint
	node --import tsx --test --test-concurrency=2 $(TESTS)

# dist/: the compiled client library and CLI (bin/registry.js runs it). Compiled again only
# when a source or a setting changed, so that `make run` starts at once when nothing did.
build: deps dist/.built

dist/.built: $(shell find src -type f) tsconfig.json tsconfig.build.json package-lock.json scripts/build.sh
	scripts/build.sh
	touch $@

unit: deps
	node --import tsx --test $(sort $(wildcard test/*.unit.test.ts))

deps:
	@scripts/install-deps.sh $(DEPS_FOR)

typecheck: deps
	npx --no-install tsc --noEmit

# typescript-eslint's recommended type-checked rules (eslint.config.js).
lint: deps
	npx --no-install eslint .

schemas: deps
	npx --no-install tsx src/contract/writeSchemas.ts

# Rebuilds the KV buckets in place from the event stream: writes what is missing or wrong, deletes
# what no event explains, never empties them (NATS_URL as for run).
rebuild: deps
	node --import tsx src/main.ts rebuild

# Three nats-servers on loopback (cluster/) and two registry processes with R3 storage, to try failures.
cluster: deps build
	@scripts/cluster.sh

clean:
	rm -rf data

# The benchmark suite (bench/README.md); BENCH_QUICK=1 for a short run. Installs Debian's
# etcd-server for the peer comparison when it is missing.
bench: deps
	@command -v etcd >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >/dev/null; }
	node --import tsx bench/run.ts
