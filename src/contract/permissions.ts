/**
 * What a caller may be allowed to do, in seed 002's words (`registry-svc:instance:view`). Each
 * operation names the one it needs (operations.ts); which role has which is the domain's
 * (domain/access.ts).
 */
export const PERMISSIONS = [
  "instance:view",
  "instance:edit",
  "instance:delete",
  "definition:view",
  "definition:edit",
  "definition:delete",
  "node:view",
  "node:delete",
  "health:view",
  "health:edit",
  "check:report",
  "audit:view",
  "policy:reload",
] as const;
export type Permission = (typeof PERMISSIONS)[number];
