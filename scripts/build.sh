#!/usr/bin/env bash
# dist/: the compiled modules (the client library's import, with its types) and one bundle of
# the registry command (bin/registry.js, make run), which starts in a fraction of the time the
# hundreds of modules it is made of take to load one by one.
set -euo pipefail
cd "$(dirname "$0")/.."
npx --no-install tsc -p tsconfig.build.json
cp src/http/dashboard.html dist/http/dashboard.html
# CommonJS packages inside an ES module bundle look for require, __filename and __dirname.
banner='import { createRequire as __registryRequire } from "node:module"; import { fileURLToPath as __registryPath } from "node:url"; import { dirname as __registryDir } from "node:path"; const require = __registryRequire(import.meta.url); const __filename = __registryPath(import.meta.url); const __dirname = __registryDir(__filename);'
npx --no-install esbuild src/main.ts --bundle --platform=node --format=esm --target=node20 --sourcemap \
  --outfile=dist/bundle/registry.js --banner:js="$banner" --log-level=warning
cp src/http/dashboard.html dist/bundle/dashboard.html
