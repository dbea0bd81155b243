/** What every CLI command gets: output, the --json switch, and a client connected on first use. */
import type { NatsConnection } from "@nats-io/transport-node";
import { RegistryClient } from "../client/client.ts";
import { configFromEnv, type Config } from "../config.ts";
import { connectNats } from "../nats/index.ts";

/** Where output goes; `columns` is the terminal's width when it is one. */
export type Out = { write(text: string): void; columns?: number };

/** What each command's declaration gets from the program. */
export type Cli = {
  /** A commander action: runs `fn` with this run's context, the command's arguments and its options. */
  action<O extends object>(fn: (ctx: CliContext, args: string[], opts: O) => Promise<void>): (...received: unknown[]) => Promise<void>;
  /** Resolves at Ctrl-C or SIGTERM. */
  interrupted(): Promise<void>;
};

export class CliContext {
  #nc: NatsConnection | undefined;
  #client: RegistryClient | undefined;
  readonly config: Config;

  constructor(
    readonly out: Out,
    readonly json: boolean,
    readonly err: Out = out,
  ) {
    this.config = configFromEnv();
  }

  async nc(): Promise<NatsConnection> {
    if (!this.#nc) this.#nc = await connectNats(this.config, "registry cli");
    return this.#nc;
  }

  async client(): Promise<RegistryClient> {
    this.#client ??= new RegistryClient(await this.nc(), { prefix: this.config.prefix });
    return this.#client;
  }

  /** Prints `value` as JSON with --json, else what `human` renders. */
  print(value: unknown, human: () => string): void {
    this.out.write(this.json ? `${JSON.stringify(value, null, 2)}\n` : human());
  }

  /**
   * A list: its table, or, when it holds nothing, no headers but one line on stderr saying so
   * (`nothing`), the exit code unchanged. With --json, the JSON either way.
   */
  printList(value: unknown, items: readonly unknown[], rows: () => string, nothing: string): void {
    if (!this.json && items.length === 0) return this.err.write(`${nothing}\n`);
    this.print(value, rows);
  }

  async close(): Promise<void> {
    await this.#nc?.close();
  }
}
