/**
 * The two-host VXLAN lab of the netns tier: this process's namespace is host A (the data path under
 * test), host B is a child namespace given by hand what tsnet would make there. The tests pass the
 * addresses, MTUs and VNI they check.
 */
import { isIPv6 } from 'node:net';
import type { ChildNs } from './child-ns';
import { runSync } from './netns';

export interface RemoteHost {
  /** Host A's and host B's underlay addresses (no prefix length) on ul0 / eth0. */
  aUnderlay: string;
  bUnderlay: string;
  prefixLength: number;
  underlayMtu: number;
  overlayMtu: number;
  vni: number;
  /** Host B's bridge: the anycast gateway, as "ip/len", with tsnet's gateway MAC. */
  gateway: string;
  gatewayMac: string;
  /** Container cB on host B's bridge, "ip/len"; its MAC when the test needs a fixed one. */
  cB: string;
  cBMac?: string;
  /** `bridge link set dev vxB neigh_suppress on` (as tsnet sets its own VXLAN port). */
  neighSuppress?: boolean;
}

const ip = (cidr: string) => cidr.split('/')[0]!;

/**
 * The underlay veth ul0 (host A) <-> eth0 (host B), and on host B a bridge brB with the anycast
 * gateway, VXLAN `vni` flooding to host A, and container cB on it.
 */
export function wireRemoteHost(hostB: ChildNs, cB: ChildNs, o: RemoteHost): void {
  const nodad = isIPv6(o.aUnderlay) ? ['nodad'] : [];
  runSync('ip', ['link', 'add', 'ul0', 'mtu', String(o.underlayMtu), 'type', 'veth', 'peer', 'name', 'eth0', 'mtu', String(o.underlayMtu), 'netns', String(hostB.pid)]);
  runSync('ip', ['addr', 'add', `${o.aUnderlay}/${o.prefixLength}`, 'dev', 'ul0', ...nodad]);
  runSync('ip', ['link', 'set', 'ul0', 'up']);
  hostB.sh(
    [
      `ip addr add ${o.bUnderlay}/${o.prefixLength} dev eth0 ${nodad.join(' ')}`,
      'ip link set eth0 up',
      `ip link add brB address ${o.gatewayMac} mtu ${o.overlayMtu} type bridge`,
      `ip addr add ${o.gateway} dev brB`,
      'ip link set brB up',
      `ip link add vxB mtu ${o.overlayMtu} type vxlan id ${o.vni} dstport 4789 local ${o.bUnderlay} dev eth0 learning`,
      'ip link set vxB master brB up',
      ...(o.neighSuppress ? ['bridge link set dev vxB neigh_suppress on'] : []),
      `bridge fdb append 00:00:00:00:00:00 dev vxB dst ${o.aUnderlay}`,
      `ip link add vB mtu ${o.overlayMtu} type veth peer name eth0 mtu ${o.overlayMtu} netns ${cB.pid}`,
      'ip link set vB master brB up',
    ].join('; '),
  );
  const mac = o.cBMac ? `ip link set eth0 address ${o.cBMac}; ` : '';
  cB.sh(`${mac}ip addr add ${o.cB} dev eth0; ip link set eth0 up; ip route add default via ${ip(o.gateway)}`);
}

/** Removes ul0 (and with it host B's eth0); nothing to do when host B's end went with its namespace. */
export function unwireRemoteHost(): void {
  try {
    runSync('ip', ['link', 'del', 'ul0']);
  } catch {
    // gone with host B
  }
}

/** What Docker does with the container end after Join: into the sandbox, renamed eth0, addressed, default route via `gateway`. */
export function moveIntoContainer(srcName: string, c: ChildNs, cidr: string, gateway: string): void {
  runSync('ip', ['link', 'set', srcName, 'netns', String(c.pid)]);
  c.sh(`ip link set ${srcName} name eth0; ip addr add ${cidr} dev eth0; ip link set eth0 up; ip route add default via ${gateway}`);
}
