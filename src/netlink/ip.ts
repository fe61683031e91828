import { isIP } from 'node:net';

/** IP address text <-> the 4 or 16 bytes netlink carries, and prefix arithmetic on those bytes. */

export type IpFamily = 4 | 6;

export const AF_INET = 2;
export const AF_INET6 = 10;
export const AF_BRIDGE = 7;

export function familyNumber(family: IpFamily): number {
  return family === 4 ? AF_INET : AF_INET6;
}

export function parseIp(text: string): Buffer {
  const ip = text.split('%')[0]!;
  const family = isIP(ip);
  if (family === 4) return Buffer.from(ip.split('.').map(Number));
  if (family !== 6) throw new TypeError(`invalid IP address "${text}"`);
  let text6 = ip;
  const lastColon = text6.lastIndexOf(':');
  if (text6.includes('.', lastColon)) {
    // Embedded IPv4 in the last 32 bits (::ffff:1.2.3.4): rewrite it as two hex words.
    const v4 = text6.slice(lastColon + 1).split('.').map(Number);
    const hi = ((v4[0]! << 8) | v4[1]!).toString(16);
    const lo = ((v4[2]! << 8) | v4[3]!).toString(16);
    text6 = `${text6.slice(0, lastColon + 1)}${hi}:${lo}`;
  }
  const groups = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  let words: number[];
  const gap = text6.indexOf('::');
  if (gap >= 0) {
    const left = groups(text6.slice(0, gap));
    const right = groups(text6.slice(gap + 2));
    words = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  } else {
    words = groups(text6);
  }
  const out = Buffer.alloc(16);
  words.forEach((w, i) => out.writeUInt16BE(w, i * 2));
  return out;
}

export function formatIp(bytes: Buffer): string {
  if (bytes.length === 4) return [...bytes].join('.');
  if (bytes.length !== 16) throw new TypeError(`not an IP address: ${bytes.length} bytes`);
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push(bytes.readUInt16BE(i));
  // RFC 5952: compress the longest run (length >= 2) of zero words, the first one on a tie.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]): string => ws.map((w) => w.toString(16)).join(':');
  if (bestStart < 0) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLen))}`;
}

export interface Cidr {
  family: IpFamily;
  ip: Buffer;
  prefixLen: number;
}

/** Parses "ip/len" (the form IPAM hands out gateways and addresses in). */
export function parseCidr(text: string): Cidr {
  const slash = text.indexOf('/');
  if (slash < 0) throw new TypeError(`invalid CIDR "${text}": no prefix length`);
  const ip = parseIp(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  const prefixLen = Number(lenText);
  const max = ip.length * 8;
  if (!/^\d{1,3}$/.test(lenText) || prefixLen > max) throw new TypeError(`invalid CIDR "${text}": bad prefix length`);
  return { family: ip.length === 4 ? 4 : 6, ip, prefixLen };
}

export function formatCidr(ip: Buffer, prefixLen: number): string {
  return `${formatIp(ip)}/${prefixLen}`;
}

/** The network address: `ip` with every bit after `prefixLen` cleared. */
export function maskIp(ip: Buffer, prefixLen: number): Buffer {
  const out = Buffer.from(ip);
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, prefixLen - i * 8));
    out[i]! &= (0xff << (8 - keep)) & 0xff;
  }
  return out;
}
