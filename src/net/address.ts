import { isIP } from 'node:net';

/**
 * Small, dependency-free checks on address text as it arrives on the wire. Node's isIP accepts an IPv6
 * zone ("fe80::5%eth0"), which neither the kernel's address attributes nor iptables take: an address
 * with a zone is not an address here.
 */

export function isIPv4(text: string): boolean {
  return isIP(text) === 4;
}

export function isIPv6(text: string): boolean {
  return isIP(text) === 6 && !text.includes('%');
}

function familyOf(text: string): 0 | 4 | 6 {
  return isIPv4(text) ? 4 : isIPv6(text) ? 6 : 0;
}

/** "ip/len" with a valid address and a prefix length in range for its family. */
export function isCidr(text: string): boolean {
  const slash = text.indexOf('/');
  if (slash < 0 || slash !== text.lastIndexOf('/')) return false;
  const ip = text.slice(0, slash);
  const len = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(len)) return false;
  const family = familyOf(ip);
  if (family === 0) return false;
  return Number(len) <= (family === 4 ? 32 : 128);
}

export function cidrAddress(cidr: string): string {
  return cidr.split('/')[0]!;
}

export function cidrPrefix(cidr: string): number {
  return Number(cidr.split('/')[1]);
}

export const MAC_PATTERN = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/** Docker sends a user MAC in endpoint options as base64 of the 6 bytes. */
export function macFromBase64(text: string): string | undefined {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length !== 6 || bytes.toString('base64') !== text) return undefined;
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':');
}
