// The "wire" between DockerHosts in multi-host tests: a network namespace tsnt-<id> holding a Linux bridge.
// Hosts attach with HostOptions.underlay = underlay.attach('10.210.0.1/24'). Nothing connects it to the root
// namespace and no namespace gets a default route, so no test packet can leave.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { binaries, makeOwnedDir, NETNS_PREFIX, randomId, readJson, TEST_ROOT, writeJson } from './env';
import { kill, run, waitGone } from './proc';
import { netnsAdd, netnsDel, netnsPath, pidsInNs, pinnedNsInode } from './sys';

export interface UnderlayRecord {
  kind: 'underlay';
  id: string;
  dir: string;
  netns: string;
}

export class Underlay {
  private stopping?: Promise<void>;
  private constructor(
    readonly id: string,
    readonly dir: string,
    readonly netns: string,
    readonly bridge: string,
  ) {}

  /** Create the bridge namespace (lo up, bridge up). On failure removes what it made. */
  static async create(name = 'sw', bridge = 'br0'): Promise<Underlay> {
    const id = randomId(name);
    const dir = makeOwnedDir(id);
    const u = new Underlay(id, dir, NETNS_PREFIX + id, bridge);
    const rec: UnderlayRecord = { kind: 'underlay', id, dir, netns: u.netns };
    writeJson(path.join(dir, 'underlay.json'), rec);
    try {
      const ip = binaries().ip;
      await netnsAdd(u.netns);
      await run(ip, ['-n', u.netns, 'link', 'add', bridge, 'type', 'bridge']);
      await run(ip, ['-n', u.netns, 'link', 'set', bridge, 'up']);
    } catch (e) {
      await u.destroy();
      throw e;
    }
    return u;
  }

  /** HostOptions.underlay for a host with this address (CIDR, e.g. 10.210.0.1/24). */
  attach(address: string): { bridgeNs: string; address: string; bridge: string } {
    return { bridgeNs: this.netns, address, bridge: this.bridge };
  }

  /** `ip -n <underlay ns> args…` (e.g. to cut a host off: ['link', 'set', 'p-h2', 'down']). */
  ip(args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
    return run(binaries().ip, ['-n', this.netns, ...args]);
  }

  /** A command inside the underlay's namespace (e.g. ebtables on the bridge, to model a switch ACL). */
  exec(cmd: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
    return run(binaries().ip, ['netns', 'exec', this.netns, ...cmd]);
  }

  /** Idempotent; never throws. Destroy after the hosts (their veths go with their namespaces). */
  destroy(): Promise<void> {
    this.stopping ??= teardownUnderlay({ kind: 'underlay', id: this.id, dir: this.dir, netns: this.netns }).then((p) => {
      if (p.length) process.stderr.write(`[harness] underlay ${this.id} teardown problems:\n  ${p.join('\n  ')}\n`);
    });
    return this.stopping;
  }
}

export async function teardownUnderlay(rec: UnderlayRecord): Promise<string[]> {
  const problems: string[] = [];
  try {
    const ino = pinnedNsInode(netnsPath(rec.netns));
    if (ino !== undefined) {
      const pids = pidsInNs('net', ino);
      for (const p of pids) kill(p, 'SIGKILL');
      await waitGone(pids, 5000);
    }
    await netnsDel(rec.netns);
  } catch (e) {
    problems.push(`netns: ${String(e)}`);
  }
  try {
    if (!rec.dir.startsWith(TEST_ROOT + '/')) throw new Error(`refusing to remove ${rec.dir}`);
    fs.rmSync(rec.dir, { recursive: true, force: true });
  } catch (e) {
    problems.push(`dir: ${String(e)}`);
  }
  return problems;
}

export function readUnderlayRecord(dir: string): UnderlayRecord | undefined {
  const r = readJson<UnderlayRecord>(path.join(dir, 'underlay.json'));
  return r && r.kind === 'underlay' ? r : undefined;
}
