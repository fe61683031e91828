import http from 'node:http';
import type { Logger } from '../log';
import type { TsnetMetrics } from '../metrics/metrics';
import { METRICS_PATH } from '../protocol';

/**
 * The optional TCP listener of TSNET_METRICS_ADDR: GET /metrics and nothing else (no plugin call is
 * reachable over TCP). Few connections and short timeouts: a scraper needs one.
 */
export function createMetricsServer(metrics: TsnetMetrics, log: Logger): http.Server {
  const server = http.createServer({ headersTimeout: 5000, requestTimeout: 10_000 }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || path !== METRICS_PATH) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('only GET /metrics is served here\n');
      return;
    }
    const started = process.hrtime.bigint();
    metrics.text().then(
      (text) => {
        res.writeHead(200, { 'Content-Type': metrics.contentType, 'Content-Length': Buffer.byteLength(text) });
        res.end(text);
        metrics.observeCall(METRICS_PATH, 200, Number(process.hrtime.bigint() - started) / 1e9);
      },
      (err: unknown) => {
        log.warn('metrics could not be collected', { err: String(err) });
        res.writeHead(500, { 'Content-Type': 'text/plain' });
        res.end('metrics could not be collected\n');
      },
    );
  });
  server.maxConnections = 16;
  server.keepAliveTimeout = 5000;
  return server;
}
