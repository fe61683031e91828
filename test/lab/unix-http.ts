// Minimal HTTP over a unix socket (Docker's /_ping, plugin protocol calls) with a timeout.
import * as http from 'node:http';

export interface UnixHttpResponse {
  status: number;
  body: string;
  /** body parsed as JSON, undefined if it is not JSON */
  json?: unknown;
}

export function unixRequest(
  socketPath: string,
  method: string,
  urlPath: string,
  body?: unknown,
  timeoutMs = 5000,
): Promise<UnixHttpResponse> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const req = http.request(
      {
        socketPath,
        method,
        path: urlPath,
        headers: payload === undefined ? {} : { 'Content-Length': Buffer.byteLength(payload) },
        timeout: timeoutMs,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, body: text, json });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms: ${method} ${urlPath} on ${socketPath}`)));
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}
