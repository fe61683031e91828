import ip6addr from 'ip6addr';

/**
 * IP addresses and CIDRs as BigInt values, so that IPv4 and IPv6 share one arithmetic. Parsing goes
 * through ip6addr; everything after parsing is plain integer math.
 */
export type IpFamily = 4 | 6;

export interface IpAddress {
  family: IpFamily;
  value: bigint;
}

export interface Cidr {
  family: IpFamily;
  /** The first address (host bits zero). */
  network: bigint;
  prefix: number;
}

export interface ParsedCidr {
  cidr: Cidr;
  /** The address as written, which may have host bits set (e.g. 10.0.0.5 in 10.0.0.5/24). */
  address: bigint;
}

const IPV4_TEXT = /^(0|[1-9]\d{0,2})(\.(0|[1-9]\d{0,2})){3}$/;

export function familyBits(family: IpFamily): number {
  return family === 4 ? 32 : 128;
}

export function familyName(family: IpFamily): string {
  return family === 4 ? 'IPv4' : 'IPv6';
}

/** Parses a bare IPv4 or IPv6 address; undefined when the text is not one. */
export function parseIp(text: string): IpAddress | undefined {
  // The text decides the family: ip6addr reports "::ffff:a.b.c.d" as IPv4, but inside an IPv6 pool it
  // is an IPv6 address. Leading zeros are refused because they read as octal to some tools.
  const family: IpFamily = text.includes(':') ? 6 : 4;
  if (family === 4 && !IPV4_TEXT.test(text)) return undefined;
  let bytes: Uint8Array;
  try {
    bytes = ip6addr.parse(text).toBuffer();
  } catch {
    return undefined;
  }
  const significant = family === 4 ? bytes.subarray(12) : bytes;
  let value = 0n;
  for (const byte of significant) value = (value << 8n) | BigInt(byte);
  return { family, value };
}

/** Parses "address/prefix"; undefined when malformed. Host bits are kept in `address` for the caller to judge. */
export function parseCidr(text: string): ParsedCidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0 || slash !== text.lastIndexOf('/')) return undefined;
  const ip = parseIp(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (!ip || !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > familyBits(ip.family)) return undefined;
  const cidr = { family: ip.family, network: ip.value & netmask(ip.family, prefix), prefix };
  return { cidr, address: ip.value };
}

export function formatIp(family: IpFamily, value: bigint): string {
  if (family === 4) {
    return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.');
  }
  const groups: string[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(((value >> shift) & 0xffffn).toString(16));
  // ip6addr gives the canonical RFC 5952 text (longest zero run elided, lower case).
  return ip6addr.parse(groups.join(':')).toString({ format: 'v6' });
}

export function formatCidr(cidr: Cidr): string {
  return `${formatIp(cidr.family, cidr.network)}/${cidr.prefix}`;
}

/** Fixed-width lower-case hex, so that keys sort in address order. */
export function addressHex(family: IpFamily, value: bigint): string {
  return value.toString(16).padStart(familyBits(family) / 4, '0');
}

export function netmask(family: IpFamily, prefix: number): bigint {
  const bits = BigInt(familyBits(family));
  const all = (1n << bits) - 1n;
  return all ^ ((1n << (bits - BigInt(prefix))) - 1n);
}

export function cidrSize(cidr: Cidr): bigint {
  return 1n << BigInt(familyBits(cidr.family) - cidr.prefix);
}

export function lastAddress(cidr: Cidr): bigint {
  return cidr.network + cidrSize(cidr) - 1n;
}

export function cidrContains(cidr: Cidr, address: IpAddress): boolean {
  return address.family === cidr.family && address.value >= cidr.network && address.value <= lastAddress(cidr);
}

export function cidrWithin(inner: Cidr, outer: Cidr): boolean {
  return inner.family === outer.family && inner.network >= outer.network && lastAddress(inner) <= lastAddress(outer);
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && a.network <= lastAddress(b) && b.network <= lastAddress(a);
}
