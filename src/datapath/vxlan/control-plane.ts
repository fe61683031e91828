/**
 * What the VXLAN data path needs from a control plane that tells it about other nodes (Swarm). The data
 * path defines these seams; src/swarm/ implements them (data-addresses.ts, network-peers.ts) and main.ts
 * wires them in, so the data path never imports the control plane above it.
 */

/**
 * Nodes started with `--data-path-addr`: their data-path (VXLAN) addresses by the control-plane
 * addresses Swarm names them with.
 */
export interface DataAddressLookup {
  /** This node's own data-path address (DiscoverNew Self), what it tells the others. */
  setSelf(address: string): void;
  /** The data-path address of the node with this control address, when known. */
  dataOf(control: string): string | undefined;
  /** Ask this control address again at the next refresh (the node re-joined). */
  expire(control: string): void;
  /** Asks the given control addresses that are due; true when an answer changed the lookup. Never throws. */
  refresh(controls: Iterable<string>): Promise<boolean>;
}

/** The peer lists of one read: network ID → the addresses listed; a network absent was not read. */
export type PeerLists = Map<string, string[]>;

/**
 * The peers Docker lists for each network (fed by Swarm's gossip), read by the data path's background
 * task only, never inside a request.
 */
export interface PeerListSource {
  /** Something changed (a node joined or left, a network appeared): read at the next chance. */
  markDirty(): void;
  /** Reads the lists of these networks when a read is due; undefined when it is not. Never throws. */
  readIfDue(networkIds: readonly string[]): Promise<PeerLists | undefined>;
}
