import { isIPv4 } from 'node:net';
import type { DockerVerboseNetworkView } from '../docker/api-client';

/** At most this many VIPs per network and tasks per VIP are programmed (the rest is logged, not balanced). */
export const MAX_VIPS_PER_NETWORK = 1024;
export const MAX_TASKS_PER_VIP = 1024;

/** A service of a network with its VIP and its tasks' addresses (IPv4, no prefix). */
export interface VipServiceView {
  name: string;
  vip: string;
  tasks: string[];
}

export interface NetworkVips {
  services: VipServiceView[];
  /** Addresses of the network's endpoints on this node (Containers): tasks there are reached by ARP. */
  localAddresses: Set<string>;
  /** Services or tasks left out by the bounds above. */
  truncated: boolean;
}

/** "10.0.0.2/24" or "10.0.0.2" → "10.0.0.2"; undefined when not IPv4 (dnsrr services have no VIP). */
function ipv4Of(text: string | undefined): string | undefined {
  const ip = (text ?? '').split('/')[0]!;
  return isIPv4(ip) ? ip : undefined;
}

/**
 * The VIP services of a verbose network view (Docker's `Services`): those with an IPv4 VIP and at least
 * one task address, sorted by name, bounded.
 */
export function networkVipsOf(view: DockerVerboseNetworkView): NetworkVips {
  const services: VipServiceView[] = [];
  let truncated = false;
  for (const [name, svc] of Object.entries(view.Services ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    const vip = ipv4Of(svc?.VIP);
    if (vip === undefined) continue;
    let tasks = [...new Set((svc?.Tasks ?? []).map((t) => ipv4Of(t?.EndpointIP)).filter((ip): ip is string => ip !== undefined && ip !== vip))];
    if (tasks.length === 0) continue;
    if (tasks.length > MAX_TASKS_PER_VIP) {
      tasks = tasks.slice(0, MAX_TASKS_PER_VIP);
      truncated = true;
    }
    if (services.length >= MAX_VIPS_PER_NETWORK) {
      truncated = true;
      break;
    }
    services.push({ name, vip, tasks });
  }
  const localAddresses = new Set(
    Object.values(view.Containers ?? {})
      .map((c) => ipv4Of(c?.IPv4Address))
      .filter((ip): ip is string => ip !== undefined),
  );
  return { services, localAddresses, truncated };
}
