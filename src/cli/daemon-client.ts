import { unixGet } from '../net/unix-get';
import { INSPECT_PATHS, METRICS_PATH, type EndpointView, type NetworkView, type PeerView, type StatusView } from '../protocol';

export class DaemonError extends Error {}

/** The read-only API of a running tsnet over its unix socket (GET only, 10 s per request). */
export class DaemonClient {
  constructor(
    readonly socketPath: string,
    private readonly timeoutMs = 10_000,
  ) {}

  status(): Promise<StatusView> {
    return this.json(INSPECT_PATHS.status);
  }

  networks(): Promise<NetworkView[]> {
    return this.json(INSPECT_PATHS.networks);
  }

  endpoints(networkId?: string): Promise<EndpointView[]> {
    return this.json(networkId ? `${INSPECT_PATHS.endpoints}?network=${encodeURIComponent(networkId)}` : INSPECT_PATHS.endpoints);
  }

  peers(networkId?: string): Promise<PeerView[]> {
    return this.json(networkId ? `${INSPECT_PATHS.peers}?network=${encodeURIComponent(networkId)}` : INSPECT_PATHS.peers);
  }

  async metrics(): Promise<string> {
    const res = await this.get(METRICS_PATH);
    if (res.status !== 200) throw new DaemonError(`GET ${METRICS_PATH}: HTTP ${res.status}`);
    return res.body;
  }

  private async json<T>(path: string): Promise<T> {
    const res = await this.get(path);
    let body: unknown;
    try {
      body = JSON.parse(res.body);
    } catch {
      throw new DaemonError(`GET ${path}: HTTP ${res.status}, not JSON (is ${this.socketPath} a tsnet older than this command?)`);
    }
    if (res.status !== 200) {
      const err = (body as { Err?: unknown }).Err;
      throw new DaemonError(typeof err === 'string' ? err : `GET ${path}: HTTP ${res.status}`);
    }
    return body as T;
  }

  private get(path: string): Promise<{ status: number; body: string }> {
    return unixGet(this.socketPath, path, this.timeoutMs, (m) => new DaemonError(`tsnet at ${this.socketPath}: ${m}`));
  }
}
