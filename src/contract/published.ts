/**
 * The schemas published for other programs, by name: `schemas/<Name>.schema.json` (`make
 * schemas`) and the OpenAPI document's components. Requests and entities (schemas.ts) and
 * replies (replies.ts).
 */
import type { TSchema } from "typebox";
import { replySchemas } from "./replies.ts";
import { wireSchemas } from "./schemas.ts";

export const publishedSchemas: Record<string, TSchema> = { ...wireSchemas, ...replySchemas };

const nameOf = new Map(Object.entries(publishedSchemas).map(([name, schema]) => [schema, name]));
/** The name a schema is published under; undefined for one that is not (an empty request). */
export const publishedName = (schema: TSchema) => nameOf.get(schema);
