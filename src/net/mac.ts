import { randomBytes } from 'node:crypto';
import { isIPv4 } from './address';

/** Docker's bridge derives a container MAC from its IPv4 address: 02:42 followed by the 4 bytes. */
export function macFromIPv4(ip: string): string {
  if (!isIPv4(ip)) throw new Error(`${ip} is not an IPv4 address`);
  return ['02', '42', ...ip.split('.').map((b) => Number(b).toString(16).padStart(2, '0'))].join(':');
}

/** A random locally administered unicast MAC, for endpoints without an IPv4 address. */
export function randomMac(): string {
  const bytes = randomBytes(6);
  bytes[0] = (bytes[0]! & 0xfe) | 0x02;
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':');
}
