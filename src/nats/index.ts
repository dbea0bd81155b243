/**
 * What of the NATS adapter the client library and the CLI use: connecting, a live
 * in-memory mirror of a KV bucket, and the KV wire grammar for following a bucket's changes. The rest of src/nats/ is the registry's own.
 */
export { connectNats, type ConnectOptions } from "./connect.ts";
export { KvMirror, type MirrorOptions } from "./kvMirror.ts";
export { isKvDeletion, kvKeyOf, kvOperationOf, kvStream, kvSubject } from "./kvSubjects.ts";
