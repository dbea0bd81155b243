import type { Command } from "commander";
import { defined, sequenceOrTime } from "./args.ts";
import type { Cli } from "./context.ts";
import { readDefinitionFile } from "./definitionFile.ts";
import { table } from "./format.ts";
import type { Definition } from "../contract/schemas.ts";

const source = (d: Definition) => (d.image ? `image ${d.image.name}` : d.repository ? `repo ${d.repository.url}` : "");
/** Host mappings where there are some (`8080->80`), else the ports the container listens on. */
const ports = (d: Definition) =>
  d.ports?.length
    ? d.ports.map((p) => `${p.host}->${p.internal}`).join(",")
    : (d.image?.internalPorts ?? d.repository?.internalPorts ?? (d.image?.port ? [d.image.port] : [])).join(",");

const definitionRows = (defs: Definition[]) => table(["DEFINITION ID", "SOURCE", "PORTS"], defs.map((d) => [d.id, source(d), ports(d)]));

export function definitionsCommand(program: Command, cli: Cli): void {
  const definitions = program.command("definitions").aliases(["definition", "def", "defs"]).description("what can be deployed: save, list, get, remove");
  definitions
    .command("save")
    .description("save a definition from a YAML or JSON file (checked before it is sent)")
    .argument("<file>")
    .action(
      cli.action(async (ctx, [file]) => {
        const saved = await (await ctx.client()).saveDefinition(await readDefinitionFile(file!));
        ctx.print({ definition: saved }, () => `saved definition ${saved.id}\n`);
      }),
    );
  definitions
    .command("list")
    .alias("ls")
    .description("list definitions, in id order")
    .option("--as-of <time|1h|seq>", "as they were then (folded from the events)", sequenceOrTime)
    .action(
      cli.action<{ asOf?: string | number }>(async (ctx, _, { asOf }) => {
        const definitions = await (await ctx.client()).listDefinitions(defined({ asOf }));
        ctx.printList({ definitions }, definitions, () => definitionRows(definitions), asOf !== undefined ? `no definition as of ${asOf}` : "no definitions yet: registry def save <file.yaml> saves one");
      }),
    );
  definitions
    .command("get")
    .description("show one definition")
    .argument("<id>")
    .action(
      cli.action(async (ctx, [id]) => {
        const definition = await (await ctx.client()).getDefinition(id!);
        ctx.print({ definition }, () => `${JSON.stringify(definition, null, 2)}\n`);
      }),
    );
  definitions
    .command("remove")
    .alias("rm")
    .description("remove a definition")
    .argument("<id>")
    .action(
      cli.action(async (ctx, [id]) => {
        await (await ctx.client()).removeDefinition(id!);
        ctx.print({}, () => `removed definition ${id}\n`);
      }),
    );
}
