import { rt } from 'netlink';
import { AF_INET, AF_INET6, familyNumber, formatCidr, formatIp, type IpFamily } from './ip';
import { request } from './socket';

export const RT_TABLE_MAIN = 254;

/** A route as the kernel reports it. */
export interface RouteEntry {
  family: IpFamily;
  /** Destination "net/len"; a default route is "0.0.0.0/0" or "::/0". */
  dst: string;
  table: number;
  /** "UNICAST", "LOCAL", "BLACKHOLE", ... */
  type: string;
  oifIndex?: number;
  gateway?: string;
}

function enumName(value: unknown, names: Record<string, string | number>): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(names[value] ?? value);
  return 'UNSPEC';
}

export function parseRoute(msg: rt.RouteMessage): RouteEntry | undefined {
  const { data, attrs } = msg;
  if (data.family !== AF_INET && data.family !== AF_INET6) return undefined;
  const family: IpFamily = data.family === AF_INET ? 4 : 6;
  const dstLen = data.dstLen ?? 0;
  const dst = attrs.dst ?? Buffer.alloc(family === 4 ? 4 : 16);
  const route: RouteEntry = {
    family,
    dst: formatCidr(dst, dstLen),
    // RTA_TABLE carries tables above 255; rtm_table holds the low byte (or RT_TABLE_COMPAT).
    table: attrs.table ?? data.table ?? 0,
    type: enumName(data.type, rt.RouteType as unknown as Record<string, string | number>),
  };
  if (attrs.oif !== undefined) route.oifIndex = attrs.oif;
  if (attrs.gateway) route.gateway = formatIp(attrs.gateway);
  return route;
}

/** Routes of the namespace, optionally of one family and/or one table. */
export async function listRoutes(filter: { family?: IpFamily; table?: number } = {}): Promise<RouteEntry[]> {
  const family = filter.family === undefined ? 0 : familyNumber(filter.family);
  const msgs = await request('list routes', (s) => s.getRoutes({ family }));
  return msgs
    .map(parseRoute)
    .filter((r): r is RouteEntry => r !== undefined)
    .filter((r) => filter.family === undefined || r.family === filter.family)
    .filter((r) => filter.table === undefined || r.table === filter.table);
}
