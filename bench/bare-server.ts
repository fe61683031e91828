/**
 * The baseline for bench/rpc: a bare node:http server on a unix socket answering the same JSON as
 * tsnet for the benchmarked calls, with no framework, validation or store.
 */
import http from 'node:http';

const socketPath = process.argv[2]!;
let next = 1;
const replies: Record<string, (body: any) => unknown> = {
  '/Plugin.Activate': () => ({ Implements: ['NetworkDriver', 'IpamDriver'] }),
  '/NetworkDriver.GetCapabilities': () => ({ Scope: 'local', ConnectivityScope: 'local' }),
  '/IpamDriver.RequestAddress': () => ({ Address: `10.250.${(next >> 8) & 255}.${next++ & 255}/16`, Data: {} }),
  '/IpamDriver.ReleaseAddress': () => ({}),
};

http
  .createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString();
      const handler = replies[req.url ?? ''] as ((body: unknown) => unknown) | undefined;
      const body = handler ? handler(text ? JSON.parse(text) : {}) : { Err: 'unknown' };
      res.writeHead(handler ? 200 : 404, { 'Content-Type': 'application/vnd.docker.plugins.v1.2+json' });
      res.end(JSON.stringify(body));
    });
  })
  .listen(socketPath);
process.on('SIGTERM', () => process.exit(0));
