import { readFileSync } from 'node:fs';
import type { Logger } from '../../log';
import type { NetworkRecord } from '../../model/records';

export const IPV6_FORWARDING_SYSCTL = '/proc/sys/net/ipv6/conf/all/forwarding';

export const IPV6_FORWARDING_WARNING =
  'IPv6 forwarding is off on this host: containers of this network reach only each other and the host over IPv6';

/**
 * tsnet writes no sysctl (a managed plugin's /proc/sys is read-only): it relies on the host routing.
 * dockerd turns IPv4 forwarding on at its start, but IPv6 forwarding only when it creates an IPv6
 * network of its own bridge driver. A routed (bridge, vxlan) network with IPv6 subnets that is not
 * --internal therefore gets one warning at creation, naming the fix, when forwarding is off.
 */
export function warnIfNoIPv6Forwarding(net: NetworkRecord, log: Logger, read: () => string = () => readFileSync(IPV6_FORWARDING_SYSCTL, 'utf8')): void {
  if (net.internal || net.ipv6.length === 0) return;
  let value: string;
  try {
    value = read().trim();
  } catch {
    return; // no IPv6 in this kernel: nothing to warn about
  }
  if (value !== '0') return;
  log.warn(IPV6_FORWARDING_WARNING, {
    networkId: net.id,
    fix: 'sysctl -w net.ipv6.conf.all.forwarding=1 (dockerd does this when it creates an IPv6 network of its own; set the ip6tables FORWARD policy to DROP as it does)',
  });
}
