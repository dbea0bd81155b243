import { parseArgs, str, UsageError } from "./args.ts";
import { asOfArg } from "./history.ts";
import type { CliContext } from "./context.ts";
import { readDefinitionFile } from "./definitionFile.ts";
import { table } from "./format.ts";
import type { Definition } from "../contract/schemas.ts";

export const DEFINITIONS_HELP = `registry definitions|definition|def <verb>

  save FILE       save a definition from a YAML or JSON file
  list | ls [--as-of TIME|1h|SEQ]   list definitions (as they were then)
  get ID          show one definition
  remove | rm ID  remove a definition

Options: --json (the JSON the NATS API returns), --help
`;

const source = (d: Definition) => (d.image ? `image ${d.image.name}` : d.repository ? `repo ${d.repository.url}` : "");
/** Host mappings where there are some (`8080->80`), else the ports the container listens on. */
const ports = (d: Definition) =>
  d.ports?.length
    ? d.ports.map((p) => `${p.host}->${p.internal}`).join(",")
    : (d.image?.internalPorts ?? d.repository?.internalPorts ?? (d.image?.port ? [d.image.port] : [])).join(",");

const definitionRows = (defs: Definition[]) => table(["DEFINITION ID", "SOURCE", "PORTS"], defs.map((d) => [d.id, source(d), ports(d)]));

export async function definitionsCommand(argv: string[], ctx: CliContext): Promise<void> {
  const p = parseArgs(argv, { values: ["as-of"] });
  const [verb, arg] = p.positionals;
  if (p.flags.help || !verb) return void ctx.out.write(DEFINITIONS_HELP);
  const need = (what: string) => {
    if (!arg) throw new UsageError(`definitions ${verb} needs ${what}; see registry definitions --help`);
    return arg;
  };
  switch (verb) {
    case "save": {
      const definition = await readDefinitionFile(need("a FILE"));
      const saved = await (await ctx.client()).saveDefinition(definition);
      return ctx.print({ definition: saved }, () => `saved definition ${saved.id}\n`);
    }
    case "list":
    case "ls": {
      const asOf = asOfArg(str(p, "as-of"));
      const definitions = await (await ctx.client()).listDefinitions(asOf !== undefined ? { asOf } : {});
      return ctx.print({ definitions }, () => definitionRows(definitions));
    }
    case "get": {
      const definition = await (await ctx.client()).getDefinition(need("an ID"));
      return ctx.print({ definition }, () => `${JSON.stringify(definition, null, 2)}\n`);
    }
    case "remove":
    case "rm":
      await (await ctx.client()).removeDefinition(need("an ID"));
      return ctx.print({}, () => `removed definition ${arg}\n`);
    default:
      throw new UsageError(`unknown verb "${verb}" for definitions; see registry definitions --help`);
  }
}
