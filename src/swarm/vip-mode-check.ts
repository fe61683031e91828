import { describe } from '../model/errors';
import { DockerUnavailableError, NotSwarmManagerError, type DockerNetworkView, type DockerServiceView } from '../docker/api-client';
import type { Logger } from '../log';
import { systemClock, type Clock, type ClockTimer } from '../model/clock';

/** The Docker API reads the check makes (DockerApiClient; a fake in tests). */
export interface VipModeDocker {
  services(): Promise<DockerServiceView[]>;
  network(idOrName: string): Promise<DockerNetworkView | undefined>;
}

export interface VipModeCheckOptions {
  /** Time between two reads of the services while Docker answers them. */
  intervalMs: number;
  /** Upper bound of the delay after failures (not a manager, Docker down): the delay doubles up to it. */
  maxBackoffMs: number;
  /** How often the networks tsnet knows are compared with the last ones seen (a local read, no Docker). */
  watchMs: number;
  /** Delay between seeing a new network and reading the services. */
  newNetworkDelayMs: number;
}

export const VIP_WARNING = 'swarm service in VIP endpoint mode on a tsnet network: its virtual IP will not answer; use --endpoint-mode dnsrr';

/** Swarm network IDs are 25 characters, local ones 64 hex digits: anything else in a Target is a name. */
const NETWORK_ID = /^(?:[a-z0-9]{25}|[0-9a-f]{64})$/;

/**
 * Warns (once per service and network) about Swarm services in VIP endpoint mode attached to a tsnet
 * network. Docker programs service VIPs only on its own overlay, and nothing on the wire tells a
 * packet to a VIP from one to a task, so such a service's name resolves to an address nobody answers:
 * it must use `--endpoint-mode dnsrr`. Only managers can list services: on a worker (HTTP 503) or
 * with Docker down the check stays quiet (debug) and backs off. Runs in the background only, never
 * inside a request handler (at boot dockerd waits for the plugin).
 */
export class VipModeCheck {
  private timer: ClockTimer | undefined;
  private watcher: ClockTimer | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private failures = 0;
  /** Networks seen by the watcher (undefined until its first look: what exists at start is not "new"). */
  private seenNetworks: Set<string> | undefined;
  /** "<service ID> <network ID>" pairs already warned about, while they stay in VIP mode. */
  private readonly warned = new Set<string>();
  private lastFailure: string | undefined;

  constructor(
    private readonly docker: VipModeDocker,
    /** IDs of the networks tsnet knows: allocated on this manager or created on this node. */
    private readonly knownNetworks: () => Iterable<string>,
    private readonly log: Logger,
    private readonly options: VipModeCheckOptions,
    private readonly clock: Clock = systemClock,
  ) {}

  start(): void {
    this.stopped = false;
    this.schedule(this.options.intervalMs);
    this.watcher = this.clock.setInterval(() => this.watchNetworks(), this.options.watchMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    if (this.watcher !== undefined) this.clock.clearInterval(this.watcher);
    await this.running;
  }

  /** The delay before the next pass: the interval, doubled per failed pass in a row up to maxBackoffMs. */
  nextDelayMs(): number {
    return Math.min(this.options.intervalMs * 2 ** Math.min(this.failures, 20), Math.max(this.options.maxBackoffMs, this.options.intervalMs));
  }

  /** One pass; overlapping passes are not started. */
  runOnce(): Promise<void> {
    this.running ??= this.check().finally(() => (this.running = undefined));
    return this.running;
  }

  /** A new network makes the next pass come soon, whatever the back-off. */
  watchNetworks(): void {
    let now: Set<string>;
    try {
      now = new Set(this.knownNetworks());
    } catch (err) {
      this.log.warn('VIP-mode check: could not list tsnet\'s networks', { err: String(err) });
      return;
    }
    const before = this.seenNetworks;
    this.seenNetworks = now;
    if (before === undefined) return;
    const added = [...now].filter((id) => !before.has(id));
    if (added.length === 0) return;
    this.log.debug('VIP-mode check: new tsnet network, reading the services soon', { networks: added });
    this.schedule(this.options.newNetworkDelayMs);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    const timer = this.clock.setTimeout(() => {
      // Unless a new network asked for an earlier pass meanwhile (that timer then carries on).
      void this.runOnce().then(() => this.timer === timer && this.schedule(this.nextDelayMs()));
    }, delayMs);
    this.timer = timer;
  }

  private async check(): Promise<void> {
    try {
      const ours = new Set(this.knownNetworks());
      if (ours.size === 0) return;
      const services = await this.docker.services();
      const resolved = new Map<string, DockerNetworkView | undefined>();
      const resolve = async (target: string) => {
        if (!resolved.has(target)) resolved.set(target, await this.docker.network(target));
        return resolved.get(target);
      };
      const current = new Set<string>();
      for (const service of services) {
        if (endpointMode(service) !== 'vip') continue;
        for (const target of networkTargets(service)) {
          let networkId: string | undefined;
          let networkName: string | undefined;
          if (ours.has(target)) {
            networkId = target;
          } else if (!NETWORK_ID.test(target)) {
            // A name (or an ID prefix): Docker resolves it.
            const view = await resolve(target);
            if (view && ours.has(view.Id)) {
              networkId = view.Id;
              networkName = view.Name ?? target;
            }
          }
          if (networkId === undefined) continue;
          const key = `${service.ID} ${networkId}`;
          current.add(key);
          if (this.warned.has(key)) continue;
          networkName ??= (await resolve(networkId).catch(() => undefined))?.Name ?? networkId;
          const name = service.Spec?.Name ?? service.ID;
          this.log.warn(VIP_WARNING, {
            service: name,
            serviceId: service.ID,
            network: networkName,
            networkId,
            fix: `docker service update --endpoint-mode dnsrr ${name} (or create it with --endpoint-mode dnsrr)`,
          });
          this.warned.add(key);
        }
      }
      // Services removed or switched to dnsrr are forgotten: should they come back in VIP mode, they are warned about again.
      for (const key of this.warned) if (!current.has(key)) this.warned.delete(key);
      this.log.debug('VIP-mode check: services read', { services: services.length, vipOnTsnet: current.size });
      this.succeeded();
    } catch (err) {
      this.failed(err);
    }
  }

  private succeeded(): void {
    if (this.lastFailure !== undefined) this.log.debug('VIP-mode check: Docker lists the services again');
    this.failures = 0;
    this.lastFailure = undefined;
  }

  private failed(err: unknown): void {
    this.failures++;
    const quiet = err instanceof NotSwarmManagerError || err instanceof DockerUnavailableError;
    const reason = err instanceof NotSwarmManagerError ? 'not a swarm manager' : err instanceof DockerUnavailableError ? 'Docker not reachable' : 'failed';
    const fields = { err: describe(err), nextInMs: this.nextDelayMs() };
    if (!quiet) {
      this.log.warn('VIP-mode check: reading the services failed', fields);
    } else if (reason !== this.lastFailure) {
      // Once per change of state: a worker would otherwise log this forever.
      this.log.debug(`VIP-mode check: ${reason}, trying again later`, fields);
    }
    this.lastFailure = reason;
  }
}

/** Spec.EndpointSpec.Mode, lower-cased; absent means "vip" (Docker's default). */
export function endpointMode(service: DockerServiceView): string {
  return (service.Spec?.EndpointSpec?.Mode || 'vip').toLowerCase();
}

/** The networks a service's tasks attach to (TaskTemplate.Networks, else the deprecated Spec.Networks). */
export function networkTargets(service: DockerServiceView): string[] {
  const listed = [...(service.Spec?.TaskTemplate?.Networks ?? []), ...(service.Spec?.Networks ?? [])];
  return [...new Set(listed.map((n) => n.Target).filter((t): t is string => typeof t === 'string' && t !== ''))];
}
