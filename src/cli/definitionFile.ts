/**
 * Reads a definition file, YAML or JSON (JSON is YAML), and checks it against the
 * Definition schema before anything is sent, so an error names the file, the line and
 * the field.
 */
import { readFile } from "node:fs/promises";
import { LineCounter, parseDocument } from "yaml";
import { Definition } from "../contract/schemas.ts";
import { validator } from "../contract/validate.ts";
import { RegistryError } from "../contract/errors.ts";
import { UsageError } from "./args.ts";

const validDefinition = validator(Definition, "definition");

export async function readDefinitionFile(file: string): Promise<Definition> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new UsageError(`${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const [syntax] = doc.errors;
  if (syntax) {
    const at = lines.linePos(syntax.pos[0]);
    throw new UsageError(`${file}:${at.line}: not valid YAML or JSON: ${syntax.message.split("\n")[0]}`);
  }
  const value: unknown = doc.toJS();
  try {
    return validDefinition(value);
  } catch (err) {
    if (!(err instanceof RegistryError) || !err.details?.length) throw err;
    const first = err.details[0]!;
    // Point at the deepest part of the failing path that the file has.
    const path = first.path.split("/").filter(Boolean).map((k) => (/^\d+$/.test(k) ? Number(k) : k));
    let line: number | undefined;
    for (let n = path.length; n >= 0 && line === undefined; n--) {
      const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
      const range = (node as { range?: [number, number] } | undefined)?.range;
      if (range) line = lines.linePos(range[0]).line;
    }
    const more = err.details.length > 1 ? ` (and ${err.details.length - 1} more: ${err.details.slice(1).map((d) => `${d.path} ${d.message}`).join("; ")})` : "";
    throw new UsageError(`${file}${line ? `:${line}` : ""}: ${first.path} ${first.message}${more}`);
  }
}
