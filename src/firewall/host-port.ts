import * as dgram from 'node:dgram';
import * as net from 'node:net';
import type { Logger } from '../log';
import type { IpFamily } from './backend';
import { LimitLog } from '../limit-log';
import { RelayBudget } from './relay-budget';

/**
 * Holding a published host port. While a container publishes HostIP:HostPort/proto, tsnet keeps a socket
 * bound there, so the kernel itself refuses a second user (another container, tsnet or dockerd, or any
 * host process) with EADDRINUSE, reported as Docker reports it: "port is already allocated".
 *
 * The socket is also the loopback path. Published ports are DNAT rules in nat PREROUTING/OUTPUT, which
 * catch every packet to a host address except loopback ones: DNAT of 127.0.0.1 to a container needs
 * net.ipv4.conf.*.route_localnet=1 plus a masquerade of 127/8 sources, and /proc/sys is read-only inside
 * a managed plugin (and route_localnet has been a security footgun: localhost services become routable).
 * So loopback connections (127.0.0.1:port, [::1]:port) land on this very socket, which proxies them in
 * userland to the container (TCP: a stream pipe per connection; UDP: a socket per client with an idle
 * timeout). Non-loopback traffic never reaches it; the DNAT happens first.
 *
 * Any local user can send to a loopback port, so the relay is bounded per held port: at most
 * RELAY_LIMITS.tcpConnections proxied TCP connections (more are closed at once) and
 * RELAY_LIMITS.udpSessions UDP client sessions (a new client evicts the least recently active one).
 * All ports' relays together also stay inside one descriptor budget tied to the process's fd limit
 * (relay-budget.ts), so the plugin socket, the store and spawns keep their headroom whatever the number
 * of published ports. A limit that is hit is logged at most once a minute.
 *
 * SCTP cannot be bound from Node: it is held only in tsnet's own registry (see ports.ts) and has no
 * loopback proxy.
 */
export type PortProto = 'tcp' | 'udp' | 'sctp';

export class PortAllocatedError extends Error {}

export interface ProxyTarget {
  address: string;
  port: number;
}

export interface HeldPort {
  readonly family: IpFamily;
  readonly proto: PortProto;
  readonly hostIP: string;
  readonly port: number;
  release(): Promise<void>;
}

export function formatHostPort(hostIP: string, port: number | string, proto: PortProto): string {
  return `${hostIP.includes(':') ? `[${hostIP}]` : hostIP}:${port}/${proto}`;
}

/** Per held port; each TCP connection holds two descriptors, each UDP session one. */
export const RELAY_LIMITS = { tcpConnections: 128, udpSessions: 128, udpIdleMs: 60_000 };

/**
 * Binds hostIP:port (port 0 = the kernel picks a free one). Rejects with PortAllocatedError when the port
 * is in use, with a plain Error for anything else (address not on this host, permission).
 */
export async function holdPort(
  family: IpFamily,
  proto: 'tcp' | 'udp',
  hostIP: string,
  port: number,
  target: ProxyTarget | undefined,
  logger?: Logger,
  budget: RelayBudget = RelayBudget.unlimited(),
): Promise<HeldPort> {
  try {
    return proto === 'tcp'
      ? await holdTcp(family, hostIP, port, target, budget, logger)
      : await holdUdp(family, hostIP, port, target, budget, logger);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      throw new PortAllocatedError(`Bind for ${formatHostPort(hostIP, port, proto)} failed: port is already allocated`);
    }
    throw new Error(`Bind for ${formatHostPort(hostIP, port, proto)} failed: ${code ?? (e as Error).message}`);
  }
}

async function holdTcp(
  family: IpFamily,
  hostIP: string,
  port: number,
  target: ProxyTarget | undefined,
  budget: RelayBudget,
  logger?: Logger,
): Promise<HeldPort> {
  const open = new Set<net.Socket>();
  let bound = port;
  const full = new LimitLog(logger, 'loopback relay: connection limit reached; new connections are closed', {
    hostIP,
    port,
    proto: 'tcp',
    limit: RELAY_LIMITS.tcpConnections,
  });
  const server = net.createServer((client) => {
    open.add(client);
    client.on('close', () => open.delete(client));
    client.on('error', () => client.destroy());
    if (!target || !budget.take(2, { hostIP, port: bound, proto: 'tcp' })) {
      client.destroy();
      return;
    }
    client.on('close', () => budget.give(1));
    const upstream = net.connect({ host: target.address, port: target.port });
    open.add(upstream);
    upstream.on('close', () => {
      open.delete(upstream);
      budget.give(1);
    });
    upstream.on('error', (e) => {
      logger?.debug('loopback proxy: upstream failed', { target, error: String(e) });
      client.destroy();
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: hostIP, port, exclusive: true, ipv6Only: family === 6 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (e) => logger?.warn('held port error', { hostIP, port, error: String(e) }));
  // Node closes connections beyond maxConnections as they are accepted.
  server.maxConnections = RELAY_LIMITS.tcpConnections;
  server.on('drop', () => full.hit());
  bound = (server.address() as net.AddressInfo).port;
  return {
    family,
    proto: 'tcp',
    hostIP,
    port: bound,
    release: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}

async function holdUdp(
  family: IpFamily,
  hostIP: string,
  port: number,
  target: ProxyTarget | undefined,
  budget: RelayBudget,
  logger?: Logger,
): Promise<HeldPort> {
  const type = family === 6 ? 'udp6' : 'udp4';
  const sock = dgram.createSocket({ type, ipv6Only: family === 6 });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind({ address: hostIP, port, exclusive: true }, () => {
      sock.off('error', reject);
      resolve();
    });
  });
  sock.on('error', (e) => logger?.warn('held port error', { hostIP, port, error: String(e) }));
  // Insertion order is recency order: a session is moved to the end on every datagram, so the first
  // entry is the least recently active one.
  const clients = new Map<string, { upstream: dgram.Socket; timer: NodeJS.Timeout }>();
  const full = new LimitLog(logger, 'loopback relay: session limit reached; the least recently active sessions are dropped', {
    hostIP,
    port,
    proto: 'udp',
    limit: RELAY_LIMITS.udpSessions,
  });
  const drop = (key: string) => {
    const c = clients.get(key);
    if (!c) return;
    clients.delete(key);
    clearTimeout(c.timer);
    c.upstream.close();
    budget.give(1);
  };
  const oldest = () => clients.keys().next().value!;
  if (target) {
    sock.on('message', (msg, from) => {
      const key = `${from.address}|${from.port}`;
      let c = clients.get(key);
      if (c) {
        clients.delete(key);
        clients.set(key, c);
      } else {
        if (clients.size >= RELAY_LIMITS.udpSessions) {
          drop(oldest());
          full.hit();
        }
        // The shared budget spent: this port's least recently active session makes room, if it has one.
        if (!budget.take(1, { hostIP, port: bound, proto: 'udp' })) {
          if (clients.size === 0) return;
          drop(oldest());
          if (!budget.take(1)) return;
        }
        const upstream = dgram.createSocket(type);
        upstream.on('message', (reply) => sock.send(reply, from.port, from.address));
        upstream.on('error', () => drop(key));
        c = { upstream, timer: setTimeout(() => drop(key), RELAY_LIMITS.udpIdleMs).unref() };
        clients.set(key, c);
      }
      c.timer.refresh();
      c.upstream.send(msg, target.port, target.address);
    });
  }
  const bound = sock.address().port;
  return {
    family,
    proto: 'udp',
    hostIP,
    port: bound,
    release: () =>
      new Promise<void>((resolve) => {
        for (const key of [...clients.keys()]) drop(key);
        sock.close(() => resolve());
      }),
  };
}
