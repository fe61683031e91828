import http from 'node:http';

/**
 * The few Docker Engine API reads tsnet makes, over Docker's unix socket. Only background tasks use
 * it, never a request handler: at boot dockerd waits for the plugin while the plugin would wait for
 * dockerd.
 */
export interface DockerNetworkView {
  Id: string;
  Containers?: Record<string, { EndpointID?: string }> | null;
  Peers?: Array<{ Name: string; IP: string }> | null;
}

export class DockerUnavailableError extends Error {}

export class DockerApiClient {
  constructor(
    private readonly socketPath: string,
    private readonly timeoutMs = 5000,
  ) {}

  /** The network as Docker sees it, or undefined when Docker does not know it (404). */
  async network(id: string): Promise<DockerNetworkView | undefined> {
    const res = await this.get(`/networks/${encodeURIComponent(id)}`);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw new DockerUnavailableError(`GET /networks/${id}: HTTP ${res.status}`);
    return JSON.parse(res.body) as DockerNetworkView;
  }

  private get(path: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = http.request({ socketPath: this.socketPath, path, method: 'GET', timeout: this.timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      });
      req.on('timeout', () => req.destroy(new DockerUnavailableError(`Docker API at ${this.socketPath} did not answer in ${this.timeoutMs} ms`)));
      req.on('error', (err) => reject(err instanceof DockerUnavailableError ? err : new DockerUnavailableError(`Docker API at ${this.socketPath}: ${err.message}`)));
      req.end();
    });
  }
}
