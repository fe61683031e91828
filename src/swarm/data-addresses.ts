import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Logger } from '../log';
import type { Store } from '../store/store';
import type { DataAddressLookup } from '../datapath/vxlan/control-plane';
import { canonicalIp } from '../datapath/vxlan/flood';
import { describe } from '../model/errors';
import { DATA_ADDRESS_PREFIX } from '../model/keys';
import { LimitLog } from '../limit-log';

/**
 * Swarm nodes started with `--data-path-addr`: Docker names the other nodes only by their control-plane
 * (advertise) addresses — DiscoverNew/DiscoverDelete and GET /networks/{id} Peers — while their VXLAN
 * endpoints are their data-path addresses (each node learns only its own, from DiscoverNew Self). Docker
 * has no API that pairs the two for a remote driver, so tsnet instances tell each other:
 *
 * - every tsnet answers any TCP connection on `port`, on its own Swarm addresses only (DiscoverNew Self:
 *   the data-path address and the local address the advertise address leads to; never the wildcard,
 *   so never a container gateway), with one line naming its own data-path address
 *   (`{"tsnet":"data-path-addr","version":1,"address":"10.222.0.2"}`) and closes it; it reads nothing;
 * - a tsnet connects to each control address Swarm gave it and maps that address to the answer.
 *
 * Trust: the answer comes over a TCP connection to the very address Swarm named, so a spoofed datagram
 * cannot plant a mapping; the data path uses an answer only inside the peer-learning scope
 * (TSNET_PEER_CIDRS), the same scope in which any VTEP's traffic already makes it a flood peer. The map
 * is persisted (in the state store, keys `vxlan-addr/<control ip>`) so a restarted tsnet floods to the
 * data addresses at once, even to nodes whose tsnet is down at that moment.
 */

export const DEFAULT_DATA_ADDR_PORT = 7947;
const PROTOCOL = 'data-path-addr';
const VERSION = 1;
/** Connections being answered at once, in all and from one address. */
export const ANSWER_LIMITS = { connections: 64, perSource: 4 };
/** An answer is one short line; anything longer is not ours. */
const MAX_ANSWER_BYTES = 256;

/** The line a tsnet answers with (its data-path address, or none yet: DiscoverNew Self not received). */
export function formatAnswer(address: string | undefined): string {
  return `${JSON.stringify({ tsnet: PROTOCOL, version: VERSION, ...(address ? { address } : {}) })}\n`;
}

/**
 * The data-path address in an answer, canonical; undefined when the peer does not know its own yet.
 * Throws on anything that is not a tsnet answer.
 */
export function parseAnswer(text: string): string | undefined {
  const line = text.split('\n')[0]!.trim();
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new Error(`not a tsnet data-path address answer: ${JSON.stringify(line.slice(0, 80))}`);
  }
  const v = value as { tsnet?: unknown; version?: unknown; address?: unknown };
  if (typeof value !== 'object' || value === null || v.tsnet !== PROTOCOL || v.version !== VERSION) {
    throw new Error(`not a tsnet data-path address answer: ${JSON.stringify(line.slice(0, 80))}`);
  }
  if (v.address === undefined) return undefined;
  const address = typeof v.address === 'string' ? canonicalIp(v.address) : undefined;
  if (!address) throw new Error(`the answer's address ${JSON.stringify(v.address)} is not an IP address`);
  return address;
}

/** Reads the JSON file older versions persisted the map in: control → data, both canonical IPs; anything else is dropped. */
export function parseStoredMap(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const value = JSON.parse(text) as unknown;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not a JSON object');
  for (const [k, v] of Object.entries(value)) {
    const control = canonicalIp(k);
    const data = typeof v === 'string' ? canonicalIp(v) : undefined;
    if (control && data) out.set(control, data);
  }
  return out;
}

/** Where the map is kept across restarts. save() receives the whole map; it may throw. */
export interface DataAddressPersistence {
  load(): Map<string, string>;
  save(entries: ReadonlyMap<string, string>): void;
}

/** Persistence in memory only (tests; a map whose answers need not survive the process). */
export class MemoryDataAddresses implements DataAddressPersistence {
  private entries = new Map<string, string>();

  load(): Map<string, string> {
    return new Map(this.entries);
  }

  save(entries: ReadonlyMap<string, string>): void {
    this.entries = new Map(entries);
  }
}

export const STORE_PREFIX = DATA_ADDRESS_PREFIX;

interface StoredDataAddress {
  data: string;
}

/** Persistence in the state store: one key `vxlan-addr/<control ip>` → `{ data }` per entry. */
export class StoreDataAddresses implements DataAddressPersistence {
  constructor(private readonly store: Pick<Store, 'range' | 'transact'>) {}

  /** The stored entries whose key and value are canonical IPs (anything else is skipped). */
  load(): Map<string, string> {
    const out = new Map<string, string>();
    for (const [key, value] of this.store.range<StoredDataAddress>(STORE_PREFIX)) {
      const control = canonicalIp(key.slice(STORE_PREFIX.length));
      const data = typeof value?.data === 'string' ? canonicalIp(value.data) : undefined;
      if (control && data) out.set(control, data);
    }
    return out;
  }

  /** Makes the stored entries exactly `entries`, in one transaction (changed keys only). */
  save(entries: ReadonlyMap<string, string>): void {
    this.store.transact((tx) => {
      const stored = new Map(tx.range<StoredDataAddress>(STORE_PREFIX));
      for (const key of stored.keys()) if (!entries.has(key.slice(STORE_PREFIX.length))) tx.del(key);
      for (const [control, data] of entries) {
        const key = `${STORE_PREFIX}${control}`;
        if (stored.get(key)?.data !== data) tx.put(key, { data } satisfies StoredDataAddress);
      }
    });
  }
}

/**
 * Upgrade from versions that persisted the map as a JSON file in the state directory: its entries go
 * into `persistence` (over the entries there: the file exists only when such a version ran last), then
 * the file is removed. An unreadable file is removed too (its nodes are asked again); the file stays
 * when the entries could not be saved, to be imported at the next start. Never throws.
 */
export function importLegacyFile(file: string, persistence: DataAddressPersistence, log: Logger): void {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn('old data-path address file not readable; left in place', { file, err: describe(err) });
    return;
  }
  let imported: Map<string, string> | undefined;
  try {
    imported = parseStoredMap(text);
  } catch (err) {
    log.warn('old data-path address file not readable; removed, the nodes are asked again', { file, err: describe(err) });
  }
  if (imported) {
    try {
      const merged = persistence.load();
      for (const [c, d] of imported) merged.set(c, d);
      persistence.save(merged);
      log.info('data-path addresses of Swarm nodes moved from the old file to the state store', { file, entries: imported.size });
    } catch (err) {
      log.warn('data-path addresses from the old file not saved; the file is kept for the next start', { file, err: describe(err) });
      return;
    }
  }
  for (const f of [file, path.join(path.dirname(file), `.${path.basename(file)}.tmp`)]) {
    try {
      fs.rmSync(f, { force: true });
    } catch (err) {
      log.warn('old data-path address file not removed', { file: f, err: describe(err) });
    }
  }
}

export interface DataAddressMapOptions {
  log: Logger;
  /** TCP port answered on the node's own Swarm addresses and asked on the peers. Default 7947; 0 = any (tests). */
  port?: number;
  /** Where the map is persisted; undefined: memory only until attach(). */
  persistence?: DataAddressPersistence;
  /** How long one question may take, in ms. Default 2000. */
  timeoutMs?: number;
  /** How long an answer is used before it is asked again, in ms (a node may re-join with another data address). Default 60000. */
  refreshMs?: number;
  /** How long after a failed question to ask again, in ms. Default 5000. */
  retryMs?: number;
}

/** Control-plane address → data-path address of the other Swarm nodes, and this node's answer. */
export class DataAddressMap implements DataAddressLookup {
  private readonly log: Logger;
  private port: number;
  private persistence?: DataAddressPersistence;
  private readonly timeoutMs: number;
  private readonly refreshMs: number;
  private readonly retryMs: number;
  private readonly map = new Map<string, string>();
  /** When each control address is next asked (ms since the epoch); absent: at the next refresh. */
  private readonly due = new Map<string, number>();
  private self?: string;
  /** The listeners, by the address each is bound to. */
  private readonly servers = new Map<string, net.Server>();
  /** The last listen()/close(): they run one after the other. */
  private listening: Promise<void> = Promise.resolve();
  /** Answers being sent, in all. */
  private open = 0;
  /** Answers being sent, by the asker's address. */
  private readonly openBySource = new Map<string, number>();
  private readonly full: LimitLog;

  constructor(options: DataAddressMapOptions) {
    this.log = options.log;
    this.port = options.port ?? DEFAULT_DATA_ADDR_PORT;
    this.timeoutMs = options.timeoutMs ?? 2000;
    this.refreshMs = options.refreshMs ?? 60_000;
    this.retryMs = options.retryMs ?? 5000;
    this.full = new LimitLog(this.log, 'data-path address answers: connection limit reached; connections refused', {
      port: this.port,
      limit: ANSWER_LIMITS,
    });
    if (options.persistence) this.attach(options.persistence);
  }

  /**
   * Persists the map through `persistence` from now on, after loading what it holds (answers already
   * received win: they are newer). The daemon attaches the store once it is open. Never throws.
   */
  attach(persistence: DataAddressPersistence): void {
    this.persistence = persistence;
    let stored: Map<string, string>;
    try {
      stored = persistence.load();
    } catch (err) {
      this.log.warn('stored data-path addresses not readable; asking the nodes again', { err: describe(err) });
      return;
    }
    const answered = this.map.size;
    for (const [c, d] of stored) if (!this.map.has(c)) this.map.set(c, d);
    if (stored.size > 0) this.log.info('data-path addresses of Swarm nodes loaded', { map: this.entries() });
    if (answered > 0) this.save();
  }

  /** The port answered on (after listen() with port 0: the one the kernel chose). */
  get listeningPort(): number {
    return this.port;
  }

  /**
   * The addresses a node's own Swarm identity gives it (DiscoverNew Self): its data-path address and
   * its local (bind) address, the one the other nodes' connections to its advertise address arrive at.
   * Canonical, without duplicates and without the unspecified address; never a container gateway.
   */
  static ownAddresses(self: { address: string; bindAddress?: string }): string[] {
    const out: string[] = [];
    for (const a of [self.bindAddress ?? '', self.address]) {
      const c = canonicalIp(a);
      if (c && c !== '0.0.0.0' && c !== '::' && !out.includes(c)) out.push(c);
    }
    return out;
  }

  /**
   * DiscoverNew Self: answers with `self.address` from now on, and only on the node's own Swarm
   * addresses (ownAddresses). Never throws.
   */
  serveSelf(self: { address: string; bindAddress?: string }): Promise<void> {
    this.setSelf(self.address);
    return this.listen(DataAddressMap.ownAddresses(self));
  }

  /** The addresses answered on now. */
  get listeningOn(): string[] {
    return [...this.servers.keys()];
  }

  /**
   * Answers on exactly `hosts` (specific addresses: never the wildcard, where container gateways and
   * every other address of the host would reach it): listeners on addresses no longer wanted are
   * closed, new ones opened. An address that cannot be taken is logged: the other nodes then flood to
   * this node's control address, as without the map. Calls are serialised. Never throws.
   */
  listen(hosts: readonly string[]): Promise<void> {
    const run = this.listening.then(() => this.rebind(hosts));
    this.listening = run;
    return run;
  }

  private async rebind(hosts: readonly string[]): Promise<void> {
    const wanted = new Set(hosts.map((h) => canonicalIp(h)).filter((h): h is string => !!h && h !== '0.0.0.0' && h !== '::'));
    for (const [host, server] of [...this.servers]) {
      if (wanted.has(host)) continue;
      this.servers.delete(host);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      this.log.info('no longer answering Swarm nodes on this address', { host, port: this.port });
    }
    for (const host of wanted) {
      if (this.servers.has(host)) continue;
      const server = net.createServer((socket) => this.answer(socket));
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ port: this.port, host }, () => {
            server.off('error', reject);
            resolve();
          });
        });
      } catch (err) {
        this.log.error('cannot answer other nodes with the data-path address on this address; they will send VXLAN to its control address', {
          host,
          port: this.port,
          err: describe(err),
        });
        continue;
      }
      // Errors after listen (none expected) must not become an unhandled 'error' event.
      server.on('error', (err) => this.log.warn('data-path address listener error', { host, err: describe(err) }));
      this.servers.set(host, server);
      this.port = (server.address() as net.AddressInfo).port;
      this.log.info('answering Swarm nodes with the data-path address', { port: this.port, host });
    }
  }

  /**
   * One answer: the line, then the socket is gone as soon as the line is handed to the kernel, and in
   * any case after the absolute deadline, whatever the peer sends (it is never read: a byte a second
   * must not keep a connection, and so a slot, alive). At most ANSWER_LIMITS.perSource at once from one
   * address, so one source cannot take the slots of the others.
   */
  private answer(socket: net.Socket): void {
    const source = socket.remoteAddress ?? '';
    const open = this.openBySource.get(source) ?? 0;
    socket.on('error', () => undefined);
    if (open >= ANSWER_LIMITS.perSource || this.open >= ANSWER_LIMITS.connections) {
      this.full.hit();
      socket.destroy();
      return;
    }
    this.open++;
    this.openBySource.set(source, open + 1);
    const deadline = setTimeout(() => socket.destroy(), this.timeoutMs).unref();
    socket.on('close', () => {
      clearTimeout(deadline);
      this.open--;
      const left = (this.openBySource.get(source) ?? 1) - 1;
      if (left > 0) this.openBySource.set(source, left);
      else this.openBySource.delete(source);
    });
    socket.end(formatAnswer(this.self), () => socket.destroy());
  }

  /** Stops answering (on every address). */
  close(): Promise<void> {
    return this.listen([]);
  }

  /** This node's data-path address (DiscoverNew Self), what it answers. */
  setSelf(address: string): void {
    this.self = canonicalIp(address) ?? this.self;
  }

  /** The data-path address of the node with this control address, when known. */
  dataOf(control: string): string | undefined {
    const c = canonicalIp(control);
    return c ? this.map.get(c) : undefined;
  }

  /** Ask this control address at the next refresh (the node joined again: its data address may have changed). */
  expire(control: string): void {
    const c = canonicalIp(control);
    if (c) this.due.delete(c);
  }

  /** The map, for logs and tests. */
  entries(): Record<string, string> {
    return Object.fromEntries([...this.map].sort(([a], [b]) => (a < b ? -1 : 1)));
  }

  /**
   * Asks every control address of `controls` that is due (never asked, or its answer or failure is old
   * enough), in parallel; keeps an old answer when asking fails (its tsnet may be restarting). Resolves
   * true when the map changed (persisted by then). Never throws.
   */
  async refresh(controls: Iterable<string>): Promise<boolean> {
    const now = Date.now();
    const ask = [...new Set([...controls].map((c) => canonicalIp(c)).filter((c): c is string => !!c))].filter((c) => (this.due.get(c) ?? 0) <= now);
    if (ask.length === 0) return false;
    const answers = await Promise.all(ask.map(async (control) => ({ control, answer: await this.ask(control) })));
    let changed = false;
    for (const { control, answer } of answers) {
      if (answer.ok && answer.address) {
        this.due.set(control, now + this.refreshMs);
        if (this.map.get(control) !== answer.address) {
          this.log.info('data-path address of a Swarm node', { control, data: answer.address, was: this.map.get(control) });
          this.map.set(control, answer.address);
          changed = true;
        }
      } else {
        this.due.set(control, now + this.retryMs);
        this.log.debug('data-path address of a Swarm node not known', { control, err: answer.ok ? 'the node does not know its own yet' : answer.err });
      }
    }
    if (changed) this.save();
    return changed;
  }

  /** One question: connect, read the line, close. */
  private ask(control: string): Promise<{ ok: true; address?: string } | { ok: false; err: string }> {
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let settled = false;
      const done = (result: { ok: true; address?: string } | { ok: false; err: string }) => {
        if (settled) return;
        settled = true;
        socket.destroy();
        resolve(result);
      };
      const socket = net.connect({ host: control, port: this.port });
      socket.setTimeout(this.timeoutMs, () => done({ ok: false, err: `no answer within ${this.timeoutMs} ms` }));
      socket.on('error', (err) => done({ ok: false, err: err.message }));
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        size += chunk.length;
        if (size > MAX_ANSWER_BYTES) done({ ok: false, err: 'answer too long' });
      });
      socket.on('end', () => {
        try {
          done({ ok: true, address: parseAnswer(Buffer.concat(chunks).toString('utf8')) });
        } catch (err) {
          done({ ok: false, err: describe(err) });
        }
      });
    });
  }

  private save(): void {
    if (!this.persistence) return;
    try {
      this.persistence.save(this.map);
    } catch (err) {
      this.log.warn('data-path addresses of Swarm nodes not persisted', { err: describe(err) });
    }
  }
}
