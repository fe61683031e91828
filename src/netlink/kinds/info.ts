import { attr, cstring, nested, parseAttrs, readCString } from '../attributes';

/** IFLA_* attribute types of an RTM_NEWLINK message used by tsnet (linux/if_link.h). */
export const IFLA = {
  ADDRESS: 1,
  IFNAME: 3,
  MTU: 4,
  LINK: 5,
  MASTER: 10,
  LINKINFO: 18,
  IFALIAS: 20,
} as const;

/** Attributes nested in IFLA_LINKINFO. */
export const IFLA_INFO = {
  KIND: 1,
  DATA: 2,
  SLAVE_KIND: 4,
} as const;

/** struct ifinfomsg is 16 bytes: family, pad, type, index, flags, change. */
export const IFINFOMSG_LENGTH = 16;

/** The IFLA_LINKINFO payload: IFLA_INFO_KIND ("kind\0") and, if any, the kind's IFLA_INFO_DATA. */
export function encodeLinkInfo(kind: string, data?: Buffer[]): Buffer {
  const parts = [attr(IFLA_INFO.KIND, cstring(kind))];
  if (data) parts.push(nested(IFLA_INFO.DATA, data));
  return Buffer.concat(parts);
}

export interface DecodedLinkInfo {
  kind?: string;
  slaveKind?: string;
  data?: Map<number, Buffer>;
}

/** Splits an IFLA_LINKINFO payload as the kernel dumps it (the package leaves it a raw Buffer). */
export function decodeLinkInfo(payload: Buffer): DecodedLinkInfo {
  const attrs = parseAttrs(payload);
  const kind = attrs.get(IFLA_INFO.KIND);
  const slaveKind = attrs.get(IFLA_INFO.SLAVE_KIND);
  const data = attrs.get(IFLA_INFO.DATA);
  return {
    kind: kind && readCString(kind),
    slaveKind: slaveKind && readCString(slaveKind),
    data: data && parseAttrs(data),
  };
}
