import type { PeerListSource, PeerLists } from '../datapath/vxlan/control-plane';
import type { DockerNetworkView } from '../docker/api-client';
import type { Logger } from '../log';
import { systemClock, type Clock } from '../model/clock';
import { describe } from '../model/errors';

/** The Docker API read the peer lists come from (DockerApiClient; a fake in tests). */
export interface NetworkPeersDocker {
  network(idOrName: string): Promise<DockerNetworkView | undefined>;
}

export interface DockerNetworkPeersOptions {
  docker: NetworkPeersDocker;
  log: Logger;
  /** How often the lists are read, in ms (sooner when marked dirty). Default 30000. */
  intervalMs?: number;
  clock?: Clock;
}

/**
 * Swarm: the peers Docker lists for each network (GET /networks/{id} → Peers[].IP, fed by Swarm's
 * gossip), for the VXLAN data path's background task. A read is due once the interval has passed, or
 * after markDirty() (a node joined or left, a network appeared); a network Docker does not list (yet),
 * or a Docker that does not answer, makes the next chance read again.
 */
export class DockerNetworkPeers implements PeerListSource {
  private readonly docker: NetworkPeersDocker;
  private readonly log: Logger;
  private readonly intervalMs: number;
  private readonly clock: Clock;
  private dirty = true;
  private lastRead = 0;

  constructor(options: DockerNetworkPeersOptions) {
    this.docker = options.docker;
    this.log = options.log;
    this.intervalMs = options.intervalMs ?? 30_000;
    this.clock = options.clock ?? systemClock;
  }

  markDirty(): void {
    this.dirty = true;
  }

  async readIfDue(networkIds: readonly string[]): Promise<PeerLists | undefined> {
    const now = this.clock.now();
    if (!this.dirty && now - this.lastRead < this.intervalMs) return undefined;
    this.dirty = false;
    this.lastRead = now;
    const lists: PeerLists = new Map();
    for (const id of networkIds) {
      try {
        const listed = (await this.docker.network(id))?.Peers?.map((p) => p.IP);
        if (listed) {
          lists.set(id, listed);
        } else {
          this.dirty = true; // Docker does not list it (yet): ask again next time
        }
      } catch (err) {
        this.dirty = true; // Docker not up yet: ask again next time
        this.log.debug('Docker peer list not read', { networkId: id, err: describe(err) });
      }
    }
    return lists;
  }
}
