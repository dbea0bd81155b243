/**
 * The one error family of the registry. `code` is the wire code: it becomes the
 * `Nats-Service-Error-Code` header and `error.code` in the reply body.
 */
export type ErrorCode = 400 | 401 | 403 | 404 | 409 | 413 | 500 | 503;

export type ErrorDetail = { path: string; message: string };

export class RegistryError extends Error {
  readonly code: ErrorCode;
  readonly details?: ErrorDetail[];

  constructor(code: ErrorCode, message: string, opts: { details?: ErrorDetail[]; cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.name = "RegistryError";
    this.code = code;
    if (opts.details) this.details = opts.details;
  }

  toJSON(): { error: { code: ErrorCode; message: string; details?: ErrorDetail[] } } {
    return { error: { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) } };
  }
}

export const badRequest = (message: string, details?: ErrorDetail[]) =>
  new RegistryError(400, message, details ? { details } : {});

export const unauthorized = (message: string) => new RegistryError(401, message);

export const forbidden = (message: string) => new RegistryError(403, message);

export const notFound = (message: string) => new RegistryError(404, message);

export const conflict = (message: string) => new RegistryError(409, message);
