import { isIPv4, isIPv6 } from '../net/address';
import { OPTION_GENERIC } from '../protocol';
import { BadRequestError } from './errors';
import { isAcceptedIfname as isValidIfname } from './ifname';
import type { CommonOptions, MacvlanMode, NetworkOptions, NetworkType } from './records';

/**
 * The user's `-o key=value` driver options. One table says which keys exist, which network types
 * they apply to, their default and what they mean; README.md renders the same table.
 */
export class OptionError extends BadRequestError {}

export interface OptionSpec {
  name: string;
  types: NetworkType[];
  default: string;
  meaning: string;
}

const ALL: NetworkType[] = ['bridge', 'macvlan', 'vxlan'];

export const OPTION_TABLE: OptionSpec[] = [
  { name: 'type', types: ALL, default: 'bridge', meaning: 'data path: bridge, macvlan or vxlan (alias overlay)' },
  { name: 'com.docker.network.driver.mtu', types: ALL, default: 'host default (1500)', meaning: 'MTU of the bridge/links and the container interface' },
  { name: 'com.docker.network.container_iface_prefix', types: ALL, default: 'eth', meaning: 'name prefix of the interface inside the container' },
  { name: 'com.docker.network.bridge.name', types: ['bridge', 'vxlan'], default: 'ts-<network id>', meaning: 'name of the Linux bridge' },
  { name: 'com.docker.network.bridge.enable_icc', types: ['bridge'], default: 'true', meaning: 'containers on the network may talk to each other' },
  { name: 'com.docker.network.bridge.enable_ip_masquerade', types: ['bridge', 'vxlan'], default: 'true', meaning: 'masquerade traffic leaving the subnet' },
  { name: 'com.docker.network.bridge.host_binding_ipv4', types: ['bridge', 'vxlan'], default: '0.0.0.0', meaning: 'default host address for published ports' },
  { name: 'parent', types: ['macvlan'], default: 'none (internal network)', meaning: 'host interface (or IFACE.VLAN) the macvlan links sit on' },
  { name: 'macvlan_mode', types: ['macvlan'], default: 'bridge', meaning: 'bridge, private, vepa or passthru' },
  { name: 'vni', types: ['vxlan'], default: 'required standalone; allocated in Swarm', meaning: 'VXLAN network identifier (1-16777215), the same on every host' },
  { name: 'vxlan_port', types: ['vxlan'], default: '4789', meaning: 'UDP port of the VXLAN device' },
  { name: 'peers', types: ['vxlan'], default: 'none', meaning: 'comma-separated underlay addresses of the other hosts (standalone)' },
  { name: 'underlay', types: ['vxlan'], default: "Swarm: the node's data-path address; with peers: the interface of the route to them; else the default route's interface", meaning: 'underlay interface name or local address' },
];

const BY_NAME = new Map(OPTION_TABLE.map((spec) => [spec.name, spec]));

export interface ParsedOptions {
  options: NetworkOptions;
  /** The options as given, as strings (kept to compare a repeated create). */
  generic: Record<string, string>;
  /** com.docker.network.* keys that are Docker's own business, ignored (and logged) by tsnet. */
  ignored: string[];
}

export function parseNetworkType(raw: string | undefined): NetworkType {
  switch (raw ?? 'bridge') {
    case 'bridge':
      return 'bridge';
    case 'macvlan':
      return 'macvlan';
    case 'vxlan':
    case 'overlay':
      return 'vxlan';
    default:
      throw new OptionError(`option type: "${raw}" is not one of bridge, macvlan, vxlan, overlay`);
  }
}

/**
 * The user's `-o` options (CreateNetwork's `com.docker.network.generic`, AllocateNetwork's Options),
 * validated once into the typed options of the network's type. Everything else receives only this.
 */
export function parseNetworkOptions(raw: unknown): ParsedOptions {
  const generic = stringOptions(raw);
  const type = parseNetworkType(generic.type);
  const ignored: string[] = [];
  for (const key of Object.keys(generic)) {
    const spec = BY_NAME.get(key);
    if (!spec) {
      if (key.startsWith('com.docker.network.')) {
        ignored.push(key);
        continue;
      }
      throw new OptionError(`unknown option ${key} (see the option table in tsnet's README)`);
    }
    if (!spec.types.includes(type)) {
      throw new OptionError(`option ${key} does not apply to ${type} networks (only to ${spec.types.join(', ')})`);
    }
  }
  const common = {
    mtu: optionalInt(generic, 'com.docker.network.driver.mtu', MTU_RANGE.min, MTU_RANGE.max),
    interfacePrefix: interfacePrefix(generic['com.docker.network.container_iface_prefix']),
  };
  return { ignored, generic, options: typedOptions(type, generic, common) };
}

function typedOptions(type: NetworkType, generic: Record<string, string>, common: CommonOptions): NetworkOptions {
  switch (type) {
    case 'bridge':
      return {
        type,
        ...common,
        bridgeName: optionalIfname(generic, 'com.docker.network.bridge.name'),
        enableIcc: bool(generic, 'com.docker.network.bridge.enable_icc', true),
        enableIpMasquerade: bool(generic, 'com.docker.network.bridge.enable_ip_masquerade', true),
        hostBindingIpv4: hostBinding(generic),
      };
    case 'macvlan':
      return { type, ...common, parent: optionalParent(generic), mode: macvlanMode(generic.macvlan_mode) };
    case 'vxlan':
      return {
        type,
        ...common,
        bridgeName: optionalIfname(generic, 'com.docker.network.bridge.name'),
        vni: optionalInt(generic, 'vni', 1, 16777215),
        port: optionalInt(generic, 'vxlan_port', 1, 65535) ?? 4789,
        peers: peers(generic.peers),
        underlay: generic.underlay === undefined ? undefined : underlay(generic.underlay),
        enableIpMasquerade: bool(generic, 'com.docker.network.bridge.enable_ip_masquerade', true),
        hostBindingIpv4: hostBinding(generic),
      };
  }
}

/** The MTUs a link takes (IPv4's minimum to the largest the kernel stores). */
export const MTU_RANGE = { min: 68, max: 65535 } as const;

export function isValidMtu(mtu: number): boolean {
  return Number.isInteger(mtu) && mtu >= MTU_RANGE.min && mtu <= MTU_RANGE.max;
}

/** The generic options as an object of strings (Docker passes the user's `-o` values as strings). */
export function stringOptions(raw: unknown): Record<string, string> {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new OptionError(`Options.${OPTION_GENERIC}: must be an object of strings`);
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof value !== 'string') throw new OptionError(`option ${key}: value must be a string`);
    out[key] = value;
  }
  return out;
}

function optionalIfname(generic: Record<string, string>, key: string): string | undefined {
  const value = generic[key];
  if (value === undefined) return undefined;
  if (!isValidIfname(value)) {
    throw new OptionError(`option ${key}: "${value}" is not a valid interface name (1-15 of A-Z a-z 0-9 _ . -)`);
  }
  return value;
}

function optionalParent(generic: Record<string, string>): string | undefined {
  const value = generic.parent;
  if (value === undefined || value === '') return undefined;
  if (!isValidIfname(value)) throw new OptionError(`option parent: "${value}" is not a valid interface name`);
  const dot = value.lastIndexOf('.');
  if (dot > 0) {
    const vlan = value.slice(dot + 1);
    if (/^\d+$/.test(vlan) && (Number(vlan) < 1 || Number(vlan) > 4094)) {
      throw new OptionError(`option parent: VLAN ${vlan} is outside 1-4094`);
    }
  }
  return value;
}

function optionalInt(generic: Record<string, string>, key: string, min: number, max: number): number | undefined {
  const value = generic[key];
  if (value === undefined) return undefined;
  if (!/^\d{1,8}$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new OptionError(`option ${key}: "${value}" is not a whole number in ${min}-${max}`);
  }
  return Number(value);
}

function bool(generic: Record<string, string>, key: string, fallback: boolean): boolean {
  const value = generic[key];
  if (value === undefined) return fallback;
  if (/^(true|1|yes)$/i.test(value)) return true;
  if (/^(false|0|no)$/i.test(value)) return false;
  throw new OptionError(`option ${key}: "${value}" is not true or false`);
}

function hostBinding(generic: Record<string, string>): string {
  const key = 'com.docker.network.bridge.host_binding_ipv4';
  const value = generic[key];
  if (value === undefined) return '0.0.0.0';
  if (!isIPv4(value) && !isIPv6(value)) throw new OptionError(`option ${key}: "${value}" is not an IP address`);
  return value;
}

function interfacePrefix(value: string | undefined): string {
  if (value === undefined) return 'eth';
  if (!/^[a-z][a-z0-9_-]{0,9}$/i.test(value)) {
    throw new OptionError(`option com.docker.network.container_iface_prefix: "${value}" must be 1-10 letters, digits, '-' or '_'`);
  }
  return value;
}

function macvlanMode(value: string | undefined): MacvlanMode {
  const mode = value ?? 'bridge';
  if (mode === 'bridge' || mode === 'private' || mode === 'vepa' || mode === 'passthru') return mode;
  throw new OptionError(`option macvlan_mode: "${value}" is not one of bridge, private, vepa, passthru`);
}

function peers(value: string | undefined): string[] {
  if (value === undefined || value.trim() === '') return [];
  const list = value.split(',').map((p) => p.trim());
  for (const peer of list) {
    if (!isIPv4(peer) && !isIPv6(peer)) throw new OptionError(`option peers: "${peer}" is not an IP address`);
  }
  return [...new Set(list)];
}

function underlay(value: string): string {
  if (isIPv4(value) || isIPv6(value) || isValidIfname(value)) return value;
  throw new OptionError(`option underlay: "${value}" is neither an interface name nor an IP address`);
}
