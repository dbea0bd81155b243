/** Errors as a CLI user reads them: a hint names the registry command that does it, not a NATS subject. */
import { RegistryError } from "../contract/errors.ts";

/** The command for each operation a hint can name. */
const COMMANDS: Record<string, string> = {
  "definition.list": "registry definitions list",
  "definition.save": "registry definitions save FILE",
  "instance.list": "registry instances list",
  "instance.register": "registry instances register",
  "instance.renew": "registry instances renew ID",
  "node.list": "registry nodes list",
  "health.status": "registry health",
  "history": "registry history",
};

export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  if (!(err instanceof RegistryError) || !err.hint) return err.message;
  const command = COMMANDS[err.hint.operation];
  return command ? `${err.summary}; ${err.hint.text} with ${command}` : err.message;
}
