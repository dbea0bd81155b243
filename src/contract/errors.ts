/**
 * The one error family of the registry. `code` is the wire code: it becomes the
 * `Nats-Service-Error-Code` header and `error.code` in the reply body.
 */
export type ErrorCode = 400 | 401 | 403 | 404 | 409 | 413 | 415 | 421 | 500 | 503; // 415 and 421: the HTTP face only

export type ErrorDetail = { path: string; message: string };

/**
 * What to do next, as the operation that does it ("list them" with `instance.list`). The
 * message names its NATS subject; the CLI and the HTTP face name their own command or route.
 */
export type ErrorHint = { text: string; operation: string };

/** How the NATS face words a hint: the message's own end. */
const hintSuffix = (hint: ErrorHint) => `; ${hint.text} with registry.${hint.operation}`;

export class RegistryError extends Error {
  readonly code: ErrorCode;
  readonly details?: ErrorDetail[];
  readonly hint?: ErrorHint;
  /** The message without its hint. */
  readonly summary: string;

  constructor(code: ErrorCode, summary: string, opts: { details?: ErrorDetail[]; cause?: unknown; hint?: ErrorHint } = {}) {
    super(opts.hint ? summary + hintSuffix(opts.hint) : summary, { cause: opts.cause });
    this.name = "RegistryError";
    this.code = code;
    this.summary = summary;
    if (opts.details) this.details = opts.details;
    if (opts.hint) this.hint = opts.hint;
  }

  /** The error a reply carried (`toJSON`'s shape); a hint is taken only when the message ends with it. */
  static fromWire(code: ErrorCode, error: { message: string; details?: ErrorDetail[]; hint?: ErrorHint }): RegistryError {
    const hint = error.hint;
    const hinted = hint !== undefined && typeof hint.text === "string" && typeof hint.operation === "string" && error.message.endsWith(hintSuffix(hint));
    const summary = hinted ? error.message.slice(0, -hintSuffix(hint).length) : error.message;
    return new RegistryError(code, summary, { ...(error.details ? { details: error.details } : {}), ...(hinted ? { hint } : {}) });
  }

  toJSON(): { error: { code: ErrorCode; message: string; details?: ErrorDetail[]; hint?: ErrorHint } } {
    return { error: { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}), ...(this.hint ? { hint: this.hint } : {}) } };
  }
}

export const badRequest = (message: string, details?: ErrorDetail[]) =>
  new RegistryError(400, message, details ? { details } : {});

export const unauthorized = (message: string) => new RegistryError(401, message);

export const forbidden = (message: string) => new RegistryError(403, message);

export const notFound = (message: string, hint?: ErrorHint) => new RegistryError(404, message, hint ? { hint } : {});

/** Not found, said one way per entity, with one hint: where to look. */
export const definitionNotFound = (id: string) => notFound(`definition "${id}" not found`, { text: "list them", operation: "definition.list" });
export const instanceNotFound = (id: string) => notFound(`instance "${id}" not found (it was removed, or its lease expired)`, { text: "list them", operation: "instance.list" });
export const nodeNotFound = (ref: { id?: string | undefined; url?: string | undefined }) =>
  notFound(`node ${ref.id !== undefined ? `"${ref.id}"` : `with url ${ref.url}`} not found`, { text: "list them", operation: "node.list" });

export const conflict = (message: string) => new RegistryError(409, message);

/** A request body over REGISTRY_MAX_REQUEST_BYTES, on either face (`bytes` when the face knows its size). */
export const requestTooLarge = (limit: number, bytes?: number) =>
  new RegistryError(413, `request body ${bytes !== undefined ? `is ${bytes} bytes, ` : "is "}over the registry's limit of ${limit} bytes (REGISTRY_MAX_REQUEST_BYTES)`);

/** The log an error reply is told to (pino's logger is one). */
export type ErrorLog = {
  error(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  debug(fields: object, message: string): void;
};

/**
 * What either face (NATS, HTTP) replies for an error a request met, logged once: a
 * RegistryError as it is (a refusal at debug level, a failure at warn); anything else is a
 * 500 that says to look in the log, which has it whole.
 */
export function errorToReply(err: unknown, log: ErrorLog, where: object): RegistryError {
  if (!(err instanceof RegistryError)) {
    log.error({ err, ...where }, "request failed");
    return new RegistryError(500, `internal error (${err instanceof Error ? err.message : String(err)}); see the registry's log`, { cause: err });
  }
  if (err.code >= 500) log.warn({ ...where, code: err.code, error: err.message }, "request failed");
  else log.debug({ ...where, code: err.code, error: err.message }, "request refused");
  return err;
}
