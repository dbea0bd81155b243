/**
 * `make schemas`: writes `schemas/<Name>.schema.json` from the TypeBox definitions.
 * `renderSchemas()` is also what the drift test compares the files with.
 */
import { mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { publishedSchemas } from "./published.ts";

export const SCHEMAS_DIR = fileURLToPath(new URL("../../schemas/", import.meta.url));

export function renderSchemas(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const [name, schema] of Object.entries(publishedSchemas)) {
    const document = { $schema: "https://json-schema.org/draft/2020-12/schema", title: name, ...schema };
    files[`${name}.schema.json`] = `${JSON.stringify(document, null, 2)}\n`;
  }
  return files;
}

async function main(): Promise<void> {
  await mkdir(SCHEMAS_DIR, { recursive: true });
  const files = renderSchemas();
  for (const old of await readdir(SCHEMAS_DIR)) {
    if (old.endsWith(".schema.json") && !(old in files)) await rm(`${SCHEMAS_DIR}${old}`);
  }
  for (const [file, text] of Object.entries(files)) await writeFile(`${SCHEMAS_DIR}${file}`, text);
  process.stdout.write(`wrote ${Object.keys(files).length} schemas to schemas/\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
