#!/usr/bin/env node
// The `registry` command: the bundle of src/main.ts that make build (and npm's prepare) writes.
// Every command line goes through the CLI's declarations; serve, agent and rebuild run a
// registry process from there.
const { main } = await import("../dist/bundle/registry.js");
await main(process.argv.slice(2));
