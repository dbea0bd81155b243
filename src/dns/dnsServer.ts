/**
 * The DNS face: UDP and TCP on one address (REGISTRY_DNS_ADDR), each query answered from the
 * read models by answers.ts and encoded by dns-packet. Packets are untrusted: one that cannot
 * be read is answered FORMERR when it has a header to answer, dropped otherwise, and counted;
 * nothing in a packet can stop the process. An answer too large for UDP (512 bytes, or the
 * EDNS size the query offers, at most 4096) goes back truncated (TC), which tells the client to
 * ask again over TCP.
 */
import { createSocket, type Socket } from "node:dgram";
import { createServer, isIPv6, type Server, type Socket as TcpSocket } from "node:net";
import dnsPacket, { type Answer, type Packet } from "dns-packet";
import type { Logger } from "pino";
import { dnsAnswer, type DnsCatalog, type DnsReply, type DnsSettings, type Rcode } from "./answers.ts";

const RCODES: Record<Rcode, number> = { NOERROR: 0, FORMERR: 1, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 };
const UDP_LIMIT = 512;
const EDNS_LIMIT = 4096;
/** TCP connections open at once, and how long one may stay silent. */
const MAX_TCP_CONNECTIONS = 256;
const TCP_IDLE_MS = 10_000;

export type DnsCounts = Record<Rcode | "dropped", number>;
export type DnsServer = { host: string; port: number; counts(): DnsCounts; stop(): Promise<void> };

export async function startDns(deps: { host: string; port: number; settings: DnsSettings; catalog: DnsCatalog; log: Logger }): Promise<DnsServer> {
  const { settings, catalog, log } = deps;
  const counts: DnsCounts = { NOERROR: 0, FORMERR: 0, NXDOMAIN: 0, NOTIMP: 0, REFUSED: 0, dropped: 0 };

  /** The reply to one query packet, encoded; undefined when it gets none. A UDP reply is truncated to what the client can take. */
  function reply(query: Buffer, transport: "udp" | "tcp"): Buffer | undefined {
    let packet: Packet;
    try {
      packet = dnsPacket.decode(query);
    } catch {
      // Too short to answer, or a response (QR set): answering one could bounce between two servers.
      if (query.length < 12 || (query.readUInt16BE(2) & 0x8000) !== 0) {
        counts.dropped++;
        return undefined;
      }
      counts.FORMERR++;
      return encode({ id: query.readUInt16BE(0), flags: query.readUInt16BE(2) & 0x7800 }, [], { rcode: "FORMERR", answers: [], authorities: [], additionals: [] });
    }
    const opcodeBits = (packet.flags ?? 0) & 0x7800;
    if (packet.type !== "query") {
      counts.dropped++; // a response sent to us: answering it could loop between two servers
      return undefined;
    }
    const edns = (packet.additionals ?? []).find((a) => a.type === "OPT") as { udpPayloadSize?: number } | undefined;
    const questions = packet.questions ?? [];
    let result: DnsReply;
    if (opcodeBits !== 0) result = { rcode: "NOTIMP", answers: [], authorities: [], additionals: [] };
    else if (questions.length !== 1) result = { rcode: "FORMERR", answers: [], authorities: [], additionals: [] };
    else result = dnsAnswer({ name: questions[0]!.name, type: String(questions[0]!.type) }, catalog, settings);
    counts[result.rcode]++;
    const header = { id: packet.id ?? 0, flags: opcodeBits | ((packet.flags ?? 0) & dnsPacket.RECURSION_DESIRED) };
    const opt = edns ? [{ type: "OPT", name: ".", udpPayloadSize: EDNS_LIMIT } as unknown as Answer] : [];
    const full = encode(header, questions, { ...result, additionals: [...result.additionals, ...opt] });
    const limit = transport === "tcp" ? 65535 : edns ? Math.min(Math.max(edns.udpPayloadSize ?? UDP_LIMIT, UDP_LIMIT), EDNS_LIMIT) : UDP_LIMIT;
    if (full.length <= limit) return full;
    return encode({ ...header, flags: header.flags | dnsPacket.TRUNCATED_RESPONSE }, questions, { rcode: result.rcode, answers: [], authorities: [], additionals: opt });
  }

  function encode(header: { id: number; flags: number }, questions: Packet["questions"], r: DnsReply): Buffer {
    return dnsPacket.encode({
      type: "response",
      id: header.id,
      flags: header.flags | dnsPacket.AUTHORITATIVE_ANSWER | RCODES[r.rcode],
      questions: questions ?? [],
      answers: r.answers,
      authorities: r.authorities,
      additionals: r.additionals,
    });
  }

  let unanswerable = 0;
  const answerSafely = (query: Buffer, transport: "udp" | "tcp"): Buffer | undefined => {
    try {
      return reply(query, transport);
    } catch (err) {
      counts.dropped++;
      // Logged once a thousand: a stream of such packets must not become a stream of log lines.
      if (unanswerable++ % 1000 === 0) log.warn({ err, unanswerable }, "a DNS query could not be answered; dropped (counted in registry_dns_queries_total)");
      return undefined;
    }
  };

  const open = new Set<TcpSocket>();
  const serveTcp = (socket: TcpSocket) => {
    open.add(socket);
    socket.on("close", () => open.delete(socket));
    socket.setTimeout(TCP_IDLE_MS, () => socket.destroy());
    socket.on("error", () => socket.destroy());
    let pending: Buffer = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 2) {
        const length = pending.readUInt16BE(0);
        if (pending.length < 2 + length) break; // at most 64 KiB held: a frame's length fits in two bytes
        const query = pending.subarray(2, 2 + length);
        pending = pending.subarray(2 + length);
        const answer = answerSafely(query, "tcp");
        if (!answer) return socket.destroy();
        const framed = Buffer.alloc(2 + answer.length);
        framed.writeUInt16BE(answer.length, 0);
        answer.copy(framed, 2);
        socket.write(framed);
      }
    });
  };

  /** UDP and TCP on one port; with port 0, the first that is free for both (a free UDP port may be taken for TCP). */
  async function listen(): Promise<{ udp: Socket; tcp: Server; port: number }> {
    for (let attempt = 1; ; attempt++) {
      const udp: Socket = createSocket(isIPv6(deps.host) ? "udp6" : "udp4");
      await new Promise<void>((resolve, reject) => {
        udp.once("error", reject);
        udp.bind(deps.port, deps.host, () => {
          udp.off("error", reject);
          resolve();
        });
      });
      const port = udp.address().port;
      const tcp: Server = createServer(serveTcp);
      tcp.maxConnections = MAX_TCP_CONNECTIONS;
      try {
        await new Promise<void>((resolve, reject) => {
          tcp.once("error", reject);
          tcp.listen(port, deps.host, () => {
            tcp.off("error", reject);
            resolve();
          });
        });
        return { udp, tcp, port };
      } catch (err) {
        udp.close();
        if (deps.port !== 0 || attempt >= 20 || (err as NodeJS.ErrnoException).code !== "EADDRINUSE") throw err;
      }
    }
  }
  const { udp, tcp, port } = await listen();
  udp.on("message", (query, from) => {
    const answer = answerSafely(query, "udp");
    if (answer) udp.send(answer, from.port, from.address);
  });
  udp.on("error", (err) => log.warn({ err }, "DNS over UDP failed"));
  tcp.on("error", (err) => log.warn({ err }, "DNS over TCP failed"));

  return {
    host: deps.host,
    port,
    counts: () => ({ ...counts }),
    async stop() {
      await new Promise<void>((resolve) => udp.close(() => resolve()));
      const closed = new Promise<void>((resolve) => tcp.close(() => resolve()));
      for (const socket of open) socket.destroy();
      await closed;
    },
  };
}
