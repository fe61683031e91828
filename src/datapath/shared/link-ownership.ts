import type { NetworkType } from '../../model/records';
import type { Logger } from '../../log';
import * as nl from '../../netlink';
import { DataPathError } from '../datapath';
import { ownerMarker, parseOwnerMarker, type OwnerMarker } from './names';
import { describe } from '../../model/errors';

/** The kernel operations ownership needs: the netlink module, or a data path's stand-in (macvlan's LinkOps). */
export interface OwnedLinkOps {
  findLink(ref: nl.LinkRef): Promise<nl.Link | undefined>;
  listLinks(): Promise<nl.Link[]>;
  deleteLink(ref: nl.LinkRef): Promise<boolean>;
}

export interface LinkOwnershipOptions {
  log: Logger;
  /** TSNET_INSTANCE: part of every marker. */
  instance: string;
  type: NetworkType;
  /** Default: the netlink module. */
  kernel?: OwnedLinkOps;
}

/** Which kind of our objects an orphan is: lower ranks are deleted first. */
export type OrphanRank = (link: nl.Link, marker: OwnerMarker) => number;

/** Endpoints before networks, so no endpoint link is left dangling off a network link being deleted. */
const ENDPOINTS_FIRST: OrphanRank = (_link, marker) => (marker.object === 'ep' ? 0 : 1);

/**
 * The links one data path owns: the ownership markers it writes into link aliases (names.ts), the
 * check that refuses a link that is not its own, deletion of its own links only, and the prune of
 * links carrying its markers that no stored record refers to. A link without our marker is never
 * adopted, changed or deleted.
 */
export class LinkOwnership {
  private readonly log: Logger;
  private readonly instance: string;
  private readonly type: NetworkType;
  private readonly kernel: OwnedLinkOps;

  constructor(options: LinkOwnershipOptions) {
    this.log = options.log;
    this.instance = options.instance;
    this.type = options.type;
    this.kernel = options.kernel ?? nl;
  }

  netMarker(networkId: string): string {
    return ownerMarker({ instance: this.instance, type: this.type, object: 'net', id: networkId });
  }

  epMarker(endpointId: string): string {
    return ownerMarker({ instance: this.instance, type: this.type, object: 'ep', id: endpointId });
  }

  /** Throws unless `link` carries `marker` and is of `kind`, naming its owner when it is another tsnet object. */
  check(link: nl.Link, marker: string, kind: string): void {
    if (link.alias === marker && link.kind === kind) return;
    const owner = parseOwnerMarker(link.alias);
    if (owner && link.alias !== marker) {
      throw new DataPathError(
        `interface ${link.name} already exists and belongs to tsnet ${owner.type} ${owner.object === 'net' ? 'network' : 'endpoint'} ` +
          `${owner.id} (instance ${owner.instance})`,
      );
    }
    if (link.alias === marker) {
      throw new DataPathError(`interface ${link.name} is marked as tsnet's but is a ${link.kind ?? 'device'}, not a ${kind}`);
    }
    throw foreignInterface(link.name);
  }

  /**
   * Deletes the link `name` if it carries `marker`; a link of that name without it is left alone and
   * `warning` is logged with `fields` and the alias found. Returns whether a link was deleted.
   */
  async deleteIfOurs(name: string, marker: string, warning: string, fields: Record<string, unknown>): Promise<boolean> {
    const link = await this.kernel.findLink(name);
    if (!link) return false;
    if (link.alias !== marker) {
      this.log.warn(warning, { ...fields, alias: link.alias });
      return false;
    }
    return this.kernel.deleteLink(link);
  }

  /** Undo of a link this call created; a failure here is logged, the original error is what counts. */
  async deleteCreated(name: string): Promise<void> {
    try {
      await this.kernel.deleteLink(name);
    } catch (err) {
      this.log.error('clean-up after a failed call: link not removed', { link: name, err: describe(err) });
    }
  }

  /**
   * Deletes the links carrying this instance's markers of this data path's type whose network or
   * endpoint is not wanted, in `rank` order (default: endpoints first). Keeps going past failures and
   * returns them ("orphan <name>: <error>"), each already logged. `links`: the namespace's links as the
   * caller already listed them (default: listed here).
   */
  async pruneOrphans(
    wanted: { net: ReadonlySet<string>; ep: ReadonlySet<string> },
    rank: OrphanRank = ENDPOINTS_FIRST,
    links?: readonly nl.Link[],
  ): Promise<string[]> {
    const orphans: { link: nl.Link; rank: number }[] = [];
    for (const link of links ?? (await this.kernel.listLinks())) {
      const marker = parseOwnerMarker(link.alias);
      if (marker?.instance !== this.instance || marker.type !== this.type || wanted[marker.object].has(marker.id)) continue;
      orphans.push({ link, rank: rank(link, marker) });
    }
    orphans.sort((a, b) => a.rank - b.rank);
    const failures: string[] = [];
    for (const { link } of orphans) {
      try {
        if (await this.kernel.deleteLink(link)) this.log.info('reconcile: deleted orphan link', { link: link.name, alias: link.alias });
      } catch (err) {
        failures.push(`orphan ${link.name}: ${describe(err)}`);
        this.log.error('reconcile: orphan link not deleted', { link: link.name, err: describe(err) });
      }
    }
    return failures;
  }
}

/** A name clash with a link tsnet does not manage. */
export function foreignInterface(name: string): DataPathError {
  return new DataPathError(`interface ${name} already exists and is not managed by tsnet`);
}

