import type { DockerVerboseNetworkView } from '../docker/api-client';
import type { VipNetwork } from '../firewall/vip';
import type { VipHostChange, VipHostWanted } from '../datapath/vxlan/vip-host';
import type { Logger } from '../log';
import type { Clock } from '../model/clock';
import { PeriodicTask } from '../model/periodic-task';
import { describe } from '../model/errors';
import { networkVipsOf, type VipServiceView } from './vip-services';

/** The Docker API read (DockerApiClient; a fake in tests). */
export interface VipBalancerDocker {
  networkVerbose(id: string): Promise<DockerVerboseNetworkView | undefined>;
}

/** A tsnet VXLAN network with its bridge on this node. */
export interface LocalVipNetwork {
  id: string;
  bridge: string;
}

export interface VipBalancerParts {
  docker: VipBalancerDocker;
  /** The VXLAN networks with a bridge on this node (a local read of the store). */
  networks: () => LocalVipNetwork[];
  /** Makes the VIP rules exactly these (VipFirewall.apply). */
  rules: { apply(networks: readonly VipNetwork[]): Promise<boolean> };
  /** The VIP addresses and remote tasks' neighbours of one bridge (ensureVipHost). */
  host: (wanted: VipHostWanted) => Promise<VipHostChange>;
  /** Deletes the connections of a VIP to a task that went (Conntrack). */
  conntrack: { deleteVipTask(vip: string, task: string): Promise<number> };
  log: Logger;
  /** Where the Docker socket is expected (named in the warning when it does not answer). */
  dockerSocket: string;
  /** Time between two passes. A task that goes is out of rotation within this much after Docker's gossip. */
  intervalMs: number;
  clock?: Clock;
}

export const VIP_NO_DOCKER_WARNING =
  'Swarm services in VIP mode on tsnet networks cannot be balanced on this node: the Docker API does not answer';

/** Programmed state of one VIP: its network, service name and tasks. */
interface Programmed {
  networkId: string;
  service: string;
  tasks: string[];
}

/**
 * Swarm service VIPs on tsnet VXLAN networks (issue 17): every node balances the VIPs of its own
 * clients. Each pass reads `GET /networks/{id}?verbose=true` of every local tsnet VXLAN network (its
 * `Services`: VIP and task addresses, from Docker's gossip, present on workers too), then makes the
 * kernel hold exactly that: the nat rules (firewall/vip.ts), each VIP as an address of the bridge and a
 * neighbour entry per remote task (datapath/vxlan/vip-host.ts). A task that left the rotation has its
 * connections deleted from conntrack. Runs in the background only, never inside a request handler (at
 * boot dockerd waits for the plugin). A network Docker does not answer for keeps what it had.
 */
export class VipBalancer {
  private readonly task: PeriodicTask;
  /** network ID → the last VIPs read (kept while Docker does not answer). */
  private readonly known = new Map<string, { bridge: string; services: VipServiceView[]; local: Set<string> }>();
  /** "vip" → what is programmed for it. */
  private readonly programmed = new Map<string, Programmed>();
  private dockerDown = false;
  private failingSince: string | undefined;
  private passFailed = false;

  constructor(private readonly parts: VipBalancerParts) {
    this.task = new PeriodicTask({
      pass: () => this.pass(),
      nextDelayMs: () => parts.intervalMs,
      onError: (err) => parts.log.error('background pass failed', { err: String(err) }),
      ...(parts.clock ? { clock: parts.clock } : {}),
    });
  }

  start(): void {
    this.task.start();
  }

  stop(): Promise<void> {
    return this.task.stop();
  }

  /** One pass; overlapping passes are not started. */
  runOnce(): Promise<void> {
    return this.task.runOnce();
  }

  private async pass(): Promise<void> {
    const { log } = this.parts;
    let networks: LocalVipNetwork[];
    try {
      networks = this.parts.networks();
    } catch (err) {
      log.warn('VIP balancer: could not list tsnet\'s networks', { err: describe(err) });
      return;
    }
    const local = new Set(networks.map((n) => n.id));
    for (const id of this.known.keys()) if (!local.has(id)) this.known.delete(id);
    let unanswered = 0;
    let lastError: unknown;
    for (const net of networks) {
      try {
        const view = await this.parts.docker.networkVerbose(net.id);
        const vips = view ? networkVipsOf(view) : { services: [], localAddresses: new Set<string>(), truncated: false };
        if (vips.truncated) log.warn('VIP balancer: too many services or tasks on the network; the rest is not balanced', { networkId: net.id });
        this.known.set(net.id, { bridge: net.bridge, services: vips.services, local: vips.localAddresses });
      } catch (err) {
        unanswered++;
        lastError = err;
        // Docker down or restarting: what was programmed stays.
        const before = this.known.get(net.id);
        if (before) before.bridge = net.bridge;
      }
    }
    this.noteDocker(networks.length > 0 && unanswered === networks.length, lastError);
    await this.program();
  }

  private noteDocker(down: boolean, err: unknown): void {
    const { log } = this.parts;
    if (down && !this.dockerDown) {
      log.warn(VIP_NO_DOCKER_WARNING, {
        socket: this.parts.dockerSocket,
        err: describe(err),
        fix: 'docker plugin set tsnet docker-socket.source=/var/run/docker.sock (managed plugin; TSNET_DOCKER_SOCKET otherwise)',
      });
    } else if (!down && this.dockerDown) {
      log.info('VIP balancer: the Docker API answers again');
    }
    this.dockerDown = down;
  }

  private async program(): Promise<void> {
    const { log } = this.parts;
    this.passFailed = false;
    const wanted: VipNetwork[] = [...this.known].map(([id, k]) => ({ id, bridge: k.bridge, services: k.services.map((s) => ({ vip: s.vip, tasks: s.tasks, local: s.tasks.filter((t) => k.local.has(t)) })) }));
    try {
      await this.parts.rules.apply(wanted);
    } catch (err) {
      this.failed('rules', err);
      return;
    }
    for (const [id, k] of this.known) {
      const remoteTasks = [...new Set(k.services.flatMap((s) => s.tasks).filter((t) => !k.local.has(t)))];
      try {
        await this.parts.host({ bridge: k.bridge, vips: k.services.map((s) => s.vip), remoteTasks });
      } catch (err) {
        this.failed(`host state of network ${id}`, err);
      }
    }
    // What changed since the last pass: a log line per VIP programmed or gone; dead tasks' connections.
    const now = new Map<string, Programmed>();
    for (const [networkId, k] of this.known) for (const s of k.services) now.set(s.vip, { networkId, service: s.name, tasks: [...s.tasks].sort() });
    for (const [vip, before] of this.programmed) {
      const after = now.get(vip);
      const gone = before.tasks.filter((t) => !after?.tasks.includes(t));
      for (const task of gone) {
        try {
          const deleted = await this.parts.conntrack.deleteVipTask(vip, task);
          if (deleted > 0) log.info('VIP task left: its connections were reset', { vip, task, connections: deleted });
        } catch (err) {
          this.failed('conntrack', err);
        }
      }
      if (!after) log.info('VIP removed', { service: before.service, vip, networkId: before.networkId });
    }
    for (const [vip, after] of now) {
      const before = this.programmed.get(vip);
      if (before && before.tasks.join() === after.tasks.join()) continue;
      log.info('VIP programmed', { service: after.service, vip, tasks: after.tasks, networkId: after.networkId });
    }
    this.programmed.clear();
    for (const [vip, p] of now) this.programmed.set(vip, p);
    if (!this.passFailed && this.failingSince !== undefined) {
      log.info('VIP balancer: programmed again');
      this.failingSince = undefined;
    }
  }

  private failed(what: string, err: unknown): void {
    this.passFailed = true;
    // Once per kind of failure in a row: a pass every second would otherwise flood the log.
    if (this.failingSince === what) return;
    this.failingSince = what;
    this.parts.log.warn(`VIP balancer: ${what} failed; trying again next pass`, { err: describe(err) });
  }
}
