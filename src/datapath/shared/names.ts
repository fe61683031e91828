import type { NetworkType } from '../../model/records';

export { isValidIfname, MAX_IFNAME_LENGTH } from '../../model/ifname';

/**
 * Host interface names and ownership markers. Names are a short tsnet prefix plus an ID fragment,
 * inside the kernel's 15-character limit, so a person reading `ip link` knows what is tsnet's:
 *   ts-<10 of network ID>   bridge          (e.g. ts-8e89a1b2c3)
 *   tsv<12 of endpoint ID>  veth, host end  (e.g. tsv54ecba32aa01)
 *   tsc<12 of endpoint ID>  veth, container end (Docker renames it eth0 inside the container)
 * The name alone proves nothing: ownership is the marker in the link's alias (IFLA_IFALIAS),
 *   tsnet:<instance>:<type>:net:<network ID>  or  tsnet:<instance>:<type>:ep:<endpoint ID>
 * The data-path type is part of it so each data path's reconcile prunes only its own links.
 */

export function bridgeName(networkId: string): string {
  return `ts-${networkId.slice(0, 10)}`;
}

export function hostVethName(endpointId: string): string {
  return `tsv${endpointId.slice(0, 12)}`;
}

export function containerVethName(endpointId: string): string {
  return `tsc${endpointId.slice(0, 12)}`;
}

export type OwnedObject = 'net' | 'ep';

export interface OwnerMarker {
  instance: string;
  type: NetworkType;
  object: OwnedObject;
  id: string;
}

export function ownerMarker(m: OwnerMarker): string {
  return `tsnet:${m.instance}:${m.type}:${m.object}:${m.id}`;
}

const MARKER = /^tsnet:(.+):(bridge|macvlan|vxlan):(net|ep):([^:]+)$/;

export function parseOwnerMarker(alias: string | undefined): OwnerMarker | undefined {
  const m = alias === undefined ? null : MARKER.exec(alias);
  if (!m) return undefined;
  return { instance: m[1]!, type: m[2] as NetworkType, object: m[3] as OwnedObject, id: m[4]! };
}

/** An instance name usable inside markers (and so inside 255-byte aliases). */
export function isValidInstance(instance: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(instance);
}

/**
 * Macvlan data path (macvlan.ts):
 *   tsm<12 of endpoint ID>   macvlan endpoint link (Docker renames it eth0 inside the container)
 *   tsmp<11 of network ID>   parent tsnet makes for a parent-less network: one end of a veth pair...
 *   tsms<11 of network ID>   ...whose other end ("sink") only gives the pair its carrier
 * 'p' and 's' are not hex digits, so these never collide with an endpoint's tsm name.
 */
export function macvlanName(endpointId: string): string {
  return `tsm${endpointId.slice(0, 12)}`;
}

export function internalParentName(networkId: string): string {
  return `tsmp${networkId.slice(0, 11)}`;
}

export function internalParentPeerName(networkId: string): string {
  return `tsms${networkId.slice(0, 11)}`;
}
