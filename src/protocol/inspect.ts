import type { ExposedPort, PortBinding } from './schemas';

/**
 * tsnet's own read-only API on the plugin socket (the `tsnet` command reads it): GET requests under
 * INSPECT_PREFIX, outside Docker's NetworkDriver.* and IpamDriver.* names, answered from the store and
 * the daemon's memory only (never from the Docker API, never from a slow kernel dump). These are the
 * JSON shapes, shared by the daemon and the command.
 */
export const INSPECT_PREFIX = '/tsnet/v1';
export const METRICS_PATH = '/metrics';

export const INSPECT_PATHS = {
  status: `${INSPECT_PREFIX}/status`,
  networks: `${INSPECT_PREFIX}/networks`,
  endpoints: `${INSPECT_PREFIX}/endpoints`,
  peers: `${INSPECT_PREFIX}/peers`,
} as const;

/** The last run of one background task. */
export interface TaskStatusView {
  name: string;
  runs: number;
  failures: number;
  /** ISO time of the last run's end; absent before the first. */
  lastRun?: string;
  lastMs?: number;
  ok?: boolean;
  /** The error of the last failed run, or a short summary of the last good one. */
  detail?: string;
}

export interface HookView {
  table: string;
  chain: string;
  /** The rule as iptables-save prints it after `-A CHAIN `. */
  spec: string;
  /** 'after-docker-user' | 'ahead' | 'any' */
  placement: string;
}

export interface StatusView {
  version: string;
  instance: string;
  scope: 'local' | 'global';
  pid: number;
  startedAt: string;
  uptimeSeconds: number;
  socket: string;
  stateDir: string;
  store: { usedBytes: number; fileBytes: number; diskFreeBytes?: number };
  counts: { networks: number; endpoints: number; pools: number };
  tasks: TaskStatusView[];
  firewall: {
    /** 'nft' | 'legacy'; absent when not detected yet. */
    backend?: string;
    chains: Array<{ table: string; chain: string }>;
    /** The bridge-family (ebtables) chain of the egress filter. */
    ebtablesChain: string;
    hooks: HookView[];
    /** Every tsnet rule carries `-m comment --comment <prefix>...`. */
    commentPrefix: string;
  };
  /** Every link tsnet owns has an alias starting with this (`tsnet:<instance>:`). */
  linkMarkerPrefix: string;
}

export type NetworkTypeName = 'bridge' | 'macvlan' | 'vxlan';

export interface NetworkView {
  id: string;
  type: NetworkTypeName;
  subnets: string[];
  gateways: string[];
  internal: boolean;
  ipv6: boolean;
  /** Linux bridge (bridge, vxlan). */
  bridge?: string;
  /** macvlan parent. */
  parent?: string;
  macvlanMode?: string;
  vni?: number;
  vxlanDevice?: string;
  vxlanPort?: number;
  underlay?: string;
  localAddress?: string;
  /** Peers given with -o peers. */
  staticPeers?: string[];
  /** The MTU tsnet made the network's links with (undefined: the host default). */
  mtu?: number;
  endpoints: number;
  createdAt: string;
  /** The alias of the network's own links (bridge, vxlan device, macvlan parent tsnet made). */
  linkMarker: string;
  /** The comment of the network's firewall rules (macvlan networks have none). */
  firewallMarker?: string;
}

export interface EndpointView {
  id: string;
  networkId: string;
  type: NetworkTypeName;
  address?: string;
  addressIPv6?: string;
  mac: string;
  /** The host-side link: the veth's host end (bridge, vxlan), or the macvlan link until Join moves it into the container. */
  hostIfname?: string;
  /** Joined to a container (its sandbox). */
  joined: boolean;
  publishedPorts: PortBinding[];
  exposedPorts: ExposedPort[];
  createdAt: string;
  linkMarker: string;
}

export type PeerSource = 'static' | 'swarm' | 'docker' | 'learned' | 'carried';

export interface PeerView {
  networkId: string;
  /** Control-plane address (Swarm) or the VTEP address. */
  address: string;
  sources: PeerSource[];
  /** Where the network floods to for this peer (its data-path address when Swarm told one). */
  dataAddress: string;
}

export interface InspectError {
  Err: string;
}
