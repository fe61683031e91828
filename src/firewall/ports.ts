import { isIP } from 'node:net';
import type { Logger } from '../log';
import type { PortBinding } from '../protocol';
import type { IpFamily } from './backend';
import type { Firewall } from './firewall';
import { PortAllocatedError, formatHostPort, holdPort, type HeldPort, type PortProto, type ProxyTarget } from './host-port';
import { RelayBudget } from './relay-budget';
import { canonicalAddress, spec, type Rule } from './rules';
import type { PortsNetwork } from './network';

/**
 * Port publishing (`docker run -p`), done at ProgramExternalConnectivity: Docker does no NAT for remote
 * drivers.
 *
 * Per binding and address family: one DNAT rule in TSNET-DNAT (reached from nat PREROUTING and OUTPUT for
 * packets to a local address), marked `tsnet:<instance>:net:<net12>:ep:<ep12>` so an endpoint's
 * mappings are replaced or removed as a unit, plus a socket holding HostIP:HostPort on the host (see
 * host-port.ts: conflict detection and the loopback proxy). Forwarding of DNAT'd packets into the bridge
 * and the hairpin masquerade are per-network rules (rules.ts), so a port costs exactly one rule.
 *
 * Semantics follow libnetwork's bridge driver:
 *  - HostIP "" → the network's host_binding_ipv4 (default 0.0.0.0), plus [::] when the container has an
 *    IPv6 address and the default is the IPv4 wildcard; an explicit IPv4/IPv6 HostIP → that family only.
 *  - HostPort 0 → a free port chosen by the kernel (bind to port 0); HostPort..HostPortEnd → the first
 *    free port of the range (not one port per range member). When a binding maps both families, both
 *    use the same host port.
 *  - The result has one entry per mapping made, with the chosen port (HostPort = HostPortEnd) and the
 *    concrete HostIP; publishing that result again maps exactly the same ports (use it to restore after
 *    a restart).
 */
export interface PortPublisherOptions {
  logger?: Logger;
  /** Proxy loopback connections to the container (default true); false only holds the port. */
  loopbackProxy?: boolean;
  /**
   * The descriptors all loopback relays may hold together (relay-budget.ts); the daemon ties it to its fd
   * limit. Default: no shared budget (the per-port caps only).
   */
  relayBudget?: RelayBudget;
}

export interface PublishRequest {
  net: PortsNetwork;
  endpointId: string;
  /** "ip" or "ip/len" */
  containerIPv4?: string;
  containerIPv6?: string;
  bindings: PortBinding[];
}

/** What a reconcile may prune: the endpoints of these networks (IDs as Docker gives them). */
export interface ReconcileScope {
  networks: Iterable<string>;
}

export interface ReconcileResult {
  endpointId: string;
  bindings?: PortBinding[];
  error?: string;
}

const PROTOCOLS: Record<number, PortProto> = { 6: 'tcp', 17: 'udp', 132: 'sctp' };

/** Ports the kernel hands out for bind(0) on a default Linux, used for SCTP, which Node cannot bind. */
const EPHEMERAL_FIRST = 32768;
const EPHEMERAL_LAST = 60999;
const EPHEMERAL_ATTEMPTS = 20;

interface Target {
  family: IpFamily;
  hostIP: string;
  containerIP: string;
}

interface Publication {
  key: string;
  /** The key of publishing `result` again (a restore, or a repeated Program): the same publication. */
  resultKey: string;
  marker: string;
  held: HeldPort[];
  result: PortBinding[];
  hasIPv6: boolean;
}

function bare(ip: string | undefined): string | undefined {
  if (!ip) return undefined;
  const a = ip.split('/')[0]!;
  return isIP(a) ? canonicalAddress(a) : undefined;
}

/** What makes two publish requests of an endpoint the same, whatever the key order of the bindings. */
function publicationKey(net: PortsNetwork, v4: string | undefined, v6: string | undefined, bindings: PortBinding[]): string {
  const fields = bindings.map((b) => [b.Proto, b.IP ?? '', b.Port, b.HostIP ?? '', b.HostPort, b.HostPortEnd]);
  return JSON.stringify([net.id, hostBindingOf(net), v4 ?? null, v6 ?? null, fields]);
}

function isWildcard(ip: string): boolean {
  return ip === '0.0.0.0' || ip === '::';
}

function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1';
}

function hostBindingOf(net: PortsNetwork): string {
  const v = net.hostBinding;
  return v && v.trim() ? v.trim() : '0.0.0.0';
}

export class PortPublisher {
  private readonly logger?: Logger;
  private readonly proxy: boolean;
  private readonly relayBudget: RelayBudget;
  private readonly publications = new Map<string, Publication>();
  /** SCTP ports held by tsnet: key family|hostIP|port → endpoint. */
  private readonly sctp = new Map<string, string>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly firewall: Firewall,
    opts: PortPublisherOptions = {},
  ) {
    this.logger = opts.logger;
    this.proxy = opts.loopbackProxy ?? true;
    this.relayBudget = opts.relayBudget ?? RelayBudget.unlimited();
  }

  /**
   * Publishes an endpoint's bindings, replacing what it published before. Returns the mappings made.
   * On any failure nothing of the endpoint stays published and the error names ip:port/proto
   * ("Bind for 0.0.0.0:8080/tcp failed: port is already allocated").
   */
  publishPorts(
    net: PortsNetwork,
    endpointId: string,
    containerIPv4: string | undefined,
    containerIPv6: string | undefined,
    bindings: PortBinding[],
  ): Promise<PortBinding[]> {
    return this.exclusive(() => this.publish({ net, endpointId, containerIPv4, containerIPv6, bindings }));
  }

  /** Removes an endpoint's DNAT rules and releases its host ports. Unknown endpoints: rules by marker only. */
  unpublishPorts(net: Pick<PortsNetwork, 'id'>, endpointId: string): Promise<void> {
    return this.exclusive(async () => {
      const marker = this.firewall.markers.endpoint(net.id, endpointId);
      const pub = this.publications.get(endpointId);
      this.publications.delete(endpointId);
      if (pub) await this.release(pub.held);
      await this.firewall.replaceOwnedRules(4, marker, []);
      await this.clear6(marker, pub?.hasIPv6 ?? false);
    });
  }

  /**
   * Start-up/periodic convergence: publishes every listed endpoint (a failure is reported per endpoint,
   * the others still publish), then drops mappings of endpoints not listed (rules and held ports) —
   * with a scope, only those of endpoints of the scope's networks, so callers that share this publisher
   * (the bridge and VXLAN data paths) each reconcile their own, in any order. Idempotent.
   */
  reconcile(entries: PublishRequest[], scope?: ReconcileScope): Promise<ReconcileResult[]> {
    const networks = scope && new Set([...scope.networks].map((id) => id.slice(0, 12)));
    const inScope = (marker: string | undefined) => !networks || networks.has(this.firewall.markers.networkOf(marker) ?? '');
    return this.exclusive(async () => {
      const results: ReconcileResult[] = [];
      for (const e of entries) {
        try {
          results.push({ endpointId: e.endpointId, bindings: await this.publish(e) });
        } catch (err) {
          this.logger?.error('republishing ports failed', { endpointId: e.endpointId, error: String(err) });
          results.push({ endpointId: e.endpointId, error: (err as Error).message });
        }
      }
      const keep = new Set(entries.map((e) => this.firewall.markers.endpoint(e.net.id, e.endpointId)));
      for (const [id, pub] of [...this.publications]) {
        if (keep.has(pub.marker) || !inScope(pub.marker)) continue;
        this.publications.delete(id);
        await this.release(pub.held);
      }
      const stale = (c: string | undefined) => this.firewall.markers.isEndpointMarker(c) && !keep.has(c!) && inScope(c);
      await this.firewall.removeOwnedRules(4, stale);
      try {
        await this.firewall.removeOwnedRules(6, stale);
      } catch (err) {
        if (entries.some((e) => bare(e.containerIPv6))) throw err;
      }
      return results;
    });
  }

  /** Releases every held port (process shutdown); the rules stay for the next start's reconcile. */
  close(): Promise<void> {
    return this.exclusive(async () => {
      for (const pub of this.publications.values()) await this.release(pub.held);
      this.publications.clear();
    });
  }

  // ---------------------------------------------------------------------------------------------------

  private async publish(req: PublishRequest): Promise<PortBinding[]> {
    const { net, endpointId, bindings } = req;
    const v4 = bare(req.containerIPv4);
    const v6 = bare(req.containerIPv6);
    const marker = this.firewall.markers.endpoint(net.id, endpointId);
    const key = publicationKey(net, v4, v6, bindings);
    const previous = this.publications.get(endpointId);
    if (previous && (previous.key === key || previous.resultKey === key)) {
      // Same request: re-assert the rules (a no-op when they are intact) and answer the same.
      await this.applyRules(marker, previous.result, previous.hasIPv6);
      return previous.result;
    }
    if (previous) {
      this.publications.delete(endpointId);
      await this.release(previous.held);
    }
    const held: HeldPort[] = [];
    const result: PortBinding[] = [];
    try {
      for (const b of bindings) {
        const proto = PROTOCOLS[b.Proto];
        if (!proto) throw new Error(`cannot publish port ${b.Port}: unsupported protocol number ${b.Proto}`);
        if (!Number.isInteger(b.Port) || b.Port < 1 || b.Port > 65535) throw new Error(`invalid container port ${b.Port}`);
        const targets = this.targetsFor(b, net, v4, v6);
        if (targets.length === 0) {
          this.logger?.warn('port binding skipped: container has no address of the binding family', { endpointId, binding: b });
          continue;
        }
        const { port, ports } = await this.hold(endpointId, proto, targets, b);
        held.push(...ports);
        for (const t of targets) {
          result.push({ Proto: b.Proto, IP: t.containerIP, Port: b.Port, HostIP: t.hostIP, HostPort: port, HostPortEnd: port });
        }
      }
      const hasIPv6 = (previous?.hasIPv6 ?? false) || result.some((r) => isIP(r.HostIP) === 6);
      await this.applyRules(marker, result, hasIPv6);
      const resultKey = publicationKey(net, v4, v6, result);
      this.publications.set(endpointId, { key, resultKey, marker, held, result, hasIPv6: result.some((r) => isIP(r.HostIP) === 6) });
      this.logger?.info('ports published', { networkId: net.id, endpointId, mappings: result.length });
      return result;
    } catch (e) {
      await this.release(held);
      try {
        await this.firewall.replaceOwnedRules(4, marker, []);
        await this.clear6(marker, previous?.hasIPv6 ?? !!v6);
      } catch (cleanup) {
        this.logger?.error('removing port rules after a failed publish failed', { endpointId, error: String(cleanup) });
      }
      throw e;
    }
  }

  private targetsFor(b: PortBinding, net: PortsNetwork, v4?: string, v6?: string): Target[] {
    const hostIP = (b.HostIP ?? '').trim();
    if (hostIP === '') {
      const def = canonicalAddress(hostBindingOf(net));
      const out: Target[] = [];
      if (isIP(def) === 4) {
        if (v4) out.push({ family: 4, hostIP: def, containerIP: v4 });
        if (v6 && def === '0.0.0.0') out.push({ family: 6, hostIP: '::', containerIP: v6 });
      } else if (v6) {
        out.push({ family: 6, hostIP: def, containerIP: v6 });
      }
      return out;
    }
    const family = isIP(hostIP);
    if (family === 0) throw new Error(`invalid host IP "${hostIP}" in port binding`);
    const canonical = canonicalAddress(hostIP);
    if (family === 4) return v4 ? [{ family: 4, hostIP: canonical, containerIP: v4 }] : [];
    return v6 ? [{ family: 6, hostIP: canonical, containerIP: v6 }] : [];
  }

  /** Holds one host port for all targets of a binding, trying the range (or ephemeral ports) in turn. */
  private async hold(
    endpointId: string,
    proto: PortProto,
    targets: Target[],
    b: PortBinding,
  ): Promise<{ port: number; ports: HeldPort[] }> {
    const start = b.HostPort || 0;
    const end = b.HostPortEnd && b.HostPortEnd > start ? b.HostPortEnd : start;
    if (start < 0 || end > 65535) throw new Error(`invalid host port range ${start}-${end}`);
    const candidates: number[] = [];
    if (start === 0) for (let i = 0; i < EPHEMERAL_ATTEMPTS; i++) candidates.push(0);
    else for (let p = start; p <= end; p++) candidates.push(p);
    let lastBusy: Error | undefined;
    for (const candidate of candidates) {
      const ports: HeldPort[] = [];
      try {
        let port = candidate;
        for (const t of targets) {
          const target: ProxyTarget | undefined = this.proxy ? { address: t.containerIP, port: b.Port } : undefined;
          const h =
            proto === 'sctp'
              ? this.holdSctp(endpointId, t.family, t.hostIP, port)
              : await holdPort(t.family, proto, t.hostIP, port, target, this.logger, this.relayBudget);
          ports.push(h);
          port = h.port;
        }
        return { port, ports };
      } catch (e) {
        await this.release(ports);
        if (!(e instanceof PortAllocatedError)) throw e;
        lastBusy = e;
      }
    }
    if (start !== end) {
      const hosts = targets.map((t) => formatHostPort(t.hostIP, `${start}-${end}`, proto)).join(', ');
      throw new PortAllocatedError(`Bind for ${hosts} failed: port is already allocated`);
    }
    throw lastBusy ?? new PortAllocatedError('port is already allocated');
  }

  private holdSctp(endpointId: string, family: IpFamily, hostIP: string, port: number): HeldPort {
    const busy = (p: number) => {
      for (const k of this.sctp.keys()) {
        const [f, ip, kp] = k.split('|');
        if (Number(f) === family && Number(kp) === p && (ip === hostIP || isWildcard(ip!) || isWildcard(hostIP))) return true;
      }
      return false;
    };
    let chosen = port;
    if (port === 0) {
      const span = EPHEMERAL_LAST - EPHEMERAL_FIRST + 1;
      const offset = Math.floor(Math.random() * span);
      chosen = 0;
      for (let i = 0; i < span && chosen === 0; i++) {
        const p = EPHEMERAL_FIRST + ((offset + i) % span);
        if (!busy(p)) chosen = p;
      }
      if (chosen === 0) throw new Error('no free SCTP port left');
    } else if (busy(port)) {
      throw new PortAllocatedError(`Bind for ${formatHostPort(hostIP, port, 'sctp')} failed: port is already allocated`);
    }
    const key = `${family}|${hostIP}|${chosen}`;
    this.sctp.set(key, endpointId);
    return {
      family,
      proto: 'sctp',
      hostIP,
      port: chosen,
      release: async () => {
        this.sctp.delete(key);
      },
    };
  }

  /** The DNAT rules of the mappings, per family, replacing the endpoint's previous ones. */
  private async applyRules(marker: string, mappings: PortBinding[], touch6: boolean): Promise<void> {
    const rules4: Rule[] = [];
    const rules6: Rule[] = [];
    for (const m of mappings) {
      const family = isIP(m.HostIP) === 6 ? 6 : 4;
      if (isLoopback(m.HostIP)) continue; // loopback is served by the held socket's proxy
      (family === 4 ? rules4 : rules6).push(dnatRule(this.firewall.names.dnat, marker, family, m));
    }
    await this.firewall.replaceOwnedRules(4, marker, rules4);
    if (touch6 || rules6.length > 0) await this.firewall.replaceOwnedRules(6, marker, rules6);
  }

  /** Removes IPv6 rules of a marker; a host without usable ip6tables only matters if IPv6 was mapped. */
  private async clear6(marker: string, mustSucceed: boolean): Promise<void> {
    try {
      await this.firewall.replaceOwnedRules(6, marker, []);
    } catch (e) {
      if (mustSucceed) throw e;
    }
  }

  private async release(ports: HeldPort[]): Promise<void> {
    await Promise.all(ports.map((p) => p.release().catch(() => undefined)));
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.queue.then(fn, fn);
    this.queue = result.catch(() => undefined);
    return result;
  }
}

/** One published mapping as a TSNET-DNAT rule, in iptables-save's form. */
export function dnatRule(chain: string, marker: string, family: IpFamily, m: PortBinding): Rule {
  const proto = PROTOCOLS[m.Proto];
  if (!proto) throw new Error(`unsupported protocol number ${m.Proto}`);
  const host = canonicalAddress(m.HostIP);
  const container = canonicalAddress(m.IP);
  const dest = family === 6 ? `[${container}]:${m.Port}` : `${container}:${m.Port}`;
  return {
    table: 'nat',
    chain,
    spec: spec(
      [isWildcard(host) ? undefined : `-d ${host}/${family === 6 ? 128 : 32}`, `-p ${proto}`, `-m ${proto} --dport ${m.HostPort}`],
      marker,
      `-j DNAT --to-destination ${dest}`,
    ),
  };
}
