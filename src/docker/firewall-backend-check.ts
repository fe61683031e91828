import type { Logger } from '../log';
import { systemClock, type Clock } from '../model/clock';
import { PeriodicTask } from '../model/periodic-task';
import { describe } from '../model/errors';
import type { DockerInfoView } from './api-client';

/** The Docker API read the check makes (DockerApiClient; a fake in tests). */
export interface FirewallBackendDocker {
  info(): Promise<DockerInfoView>;
}

export interface FirewallBackendCheckOptions {
  /** First delay after Docker did not answer; doubled per failure up to maxRetryMs. */
  retryMs: number;
  maxRetryMs: number;
  /** Once Docker answered: how often to look again (dockerd may be restarted with another backend). */
  recheckMs: number;
}

export const FIREWALL_BACKEND_CHECK: FirewallBackendCheckOptions = { retryMs: 1_000, maxRetryMs: 300_000, recheckMs: 600_000 };

export const NFTABLES_WARNING =
  "dockerd uses the nftables firewall backend, which tsnet does not support yet: tsnet's rules are iptables rules, " +
  "there is no DOCKER-USER chain under nftables, and Docker's own nftables drop rules are not overridden by an " +
  'iptables ACCEPT, so forwarded traffic of tsnet networks and their published ports may be dropped. ' +
  'Run dockerd with "firewall-backend": "iptables" (README.md, "Docker\'s nftables firewall backend")';

/**
 * Warns once when dockerd runs with the nftables firewall backend (Docker 29, opt-in; `FirewallBackend`
 * in GET /info). A background task only, never inside a request: at boot dockerd waits for its plugins,
 * so the first reads may find no Docker; they are retried with back-off, quietly (debug). After an
 * answer it looks again now and then, and warns again only after the backend changed back and forth.
 */
export class FirewallBackendCheck {
  private readonly task: PeriodicTask;
  private failures = 0;
  /** The backend last reported (undefined until Docker answered once). */
  private backend: string | undefined;

  constructor(
    private readonly docker: FirewallBackendDocker,
    private readonly log: Logger,
    private readonly options: FirewallBackendCheckOptions = FIREWALL_BACKEND_CHECK,
    clock: Clock = systemClock,
  ) {
    this.task = new PeriodicTask({
      pass: () => this.check(),
      nextDelayMs: () => this.nextDelayMs(),
      onError: (err) => this.log.error('background pass failed', { err: String(err) }),
      clock,
    });
  }

  /** The first look comes at once (in the background); then the schedule above. */
  start(): void {
    this.task.start();
  }

  stop(): Promise<void> {
    return this.task.stop();
  }

  /** The backend dockerd reported last ("iptables" when it reports none: Docker before 28.3). */
  get reported(): string | undefined {
    return this.backend;
  }

  /** One look; overlapping looks are not started. */
  runOnce(): Promise<void> {
    return this.task.runOnce();
  }

  private nextDelayMs(): number {
    if (this.failures === 0) return this.options.recheckMs;
    return Math.min(this.options.retryMs * 2 ** Math.min(this.failures - 1, 30), this.options.maxRetryMs);
  }

  private async check(): Promise<void> {
    let info: DockerInfoView;
    try {
      info = await this.docker.info();
    } catch (err) {
      this.failures++;
      if (this.failures === 1) this.log.debug('firewall backend check: Docker not reachable yet, trying again later', { err: describe(err) });
      return;
    }
    this.failures = 0;
    const reported = info.FirewallBackend?.Driver;
    const backend = reported ? reported.toLowerCase() : 'iptables';
    const before = this.backend;
    this.backend = backend;
    if (before === backend) return;
    const fields = { firewallBackend: reported ?? '(not reported)', dockerVersion: info.ServerVersion ?? 'unknown' };
    if (isNftables(backend)) this.log.warn(NFTABLES_WARNING, fields);
    else if (before !== undefined && isNftables(before)) this.log.info('dockerd no longer uses the nftables firewall backend', fields);
    else this.log.debug('dockerd firewall backend', fields);
  }
}

function isNftables(backend: string): boolean {
  return backend.startsWith('nftables');
}
