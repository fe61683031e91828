import { unixGet } from '../net/unix-get';

/**
 * The few Docker Engine API reads tsnet makes, over Docker's unix socket. Only background tasks use
 * it, never a request handler: at boot dockerd waits for the plugin while the plugin would wait for
 * dockerd.
 */
export interface DockerNetworkView {
  Id: string;
  Name?: string;
  Containers?: Record<string, { Name?: string; EndpointID?: string }> | null;
  Peers?: Array<{ Name: string; IP: string }> | null;
}

/** One task of a service in a verbose network view: its address on the network. */
export interface DockerServiceTaskView {
  Name?: string;
  EndpointID?: string;
  EndpointIP?: string;
  Info?: Record<string, string> | null;
}

/**
 * `GET /networks/{id}?verbose=true` of a Swarm-scoped network: the plain view plus `Services`, the
 * services attached to it with their VIP and every task's address, from Docker's gossip (so on workers
 * too, and following scaling). Containers carry the local endpoints' addresses.
 */
export interface DockerVerboseNetworkView extends Omit<DockerNetworkView, 'Containers'> {
  Containers?: Record<string, { EndpointID?: string; IPv4Address?: string }> | null;
  Services?: Record<string, { VIP?: string; Tasks?: DockerServiceTaskView[] | null }> | null;
}

/** A Swarm service as `GET /services` lists it: only the fields tsnet reads. */
export interface DockerServiceView {
  ID: string;
  Spec?: {
    Name?: string;
    TaskTemplate?: { Networks?: Array<{ Target?: string }> | null } | null;
    /** Deprecated top-level form of TaskTemplate.Networks (older clients). */
    Networks?: Array<{ Target?: string }> | null;
    /** Absent, or Mode absent, means "vip". */
    EndpointSpec?: { Mode?: string } | null;
  };
}

/** `GET /info`: only the fields tsnet reads. FirewallBackend is reported from API 1.50 (Docker 28.3) on. */
export interface DockerInfoView {
  ServerVersion?: string;
  FirewallBackend?: { Driver?: string; Info?: Array<[string, string]> | null } | null;
}

export interface DockerVersionView {
  Version?: string;
  ApiVersion?: string;
}

export interface DockerContainerView {
  Id: string;
  Name?: string;
  NetworkSettings?: { Networks?: Record<string, { NetworkID?: string; EndpointID?: string }> | null } | null;
}

export class DockerUnavailableError extends Error {}

/** Swarm state is answered only by managers: a worker (or a node outside a Swarm) gets HTTP 503. */
export class NotSwarmManagerError extends Error {}

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

  /** The daemon's system information. */
  async info(): Promise<DockerInfoView> {
    const res = await this.get('/info');
    if (res.status !== 200) throw new DockerUnavailableError(`GET /info: HTTP ${res.status} ${dockerMessage(res.body)}`);
    const info: unknown = JSON.parse(res.body);
    if (!info || typeof info !== 'object' || Array.isArray(info)) throw new DockerUnavailableError('GET /info: the answer is not an object');
    return info as DockerInfoView;
  }

  /** The verbose view (services with VIPs and task addresses), or undefined when Docker does not know the network. */
  async networkVerbose(id: string): Promise<DockerVerboseNetworkView | undefined> {
    const res = await this.get(`/networks/${encodeURIComponent(id)}?verbose=true`);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw new DockerUnavailableError(`GET /networks/${id}?verbose=true: HTTP ${res.status}`);
    return JSON.parse(res.body) as DockerVerboseNetworkView;
  }

  /** Every Swarm service; NotSwarmManagerError on a worker or a node outside a Swarm. */
  async services(): Promise<DockerServiceView[]> {
    const res = await this.get('/services');
    if (res.status === 503) throw new NotSwarmManagerError(`GET /services: HTTP 503 ${dockerMessage(res.body)}`);
    if (res.status !== 200) throw new DockerUnavailableError(`GET /services: HTTP ${res.status} ${dockerMessage(res.body)}`);
    const list: unknown = JSON.parse(res.body);
    if (!Array.isArray(list)) throw new DockerUnavailableError('GET /services: the answer is not a list');
    return list as DockerServiceView[];
  }

  /** The engine's version (`GET /version`), for the tsnet command. */
  async version(): Promise<DockerVersionView> {
    return this.getJson<DockerVersionView>('/version');
  }

  /** A container by name or ID, or undefined when Docker does not know it (404). */
  async container(nameOrId: string): Promise<DockerContainerView | undefined> {
    const res = await this.get(`/containers/${encodeURIComponent(nameOrId)}/json`);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw new DockerUnavailableError(`GET /containers/${nameOrId}/json: HTTP ${res.status} ${dockerMessage(res.body)}`);
    return JSON.parse(res.body) as DockerContainerView;
  }

  private async getJson<T>(path: string): Promise<T> {
    const res = await this.get(path);
    if (res.status !== 200) throw new DockerUnavailableError(`GET ${path}: HTTP ${res.status} ${dockerMessage(res.body)}`);
    return JSON.parse(res.body) as T;
  }

  private get(path: string): Promise<{ status: number; body: string }> {
    return unixGet(this.socketPath, path, this.timeoutMs, (m) => new DockerUnavailableError(`Docker API at ${this.socketPath}: ${m}`));
  }
}

/** The "message" of a Docker API error body, or the body itself (shortened). */
function dockerMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as { message?: unknown };
    if (typeof parsed.message === 'string') return parsed.message;
  } catch {
    // not JSON
  }
  return body.slice(0, 200);
}
