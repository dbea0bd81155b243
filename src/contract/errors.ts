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

export const conflict = (message: string) => new RegistryError(409, message);
