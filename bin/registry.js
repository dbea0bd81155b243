#!/usr/bin/env node
// The `registry` command of the package: runs src/main.ts through tsx.
import { register } from "tsx/esm/api";

register();
await import("../src/main.ts");
