import http from 'node:http';
import type { RequestListener } from 'node:http';
import type { Socket } from 'node:net';
import { LimitLog } from '../limit-log';
import type { Logger } from '../log';

/**
 * The plugin socket's connection limits. Every connection is an fd and a parser: at most `connections`
 * at once (beyond that the kernel's accept is answered by closing the new connection, logged once a
 * minute); a connection must deliver its first request's headers within `headersTimeoutMs` of being
 * accepted (any later request's within `headersTimeoutMs` of its first byte), its whole request within
 * `requestTimeoutMs` (a caller trickling bytes cannot hold one open); an idle keep-alive connection is
 * closed after `keepAliveTimeoutMs`. Calls on the connections are limited by admission.ts.
 */
export interface SocketLimits {
  connections: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
}

export const SOCKET_LIMITS: SocketLimits = { connections: 256, headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, keepAliveTimeoutMs: 30_000 };

/** The HTTP server of the plugin socket (not listening yet), with SOCKET_LIMITS. */
export function createPluginServer(app: RequestListener, log: Logger, limits: SocketLimits = SOCKET_LIMITS): http.Server {
  const server = http.createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      // The timeouts above are checked this often (Node's default is 30 s, longer than they are).
      connectionsCheckingInterval: Math.max(100, Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) / 4),
    },
    app,
  );
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.maxConnections = limits.connections;
  const full = new LimitLog(log, 'plugin socket: connection limit reached; connections closed', { limit: limits.connections });
  server.on('drop', () => full.hit());
  // Node's headersTimeout runs from a request's first byte: a connection that never sends one would be
  // held for ever, its slot and fd with it. It gets headersTimeoutMs for its first request too (one timer
  // per connection, so at most `connections` of them).
  const served = new WeakSet<object>();
  server.on('request', (req: http.IncomingMessage) => served.add(req.socket));
  server.on('connection', (socket: Socket) => {
    const timer = setTimeout(() => {
      if (!served.has(socket)) socket.destroy();
    }, limits.headersTimeoutMs).unref();
    socket.once('close', () => clearTimeout(timer));
  });
  return server;
}
