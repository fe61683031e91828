import type { ifla, rt } from 'netlink';
import { attr, cstring, parseAttrs, u32 } from './attributes';
import { hasCode, NetlinkError } from './errors';
import { parseMac } from './hwaddr';
import { bridgeInfoData, decodeBridgeInfo, encodeBridgeInfo, type BridgeInfo, type BridgeSpec } from './kinds/bridge';
import { encodeLinkInfo, IFINFOMSG_LENGTH, IFLA, IFLA_INFO } from './kinds/info';
import { decodeMacvlanInfo, encodeMacvlanInfo, type MacvlanInfo, type MacvlanSpec } from './kinds/macvlan';
import { encodeVethInfo, type VethSpec } from './kinds/veth';
import { decodeVlanInfo, encodeVlanInfo, type VlanInfo, type VlanSpec } from './kinds/vlan';
import { decodeVxlanInfo, encodeVxlanInfo, type VxlanInfo, type VxlanSpec } from './kinds/vxlan';
import { NLM_F, rawDump, rawRequest, request } from './socket';

/** Attributes every new link may carry, whatever its kind. */
export interface LinkCommon {
  name: string;
  mtu?: number;
  mac?: string;
  /** Enslave at creation (IFLA_MASTER); the kernel applies it atomically with the creation. */
  masterIndex?: number;
  /** Create the link administratively up (IFF_UP in the ifinfomsg). */
  up?: boolean;
}

export type LinkKindSpec = BridgeSpec | VethSpec | MacvlanSpec | VlanSpec | VxlanSpec;
export type LinkSpec = LinkCommon & LinkKindSpec;

/** A link as the kernel reports it. */
export interface Link {
  index: number;
  name: string;
  /** IFLA_INFO_KIND ("bridge", "veth", ...); absent for physical devices and loopback. */
  kind?: string;
  /** Kind of the master when enslaved ("bridge"). */
  slaveKind?: string;
  masterIndex?: number;
  mtu: number;
  /** IFLA_IFALIAS; tsnet stores its ownership marker here. */
  alias?: string;
  mac?: string;
  /** Administratively up (IFF_UP). */
  up: boolean;
  /** IFLA_LINK: a veth's peer, a macvlan's or vlan's parent. */
  parentIndex?: number;
  /** Set when parentIndex refers to a link in another network namespace. */
  parentNetnsId?: number;
  bridge?: BridgeInfo;
  macvlan?: MacvlanInfo;
  vlan?: VlanInfo;
  vxlan?: VxlanInfo;
}

/** A link named by its index, its name, or a Link already read. */
export type LinkRef = number | string | Pick<Link, 'index' | 'name'>;

// ---------------------------------------------------------------------------------------------
// Encoding (pure; unit-tested by bytes)

/** The IFLA_LINKINFO payload for a kind. */
export function encodeKindInfo(spec: LinkKindSpec): Buffer {
  switch (spec.kind) {
    case 'bridge':
      return encodeBridgeInfo(spec);
    case 'veth':
      return encodeVethInfo(spec);
    case 'macvlan':
      return encodeMacvlanInfo(spec);
    case 'vlan':
      return encodeVlanInfo(spec);
    case 'vxlan':
      return encodeVxlanInfo(spec);
  }
}

/** The ifinfomsg and attributes of the RTM_NEWLINK request that creates `spec`. */
export function createLinkRequest(spec: LinkSpec): { data: rt.Link; attrs: ifla.LinkAttrs } {
  const attrs: ifla.LinkAttrs = { ifname: spec.name, linkinfo: encodeKindInfo(spec) };
  if (spec.mtu !== undefined) attrs.mtu = spec.mtu;
  if (spec.mac !== undefined) attrs.address = parseMac(spec.mac);
  if (spec.masterIndex !== undefined) attrs.master = spec.masterIndex;
  // The package throws if IFLA_LINK is a number: it must be the raw u32.
  if (spec.kind === 'macvlan' || spec.kind === 'vlan') attrs.link = u32(spec.parentIndex);
  const data: rt.Link = spec.up ? { flags: { up: true }, change: { up: true } } : {};
  return { data, attrs };
}

/** RTM_GETLINK (linux/rtnetlink.h). */
const RTM_GETLINK = 18;
/** IFLA_EXT_MASK, IFLA_LINK_NETNSID (linux/if_link.h). */
const IFLA_EXT_MASK = 29;
const IFLA_LINK_NETNSID = 37;
/** RTEXT_FILTER_SKIP_STATS: leave the (large) statistics out of replies. */
const RTEXT_FILTER_SKIP_STATS = 1 << 3;
const IFF_UP = 1;
const NLA_TYPE_MASK = 0x3fff;

/**
 * Decodes the payload of one RTM_NEWLINK message from a dump or a get (struct ifinfomsg, then
 * attributes), reading only the attributes a Link holds and skipping the rest unparsed. Written for a
 * dump of thousands of links decoded while still cold (interpreted): no per-attribute Buffer views.
 */
export function decodeLink(payload: Buffer): Link {
  if (payload.length < IFINFOMSG_LENGTH) throw new RangeError(`link message of ${payload.length} bytes is shorter than an ifinfomsg`);
  const link: Link = { index: payload.readInt32LE(4), name: '', mtu: 0, up: (u32At(payload, 8) & IFF_UP) !== 0 };
  let offset = IFINFOMSG_LENGTH;
  while (offset + 4 <= payload.length) {
    const length = u16At(payload, offset);
    if (length < 4 || offset + length > payload.length) break;
    const start = offset + 4;
    const end = offset + length;
    switch (u16At(payload, offset + 2) & NLA_TYPE_MASK) {
      case IFLA.IFNAME:
        link.name = stringAt(payload, start, end);
        break;
      case IFLA.MTU:
        if (end - start >= 4) link.mtu = u32At(payload, start);
        break;
      case IFLA.ADDRESS:
        if (end - start === 6) link.mac = macAt(payload, start);
        break;
      case IFLA.LINK:
        if (end - start >= 4) link.parentIndex = u32At(payload, start);
        break;
      case IFLA.MASTER:
        if (end - start >= 4 && u32At(payload, start) !== 0) link.masterIndex = u32At(payload, start);
        break;
      case IFLA.IFALIAS: {
        const alias = stringAt(payload, start, end);
        if (alias) link.alias = alias;
        break;
      }
      case IFLA_LINK_NETNSID:
        if (end - start >= 4) link.parentNetnsId = payload.readInt32LE(start);
        break;
      case IFLA.LINKINFO:
        decodeLinkInfoInto(link, payload, start, end);
        break;
    }
    offset += (length + 3) & ~3;
  }
  return link;
}

/** Kinds whose IFLA_INFO_DATA a Link carries decoded. */
const KIND_DATA: Record<string, (link: Link, data: Map<number, Buffer>) => void> = {
  bridge: (link, data) => (link.bridge = decodeBridgeInfo(data)),
  macvlan: (link, data) => (link.macvlan = decodeMacvlanInfo(data)),
  vlan: (link, data) => (link.vlan = decodeVlanInfo(data)),
  vxlan: (link, data) => (link.vxlan = decodeVxlanInfo(data)),
};

/** IFLA_LINKINFO between start and end: kind, slave kind, and the kind data of the kinds in KIND_DATA. */
function decodeLinkInfoInto(link: Link, buf: Buffer, start: number, end: number): void {
  let data: [number, number] | undefined;
  let offset = start;
  while (offset + 4 <= end) {
    const length = u16At(buf, offset);
    if (length < 4 || offset + length > end) break;
    const type = u16At(buf, offset + 2) & NLA_TYPE_MASK;
    if (type === IFLA_INFO.KIND) link.kind = stringAt(buf, offset + 4, offset + length) || undefined;
    else if (type === IFLA_INFO.SLAVE_KIND) link.slaveKind = stringAt(buf, offset + 4, offset + length) || undefined;
    else if (type === IFLA_INFO.DATA) data = [offset + 4, offset + length];
    offset += (length + 3) & ~3;
  }
  if (link.kind === undefined) delete link.kind;
  if (link.slaveKind === undefined) delete link.slaveKind;
  const decode = link.kind !== undefined ? KIND_DATA[link.kind] : undefined;
  if (decode && data) decode(link, parseAttrs(buf.subarray(data[0], data[1])));
}

// Byte reads without Buffer's bounds-checked methods, which cost a call each while the code is cold.
// Callers stay inside the buffer: every attribute's bounds are checked against its length first.
function u16At(buf: Buffer, at: number): number {
  return buf[at]! | (buf[at + 1]! << 8);
}

function u32At(buf: Buffer, at: number): number {
  return (buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16)) + buf[at + 3]! * 0x1000000;
}

/** The string between start and end, up to its NUL if it has one (the kernel sends some kinds without). */
function stringAt(buf: Buffer, start: number, end: number): string {
  let stop = start;
  while (stop < end && buf[stop] !== 0) stop++;
  return buf.toString('utf8', start, stop);
}

const HEX_BYTES = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

/** The 6 bytes at start as "aa:bb:cc:dd:ee:ff". */
function macAt(buf: Buffer, start: number): string {
  const h = HEX_BYTES;
  return `${h[buf[start]!]}:${h[buf[start + 1]!]}:${h[buf[start + 2]!]}:${h[buf[start + 3]!]}:${h[buf[start + 4]!]}:${h[buf[start + 5]!]}`;
}

/** The RTM_GETLINK payload: an ifinfomsg (family AF_UNSPEC, the index if known), the name if given, no statistics. */
export function getLinkRequest(ref?: LinkRef): Buffer {
  const head = Buffer.alloc(IFINFOMSG_LENGTH);
  const parts: Buffer[] = [head];
  if (typeof ref === 'number') head.writeInt32LE(ref, 4);
  else if (typeof ref === 'string') parts.push(attr(IFLA.IFNAME, cstring(ref)));
  else if (ref !== undefined) head.writeInt32LE(ref.index, 4);
  parts.push(attr(IFLA_EXT_MASK, u32(RTEXT_FILTER_SKIP_STATS)));
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------------
// Operations

function describe(ref: LinkRef): string {
  if (typeof ref === 'string') return ref;
  if (typeof ref === 'number') return `link #${ref}`;
  return ref.name;
}

/** The ifinfomsg + attributes that name an existing link (by index, else by IFLA_IFNAME). */
function target(ref: LinkRef): { data: rt.Link; attrs: ifla.LinkAttrs } {
  if (typeof ref === 'string') return { data: {}, attrs: { ifname: ref } };
  if (typeof ref === 'number') return { data: { index: ref }, attrs: {} };
  return { data: { index: ref.index }, attrs: {} };
}

/** Creates a link (NLM_F_CREATE|NLM_F_EXCL: an existing name fails with code EEXIST). */
export async function createLink(spec: LinkSpec): Promise<Link> {
  const { data, attrs } = createLinkRequest(spec);
  await changingLinks(() =>
    request(`create ${spec.kind} ${spec.name}`, (s) => s.newLink(data, attrs, { flags: NLM_F.CREATE | NLM_F.EXCL })),
  );
  const link = await findLink(spec.name);
  if (!link) throw new Error(`create ${spec.kind} ${spec.name}: link vanished right after creation`);
  return link;
}

/** Deletes a link; a link that does not exist is not an error. Returns whether one was deleted. */
export async function deleteLink(ref: LinkRef): Promise<boolean> {
  const { data, attrs } = target(ref);
  try {
    await changingLinks(() => request(`delete link ${describe(ref)}`, (s) => s.delLink(data, attrs)));
    return true;
  } catch (err) {
    if (hasCode(err, 'ENODEV')) return false;
    throw err;
  }
}

/** The link with this name or index, or undefined. */
export async function findLink(ref: LinkRef): Promise<Link | undefined> {
  try {
    const [payload] = await rawRequest(`get link ${describe(ref)}`, RTM_GETLINK, getLinkRequest(ref));
    return payload && decodeLink(payload);
  } catch (err) {
    if (hasCode(err, 'ENODEV')) return undefined;
    throw err;
  }
}

export function findLinkByName(name: string): Promise<Link | undefined> {
  return findLink(name);
}

/** Every link of the namespace (one dump on its own socket, decoded lean: see decodeLink). */
export async function listLinks(): Promise<Link[]> {
  if (!snapshot) return dumpLinks();
  const dump = (snapshot.links ??= dumpLinks());
  try {
    return [...(await dump)];
  } catch (err) {
    if (snapshot?.links === dump) snapshot.links = undefined; // the next call tries again
    throw err;
  }
}

async function dumpLinks(): Promise<Link[]> {
  const payloads = await rawDump('list links', RTM_GETLINK, getLinkRequest());
  return payloads.map(decodeLink);
}

/**
 * A scope in which listLinks answers from one dump until this module changes a link (create, delete,
 * any set): for start-up reconcile, where every data path lists the namespace's links, some twice,
 * while nothing else changes tsnet's links (the socket does not listen yet). A dump of 2,000 links
 * costs tens of milliseconds of CPU, mostly the kernel's. Nested scopes share the outer one.
 */
let snapshot: { links?: Promise<Link[]> } | undefined;

export async function withLinkSnapshot<T>(fn: () => Promise<T>): Promise<T> {
  if (snapshot) return fn();
  snapshot = {};
  try {
    return await fn();
  } finally {
    snapshot = undefined;
  }
}

/**
 * Runs a request that changes a link: the snapshot's dump no longer holds, neither one started while
 * the request is under way.
 */
export async function changingLinks<T>(change: () => Promise<T>): Promise<T> {
  if (snapshot) snapshot.links = undefined;
  try {
    return await change();
  } finally {
    if (snapshot) snapshot.links = undefined;
  }
}

async function setLink(operation: string, ref: LinkRef, data: rt.Link, attrs: ifla.LinkAttrs): Promise<void> {
  const t = target(ref);
  await changingLinks(() => request(operation, (s) => s.setLink({ ...t.data, ...data }, { ...t.attrs, ...attrs })));
}

export function setLinkUp(ref: LinkRef): Promise<void> {
  return setLink(`set ${describe(ref)} up`, ref, { flags: { up: true }, change: { up: true } }, {});
}

export function setLinkDown(ref: LinkRef): Promise<void> {
  return setLink(`set ${describe(ref)} down`, ref, { flags: {}, change: { up: true } }, {});
}

/** Enslaves the link to `master` (a bridge); a master index of 0 releases it. */
export function setMaster(ref: LinkRef, master: LinkRef | 0): Promise<void> {
  if (master === 0) return setLink(`release ${describe(ref)} from its master`, ref, {}, { master: 0 });
  if (typeof master !== 'number' && typeof master !== 'string') {
    return setLink(`set master of ${describe(ref)} to ${master.name}`, ref, {}, { master: master.index });
  }
  return (async () => {
    const index = typeof master === 'number' ? master : (await requireLink(master)).index;
    await setLink(`set master of ${describe(ref)} to ${describe(master)}`, ref, {}, { master: index });
  })();
}

/** Changes an existing bridge's options (BridgeSpec): RTM_NEWLINK on the device, its kind data only. */
export async function setBridgeOptions(ref: LinkRef, options: Omit<BridgeSpec, 'kind'>): Promise<void> {
  const t = target(ref);
  const linkinfo = encodeLinkInfo('bridge', bridgeInfoData(options));
  await changingLinks(() => request(`set bridge options of ${describe(ref)}`, (s) => s.newLink(t.data, { ...t.attrs, linkinfo })));
}

export function setMtu(ref: LinkRef, mtu: number): Promise<void> {
  return setLink(`set mtu of ${describe(ref)} to ${mtu}`, ref, {}, { mtu });
}

/** Sets IFLA_IFALIAS (an empty string clears it). The kernel ignores it on creation, hence this call. */
export function setAlias(ref: LinkRef, alias: string): Promise<void> {
  return setLink(`set alias of ${describe(ref)}`, ref, {}, { ifalias: alias });
}

export function setMac(ref: LinkRef, mac: string): Promise<void> {
  return setLink(`set mac of ${describe(ref)} to ${mac}`, ref, {}, { address: parseMac(mac) });
}

/** Like findLink, but a missing link is an ENODEV NetlinkError. */
export async function requireLink(ref: LinkRef): Promise<Link> {
  const link = await findLink(ref);
  if (!link) throw new NetlinkError(`get link ${describe(ref)}`, 'ENODEV');
  return link;
}

/** The index of a link reference (reads the link when given only a name). */
export async function linkIndex(ref: LinkRef): Promise<number> {
  if (typeof ref === 'number') return ref;
  if (typeof ref === 'string') return (await requireLink(ref)).index;
  return ref.index;
}
