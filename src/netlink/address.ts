import type { rt } from 'netlink';
import { hasCode } from './errors';
import { familyNumber, formatCidr, formatIp, parseCidr, type IpFamily, AF_INET } from './ip';
import { linkIndex, type LinkRef } from './link';
import { NLM_F, request } from './socket';

/** An interface address as the kernel reports it. */
export interface AddressEntry {
  linkIndex: number;
  family: IpFamily;
  ip: string;
  prefixLen: number;
  /** "ip/len" */
  cidr: string;
  /** RT_SCOPE_*: 0 universe, 253 link, 254 host. */
  scope: number;
}

export interface AddAddressOptions {
  /** IFA_F_NODAD: skip IPv6 duplicate address detection (the address is usable at once). */
  nodad?: boolean;
}

/** The ifaddrmsg and attributes for adding/removing `cidr` ("ip/len") on link `index`. */
export function addressRequest(
  index: number,
  cidr: string,
  options: AddAddressOptions = {},
): { data: rt.Address; attrs: rt.AddressAttrs } {
  const { family, ip, prefixLen } = parseCidr(cidr);
  const data: rt.Address = { family: familyNumber(family), prefixlen: prefixLen, index };
  if (options.nodad) data.flags = { nodad: true };
  return { data, attrs: { local: ip, address: ip } };
}

/** Adds an address; one that is already there is not an error. Returns whether it was added. */
export async function addAddress(link: LinkRef, cidr: string, options?: AddAddressOptions): Promise<boolean> {
  const index = await linkIndex(link);
  const { data, attrs } = addressRequest(index, cidr, options);
  try {
    await request(`add address ${cidr} to ${typeof link === 'object' ? link.name : link}`, (s) =>
      s.newAddress(data, attrs, { flags: NLM_F.CREATE | NLM_F.EXCL }),
    );
    return true;
  } catch (err) {
    if (hasCode(err, 'EEXIST')) return false;
    throw err;
  }
}

/** Removes an address; one that is not there (or a missing link) is not an error. */
export async function deleteAddress(link: LinkRef, cidr: string): Promise<boolean> {
  try {
    const index = await linkIndex(link);
    const { data, attrs } = addressRequest(index, cidr);
    await request(`delete address ${cidr} from ${typeof link === 'object' ? link.name : link}`, (s) =>
      s.delAddress(data, attrs),
    );
    return true;
  } catch (err) {
    if (hasCode(err, 'EADDRNOTAVAIL', 'ENODEV')) return false;
    throw err;
  }
}

export function parseAddress(msg: rt.AddressMessage): AddressEntry | undefined {
  const raw = msg.attrs.local ?? msg.attrs.address;
  if (!raw || (raw.length !== 4 && raw.length !== 16)) return undefined;
  const prefixLen = msg.data.prefixlen ?? 0;
  return {
    linkIndex: msg.data.index ?? 0,
    family: msg.data.family === AF_INET ? 4 : 6,
    ip: formatIp(raw),
    prefixLen,
    cidr: formatCidr(raw, prefixLen),
    scope: msg.data.scope ?? 0,
  };
}

/** Addresses of the namespace, optionally of one link and/or one family. */
export async function listAddresses(filter: { link?: number; family?: IpFamily } = {}): Promise<AddressEntry[]> {
  const family = filter.family === undefined ? 0 : familyNumber(filter.family);
  const msgs = await request('list addresses', (s) => s.getAddresses({ family }));
  return msgs
    .map(parseAddress)
    .filter((a): a is AddressEntry => a !== undefined)
    .filter((a) => filter.link === undefined || a.linkIndex === filter.link)
    .filter((a) => filter.family === undefined || a.family === filter.family);
}
