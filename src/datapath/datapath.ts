import { UnavailableError } from '../model/errors';
import type { EndpointRecord, EndpointState, NetworkRecord, NetworkState, NetworkType, NodePeer } from '../model/records';

/**
 * The one interface every network type implements. The driver owns lifecycle rules, persistence and
 * locking; a data path only turns records into kernel objects and back. Every method must be
 * idempotent (a repeat after a crash or a Docker rollback converges) and must undo its own partial
 * work before throwing.
 */
export interface DataPath<NetState extends NetworkState = NetworkState, EpState extends EndpointState = EndpointState> {
  readonly type: NetworkType;

  /** Creates the network's kernel objects; returns data-path state stored in `net.datapath`. */
  createNetwork(net: NetworkRecord): Promise<NetState>;
  deleteNetwork(net: NetworkRecord): Promise<void>;

  /** Creates the endpoint's link(s); returns data-path state stored in `ep.datapath`. */
  createEndpoint(net: NetworkRecord, ep: EndpointRecord): Promise<EpState>;
  deleteEndpoint(net: NetworkRecord, ep: EndpointRecord): Promise<void>;

  /** Returns the name of the host-namespace link Docker moves into the container. */
  join(net: NetworkRecord, ep: EndpointRecord, sandboxKey: string): Promise<JoinResult>;
  leave(net: NetworkRecord, ep: EndpointRecord): Promise<void>;

  programExternalConnectivity(net: NetworkRecord, ep: EndpointRecord): Promise<Partial<EpState>>;
  revokeExternalConnectivity(net: NetworkRecord, ep: EndpointRecord): Promise<void>;

  discoverNew(peer: NodePeer): Promise<void>;
  discoverDelete(peer: NodePeer): Promise<void>;

  /** Converges the kernel to the stored networks and endpoints (start-up and on demand). */
  reconcile(nets: NetworkRecord[], eps: EndpointRecord[]): Promise<void>;
}

export interface JoinResult {
  srcName: string;
}

/**
 * The host refuses what a data path was asked to do (a foreign interface holds the name, the parent is
 * missing, the VNI is taken): reported to the user as is.
 */
export class DataPathError extends UnavailableError {}
