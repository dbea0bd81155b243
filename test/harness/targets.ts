/** Real HTTP and TCP servers on loopback for health checks to probe. */
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createTcpServer } from "node:net";
import type { AddressInfo } from "node:net";

export type HttpMode = "ok" | "slow" | "fail" | "fail-once";

export type HttpTarget = {
  url: string;
  port: number;
  mode: HttpMode;
  slowMs: number;
  /** Requests answered so far. */
  requests: number;
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
};

const listen = (server: Server | ReturnType<typeof createTcpServer>, port: number) =>
  new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve((server.address() as AddressInfo).port));
  });

const close = (server: Server | ReturnType<typeof createTcpServer>) =>
  new Promise<void>((resolve) => {
    (server as Server).closeAllConnections?.();
    server.close(() => resolve());
  });

export async function startHttpTarget(): Promise<HttpTarget> {
  const target: HttpTarget = {
    url: "",
    port: 0,
    mode: "ok",
    slowMs: 1000,
    requests: 0,
    stop: () => close(server),
    start: async () => {
      server = makeServer();
      await listen(server, target.port);
    },
  };
  const makeServer = () =>
    createHttpServer((_req, res) => {
      target.requests++;
      const answer = (status: number) => {
        res.writeHead(status, { "content-type": "text/plain", connection: "close" });
        res.end(status === 200 ? "ok" : "failing");
      };
      if (target.mode === "fail-once") {
        target.mode = "ok";
        return answer(500);
      }
      if (target.mode === "slow") setTimeout(() => answer(200), target.slowMs);
      else answer(target.mode === "fail" ? 500 : 200);
    });
  let server = makeServer();
  target.port = await listen(server, 0);
  target.url = `http://127.0.0.1:${target.port}`;
  return target;
}

export async function startTcpTarget(): Promise<{ port: number; stop(): Promise<void> }> {
  const server = createTcpServer((socket) => socket.end());
  const port = await listen(server, 0);
  return { port, stop: () => close(server) };
}
