import { attr, nested, parseAttrs, readCString, u8 } from './attributes';
import { AF_BRIDGE } from './ip';
import { changingLinks, linkIndex, type LinkRef } from './link';
import { rawDump, request } from './socket';

/**
 * Options of a bridge port (a link enslaved to a Linux bridge), as `bridge link set dev X hairpin on`
 * sets them: an RTM_SETLINK with ifi_family AF_BRIDGE whose IFLA_PROTINFO (flagged NLA_F_NESTED)
 * holds IFLA_BRPORT_* attributes. The kernel hands it to the master bridge (br_setlink); without the
 * nested flag it would read IFLA_PROTINFO as the old one-byte STP port state instead.
 *
 * The `netlink` package cannot send this: its attribute writer masks the type to 14 bits, dropping
 * NLA_F_NESTED. So the message is encoded here and sent raw on the shared socket.
 */

/** RTM_GETLINK, RTM_SETLINK (linux/rtnetlink.h). */
const RTM_GETLINK = 18;
export const RTM_SETLINK = 19;
/** IFLA_PROTINFO (linux/if_link.h). */
export const IFLA_PROTINFO = 12;

/** IFLA_BRPORT_* attribute types (linux/if_link.h) tsnet sets or reads; all are u8 flags. */
export const IFLA_BRPORT = {
  STATE: 1,
  /** "hairpin mode": frames may leave through the port they came in on. */
  MODE: 4,
  LEARNING: 8,
  UNICAST_FLOOD: 9,
  NEIGH_SUPPRESS: 32,
  ISOLATED: 33,
} as const;

/** The flag options; an option left undefined is not sent and so left as it is. */
export interface BridgePortOptions {
  /** IFLA_BRPORT_MODE: hairpin (reflective relay). Docker turns it on for every container port. */
  hairpin?: boolean;
  learning?: boolean;
  unicastFlood?: boolean;
  neighSuppress?: boolean;
  isolated?: boolean;
}

const FLAG_ATTRS: [keyof BridgePortOptions, number][] = [
  ['hairpin', IFLA_BRPORT.MODE],
  ['learning', IFLA_BRPORT.LEARNING],
  ['unicastFlood', IFLA_BRPORT.UNICAST_FLOOD],
  ['neighSuppress', IFLA_BRPORT.NEIGH_SUPPRESS],
  ['isolated', IFLA_BRPORT.ISOLATED],
];

/** A bridge port as an AF_BRIDGE link dump reports it. */
export interface BridgePort extends Required<BridgePortOptions> {
  index: number;
  name: string;
  masterIndex?: number;
  /** STP port state (0 disabled, 1 listening, 2 learning, 3 forwarding, 4 blocking). */
  state?: number;
}

/** struct ifinfomsg: family u8, pad u8, type u16, index s32, flags u32, change u32. */
function ifinfomsg(family: number, index: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt8(family, 0);
  b.writeInt32LE(index, 4);
  return b;
}

/**
 * The whole RTM_SETLINK payload (ifinfomsg + IFLA_PROTINFO|NLA_F_NESTED) that sets `options` on the
 * port with this ifindex. Pure; unit-tested by bytes.
 */
export function bridgePortRequest(index: number, options: BridgePortOptions): Buffer {
  if (!Number.isInteger(index) || index <= 0) throw new RangeError(`invalid link index ${index}`);
  const children: Buffer[] = [];
  for (const [key, type] of FLAG_ATTRS) {
    const value = options[key];
    if (value !== undefined) children.push(attr(type, u8(value ? 1 : 0)));
  }
  if (children.length === 0) throw new RangeError('no bridge port option given');
  return Buffer.concat([ifinfomsg(AF_BRIDGE, index), nested(IFLA_PROTINFO, children)]);
}

function describe(ref: LinkRef): string {
  if (typeof ref === 'string') return ref;
  if (typeof ref === 'number') return `link #${ref}`;
  return ref.name;
}

/**
 * Sets options of a bridge port. The link must be enslaved to a bridge (EOPNOTSUPP otherwise) and is
 * named by index (the AF_BRIDGE handler ignores IFLA_IFNAME; a name is resolved first).
 */
export async function setBridgePortOptions(ref: LinkRef, options: BridgePortOptions): Promise<void> {
  const index = await linkIndex(ref);
  const payload = bridgePortRequest(index, options);
  const what = Object.entries(options)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k} ${v ? 'on' : 'off'}`)
    .join(', ');
  await changingLinks(() => request(`set bridge port ${describe(ref)} ${what}`, (s) => s.socket.request(RTM_SETLINK, [payload])));
}

/** Turns hairpin mode on (or off) on a bridge port. */
export function setHairpin(ref: LinkRef, on = true): Promise<void> {
  return setBridgePortOptions(ref, { hairpin: on });
}

function flag(protinfo: Map<number, Buffer>, type: number): boolean {
  const v = protinfo.get(type);
  return v !== undefined && v.length >= 1 && v.readUInt8(0) !== 0;
}

/** Every bridge port of the namespace with its flag options (one AF_BRIDGE link dump, decoded lean). */
export async function listBridgePorts(): Promise<BridgePort[]> {
  const payloads = await rawDump('list bridge ports', RTM_GETLINK, ifinfomsg(AF_BRIDGE, 0));
  const out: BridgePort[] = [];
  for (const payload of payloads) {
    const port = decodeBridgePort(payload);
    if (port) out.push(port);
  }
  return out;
}

/** IFLA_IFNAME, IFLA_MASTER (linux/if_link.h). */
const IFLA_IFNAME = 3;
const IFLA_MASTER = 10;

/**
 * One message of an AF_BRIDGE link dump as a BridgePort; undefined for a bridge itself (listed as its
 * own "master", without IFLA_PROTINFO) and for messages of another family.
 */
export function decodeBridgePort(payload: Buffer): BridgePort | undefined {
  if (payload.length < 16 || payload.readUInt8(0) !== AF_BRIDGE) return undefined;
  const attrs = parseAttrs(payload.subarray(16));
  const protinfoPayload = attrs.get(IFLA_PROTINFO);
  if (!protinfoPayload) return undefined;
  const protinfo = parseAttrs(protinfoPayload);
  const name = attrs.get(IFLA_IFNAME);
  const master = attrs.get(IFLA_MASTER);
  const state = protinfo.get(IFLA_BRPORT.STATE);
  const port: BridgePort = {
    index: payload.readInt32LE(4),
    name: name ? readCString(name) : '',
    hairpin: flag(protinfo, IFLA_BRPORT.MODE),
    learning: flag(protinfo, IFLA_BRPORT.LEARNING),
    unicastFlood: flag(protinfo, IFLA_BRPORT.UNICAST_FLOOD),
    neighSuppress: flag(protinfo, IFLA_BRPORT.NEIGH_SUPPRESS),
    isolated: flag(protinfo, IFLA_BRPORT.ISOLATED),
  };
  if (master && master.length >= 4 && master.readUInt32LE(0) !== 0) port.masterIndex = master.readUInt32LE(0);
  if (state && state.length >= 1) port.state = state.readUInt8(0);
  return port;
}
