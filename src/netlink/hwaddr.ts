import { MAC_PATTERN } from '../net/address';

/** MAC address text ("aa:bb:cc:dd:ee:ff") <-> the 6 bytes netlink carries. */

export function parseMac(text: string): Buffer {
  if (!MAC_PATTERN.test(text)) throw new TypeError(`invalid MAC address "${text}"`);
  return Buffer.from(text.split(':').map((h) => parseInt(h, 16)));
}

export function formatMac(bytes: Buffer): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

export const ZERO_MAC = '00:00:00:00:00:00';
