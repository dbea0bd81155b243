# The registry's commands. `make run` and `make test` install what is missing first.
.PHONY: run test deps typecheck build schemas rebuild unit clean bench

TESTS := $(sort $(wildcard test/*.test.ts))

run: deps build
	@scripts/run.sh

test: deps build typecheck
	node --import tsx --test --test-concurrency=2 $(TESTS)

# dist/: the compiled client library and CLI (bin/registry.js runs it).
build: deps
	npx --no-install tsc -p tsconfig.build.json

unit: deps
	node --import tsx --test $(sort $(wildcard test/*.unit.test.ts))

deps:
	@scripts/install-deps.sh

typecheck: deps
	npx --no-install tsc --noEmit

schemas: deps
	npx --no-install tsx src/contract/writeSchemas.ts

# Empties the KV buckets and replays every event into them (NATS_URL as for run).
rebuild: deps
	node --import tsx src/main.ts rebuild

clean:
	rm -rf data

bench: deps
	node --import tsx bench/heartbeats.ts 1000
