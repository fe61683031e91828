import type { PortBinding } from '../protocol';

const PROTOCOLS: Record<number, string> = { 6: 'tcp', 17: 'udp', 132: 'sctp' };

export function protoName(proto: number): string {
  return PROTOCOLS[proto] ?? String(proto);
}

/**
 * One published port as `docker port` prints it: `80/tcp -> 0.0.0.0:32768` (a range of host ports as
 * `32768-32770`; IPv6 host addresses in brackets).
 */
export function portLine(p: PortBinding): string {
  const host = p.HostIP === '' ? '0.0.0.0' : p.HostIP.includes(':') ? `[${p.HostIP}]` : p.HostIP;
  const hostPorts = p.HostPortEnd && p.HostPortEnd !== p.HostPort ? `${p.HostPort}-${p.HostPortEnd}` : `${p.HostPort}`;
  return `${p.Port}/${protoName(p.Proto)} -> ${host}:${hostPorts}`;
}
