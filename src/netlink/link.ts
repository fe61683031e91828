import type { ifla, rt } from 'netlink';
import { u32 } from './attributes';
import { hasCode, NetlinkError } from './errors';
import { formatMac, parseMac } from './hwaddr';
import { encodeBridgeInfo, type BridgeSpec } from './kinds/bridge';
import { decodeLinkInfo } from './kinds/info';
import { decodeMacvlanInfo, encodeMacvlanInfo, type MacvlanInfo, type MacvlanSpec } from './kinds/macvlan';
import { encodeVethInfo, type VethSpec } from './kinds/veth';
import { decodeVlanInfo, encodeVlanInfo, type VlanInfo, type VlanSpec } from './kinds/vlan';
import { decodeVxlanInfo, encodeVxlanInfo, type VxlanInfo, type VxlanSpec } from './kinds/vxlan';
import { NLM_F, request } from './socket';

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

/** Decodes one RTM_NEWLINK message from a dump or a get. */
export function parseLink(msg: rt.LinkMessage): Link {
  const { data, attrs } = msg;
  const info = attrs.linkinfo ? decodeLinkInfo(attrs.linkinfo) : {};
  const link: Link = {
    index: data.index ?? 0,
    name: attrs.ifname ?? '',
    mtu: attrs.mtu ?? 0,
    up: data.flags?.up === true,
  };
  if (info.kind) link.kind = info.kind;
  if (info.slaveKind) link.slaveKind = info.slaveKind;
  if (attrs.master) link.masterIndex = attrs.master;
  if (attrs.ifalias) link.alias = attrs.ifalias;
  if (attrs.address && attrs.address.length === 6) link.mac = formatMac(attrs.address);
  if (attrs.link && attrs.link.length >= 4) link.parentIndex = attrs.link.readUInt32LE(0);
  if (attrs.linkNetnsid !== undefined) link.parentNetnsId = attrs.linkNetnsid;
  if (info.data) {
    if (info.kind === 'macvlan') link.macvlan = decodeMacvlanInfo(info.data);
    if (info.kind === 'vlan') link.vlan = decodeVlanInfo(info.data);
    if (info.kind === 'vxlan') link.vxlan = decodeVxlanInfo(info.data);
  }
  return link;
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
  await request(`create ${spec.kind} ${spec.name}`, (s) =>
    s.newLink(data, attrs, { flags: NLM_F.CREATE | NLM_F.EXCL }),
  );
  const link = await findLink(spec.name);
  if (!link) throw new Error(`create ${spec.kind} ${spec.name}: link vanished right after creation`);
  return link;
}

/** Deletes a link; a link that does not exist is not an error. Returns whether one was deleted. */
export async function deleteLink(ref: LinkRef): Promise<boolean> {
  const { data, attrs } = target(ref);
  try {
    await request(`delete link ${describe(ref)}`, (s) => s.delLink(data, attrs));
    return true;
  } catch (err) {
    if (hasCode(err, 'ENODEV')) return false;
    throw err;
  }
}

/** The link with this name or index, or undefined. */
export async function findLink(ref: LinkRef): Promise<Link | undefined> {
  const { data, attrs } = target(ref);
  try {
    const msgs = await request(`get link ${describe(ref)}`, (s) => s.getLink(data, attrs));
    return msgs[0] && parseLink(msgs[0]);
  } catch (err) {
    if (hasCode(err, 'ENODEV')) return undefined;
    throw err;
  }
}

export function findLinkByName(name: string): Promise<Link | undefined> {
  return findLink(name);
}

/** RTEXT_FILTER_SKIP_STATS: leave the (large) statistics out of dumps. */
const RTEXT_FILTER_SKIP_STATS = 1 << 3;

/** Every link of the namespace. */
export async function listLinks(): Promise<Link[]> {
  const msgs = await request('list links', (s) => s.getLinks({}, { extMask: u32(RTEXT_FILTER_SKIP_STATS) }));
  return msgs.map(parseLink);
}

async function setLink(operation: string, ref: LinkRef, data: rt.Link, attrs: ifla.LinkAttrs): Promise<void> {
  const t = target(ref);
  await request(operation, (s) => s.setLink({ ...t.data, ...data }, { ...t.attrs, ...attrs }));
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
