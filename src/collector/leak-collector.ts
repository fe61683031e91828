import type { NetworkDriver } from '../driver/driver';
import type { EndpointRecord } from '../model/records';
import type { Logger } from '../log';
import { TaskStatus } from '../model/task-status';
import { DockerUnavailableError, type DockerApiClient, type DockerNetworkView } from '../docker/api-client';
import type { IpamRelease } from './ipam-release';

export interface LeakCollectorOptions {
  intervalMs: number;
  /** An endpoint Docker does not list is released only once it is this old and missing twice in a row. */
  graceMs: number;
  /** Endpoints created before this instant (the last boot, when the boot ID changed) need no grace. */
  bootedAt?: Date;
}

/**
 * Releases what Docker will never tell tsnet to release: after a daemon crash or a reboot Docker
 * sends a socket plugin no cleanup calls, and calls made while tsnet was down are dropped after ~15 s.
 * Runs outside request handlers, tolerates Docker being down (it just tries again later), and only
 * looks at local networks (Swarm networks come and go with their tasks on each node).
 */
export class LeakCollector {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /** Endpoints seen missing once: released when seen missing again. */
  private readonly suspects = new Set<string>();
  /** Passes and their outcome (`tsnet status`). */
  readonly task = new TaskStatus('leak collector');
  /** What the passes released, since the start (metrics). */
  readonly released = { endpoints: 0, networks: 0 };

  constructor(
    private readonly driver: NetworkDriver,
    private readonly docker: DockerApiClient,
    private readonly ipam: IpamRelease,
    private readonly log: Logger,
    private readonly options: LeakCollectorOptions,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.runOnce(), this.options.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** Endpoints and networks seen missing once and not released yet (for tests). */
  get suspectCount(): number {
    return this.suspects.size;
  }

  /** One pass; overlapping passes are not started. */
  runOnce(): Promise<void> {
    this.running ??= this.collect().finally(() => (this.running = undefined));
    return this.running;
  }

  private async collect(): Promise<void> {
    const now = Date.now();
    const before = { ...this.released };
    const done = (ok: boolean, detail: string) => this.task.record(ok, Date.now() - now, detail);
    try {
      const local = this.driver.networks().filter((net) => /^[0-9a-f]{64}$/.test(net.id));
      const views = new Map<string, DockerNetworkView | undefined>();
      for (const net of local) views.set(net.id, await this.docker.network(net.id));
      // A Docker that knows none of tsnet's networks is more likely the wrong daemon (another
      // TSNET_DOCKER_SOCKET) than one that dropped them all: release nothing then.
      const knowsAny = [...views.values()].some((v) => v !== undefined);
      if (local.length > 0 && !knowsAny) {
        this.log.warn('leak collector: Docker knows none of tsnet\'s networks; is TSNET_DOCKER_SOCKET the daemon that uses tsnet? Releasing nothing', { networks: local.length });
        done(false, 'Docker knows none of tsnet\'s networks: released nothing');
        return;
      }
      // A suspect Docker removed meanwhile (the normal way) is forgotten, or the set would only grow.
      const stored = new Set<string>();
      for (const net of local) {
        stored.add(`net:${net.id}`);
        for (const ep of this.driver.endpoints(net.id)) stored.add(ep.id);
      }
      for (const suspect of this.suspects) if (!stored.has(suspect)) this.suspects.delete(suspect);
      for (const net of local) {
        const view = views.get(net.id);
        if (!view) {
          await this.releaseNetwork(net.id, now);
          continue;
        }
        const listed = new Set(Object.values(view.Containers ?? {}).map((c) => c.EndpointID));
        for (const ep of this.driver.endpoints(net.id)) {
          if (listed.has(ep.id)) {
            this.suspects.delete(ep.id);
            continue;
          }
          if (!this.oldEnough(ep, now)) continue;
          if (this.suspects.has(ep.id) || this.createdBeforeBoot(ep)) {
            this.suspects.delete(ep.id);
            await this.driver.deleteEndpoint({ NetworkID: net.id, EndpointID: ep.id }, { waitForLinks: true });
            this.released.endpoints += 1;
            const addresses = this.ipam.endpoint(net, ep);
            this.log.info('released an endpoint Docker no longer lists', { networkId: net.id, endpointId: ep.id, addresses });
          } else {
            this.suspects.add(ep.id);
          }
        }
      }
      done(true, `released ${this.released.endpoints - before.endpoints} endpoints, ${this.released.networks - before.networks} networks`);
    } catch (err) {
      done(false, err instanceof Error ? err.message : String(err));
      if (err instanceof DockerUnavailableError) {
        this.log.debug('leak collector: Docker not reachable, trying later', { err: err.message });
        return;
      }
      this.log.warn('leak collector pass failed', { err: String(err) });
    }
  }

  private async releaseNetwork(networkId: string, now: number): Promise<void> {
    const key = `net:${networkId}`;
    const net = this.driver.network(networkId);
    if (!net || now - Date.parse(net.createdAt) < this.options.graceMs) return;
    if (!this.suspects.has(key)) {
      this.suspects.add(key);
      return;
    }
    this.suspects.delete(key);
    await this.driver.deleteNetwork(networkId);
    this.released.networks += 1;
    const pools = this.ipam.network(net);
    this.log.info('released a network Docker no longer has', { networkId, pools });
  }

  private oldEnough(ep: EndpointRecord, now: number): boolean {
    return this.createdBeforeBoot(ep) || now - Date.parse(ep.createdAt) >= this.options.graceMs;
  }

  private createdBeforeBoot(ep: EndpointRecord): boolean {
    return this.options.bootedAt !== undefined && Date.parse(ep.createdAt) < this.options.bootedAt.getTime();
  }
}
