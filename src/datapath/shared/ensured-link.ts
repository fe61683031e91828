import type { Logger } from '../../log';
import type * as nl from '../../netlink';

/** What a create-or-verify (`ensure…`) call found and did to one link. */
export interface EnsuredLink {
  link: nl.Link;
  /** Made by this call (and deleted again by it if a later step failed). */
  created: boolean;
  /** What had to be changed on an existing link (empty when it was already right or was created). */
  repairs: string[];
}

/** Reconcile's report of an ensure call: a recreated link or the repairs made, nothing when it was right. */
export function logRepair(log: Logger, result: EnsuredLink, what: string, fields: Record<string, unknown>): void {
  if (result.created) log.info(`reconcile: recreated missing ${what}`, fields);
  else if (result.repairs.length > 0) log.info(`reconcile: repaired ${what}`, { ...fields, repairs: result.repairs });
}
