import http from 'node:http';

/**
 * One HTTP GET over a unix socket, body read whole. `fail` makes the caller's error from a message
 * (the socket missing, a reset, no answer within `timeoutMs`), so each client keeps its own error type.
 */
export function unixGet(
  socketPath: string,
  path: string,
  timeoutMs: number,
  fail: (message: string) => Error,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path, method: 'GET', timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    const timedOut = fail(`did not answer in ${timeoutMs} ms`);
    req.on('timeout', () => req.destroy(timedOut));
    req.on('error', (err) => reject(err === timedOut ? err : fail(err.message)));
    req.end();
  });
}
