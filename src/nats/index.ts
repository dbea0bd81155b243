/**
 * What of the NATS adapter the client library and the CLI use: connecting, and a live
 * in-memory mirror of a KV bucket. The rest of src/nats/ is the registry's own.
 */
export { connectNats, type ConnectOptions } from "./connect.ts";
export { KvMirror, type MirrorOptions } from "./kvMirror.ts";
