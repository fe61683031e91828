// Where the docker-tier harness keeps things, which binaries it uses, whether it can run here, and the
// ownership records that let cleanupStale() tell a crashed run's leftovers from a concurrent live run.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pidAlive, pidStartTime } from './proc';

/** Scratch root: every host/underlay/image dir lives in TEST_ROOT/<id>. Short on purpose (unix socket paths). */
export const TEST_ROOT = process.env.TSNET_TEST_ROOT || '/tmp/tsnet-test';
/** Every network namespace the harness creates is named NETNS_PREFIX + <id>, with <id> its dir name. */
export const NETNS_PREFIX = 'tsnt-';
/** Container cgroups of harness dockerds live under this parent (cgroupfs driver): CGROUP_ROOT/<id>. */
export const CGROUP_ROOT = 'tsnet-test';

function findBin(candidates: string[]): string | undefined {
  for (const c of candidates) {
    if (c.includes('/')) {
      try {
        fs.accessSync(c, fs.constants.X_OK);
        return c;
      } catch {
        continue;
      }
    }
    for (const dir of (process.env.PATH || '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
      const p = path.join(dir, c);
      try {
        fs.accessSync(p, fs.constants.X_OK);
        return p;
      } catch {
        // next
      }
    }
  }
  return undefined;
}

export interface Binaries {
  dockerd: string;
  /** The engine's own docker CLI (see engine()). */
  docker: string;
  nsenter: string;
  unshare: string;
  ip: string;
  mount: string;
  umount: string;
  hostname: string;
  mkdir: string;
  rmdir: string;
  tar: string;
  busybox: string;
}

/**
 * The Docker engine the docker tier runs against. TSNET_TEST_ENGINE_DIR names an unpacked engine
 * (scripts/fetch-docker-engine.sh: ROOT/usr/sbin/dockerd, ROOT/usr/bin/docker, containerd and the
 * shim beside it); unset, Debian's own docker.io (20.10) in /usr/sbin and /usr/bin. Never a docker
 * that happens to be first in PATH: a test run names its engine.
 */
export interface Engine {
  /** Where it comes from, for messages: "Debian docker.io" or the engine directory. */
  label: string;
  dockerd: string;
  docker: string;
  /** Prepended to dockerd's PATH, so it starts this engine's containerd, shim and docker-proxy. */
  pathPrefix: string[];
}

export function engine(env: NodeJS.ProcessEnv = process.env): Engine {
  const root = env.TSNET_TEST_ENGINE_DIR;
  if (root) {
    const sbin = path.join(root, 'usr', 'sbin');
    const bin = path.join(root, 'usr', 'bin');
    return { label: root, dockerd: path.join(sbin, 'dockerd'), docker: path.join(bin, 'docker'), pathPrefix: [sbin, bin] };
  }
  return { label: 'Debian docker.io', dockerd: '/usr/sbin/dockerd', docker: '/usr/bin/docker', pathPrefix: [] };
}

let bins: Partial<Binaries> | undefined;
function lookupBinaries(): Partial<Binaries> {
  const e = engine();
  bins ??= {
    dockerd: findBin([e.dockerd]),
    docker: findBin([e.docker]),
    nsenter: findBin(['/usr/bin/nsenter', 'nsenter']),
    unshare: findBin(['/usr/bin/unshare', 'unshare']),
    ip: findBin(['/usr/sbin/ip', '/sbin/ip', 'ip']),
    mount: findBin(['/usr/bin/mount', '/bin/mount', 'mount']),
    umount: findBin(['/usr/bin/umount', '/bin/umount', 'umount']),
    hostname: findBin(['/usr/bin/hostname', '/bin/hostname', 'hostname']),
    mkdir: findBin(['/usr/bin/mkdir', '/bin/mkdir', 'mkdir']),
    rmdir: findBin(['/usr/bin/rmdir', '/bin/rmdir', 'rmdir']),
    tar: findBin(['/usr/bin/tar', '/bin/tar', 'tar']),
    busybox: findBin(['/bin/busybox', '/usr/bin/busybox', 'busybox']),
  };
  return bins;
}

/** Resolved binaries; throws if one is missing (canRunDocker() says which). */
export function binaries(): Binaries {
  const b = lookupBinaries();
  for (const [k, v] of Object.entries(b)) if (!v) throw new Error(`harness: binary not found: ${k}`);
  return b as Binaries;
}

/** Can this process run the docker tier? Tests skip loudly with `reason` when not. */
export function canRunDocker(): { ok: boolean; reason?: string } {
  if (process.platform !== 'linux') return { ok: false, reason: `needs Linux (platform is ${process.platform})` };
  if (typeof process.getuid !== 'function' || process.getuid() !== 0)
    return { ok: false, reason: 'needs root (network/mount namespaces, dockerd)' };
  const b = lookupBinaries();
  const hints: Record<string, string> = {
    dockerd: 'apt-get install docker.io',
    docker: 'apt-get install docker.io',
    nsenter: 'util-linux',
    unshare: 'util-linux',
    ip: 'iproute2',
    mount: 'util-linux',
    umount: 'util-linux',
    hostname: 'hostname',
    mkdir: 'coreutils',
    rmdir: 'coreutils',
    tar: 'tar',
    busybox: 'apt-get install busybox-static (for the test image)',
  };
  const missing = Object.entries(b)
    .filter(([, v]) => !v)
    .map(([k]) => `${k} (${hints[k]})`);
  if (missing.length) return { ok: false, reason: `missing binaries: ${missing.join(', ')}` };
  if (!fs.existsSync('/proc/self/ns/net') || !fs.existsSync('/proc/self/ns/mnt'))
    return { ok: false, reason: 'kernel without network/mount namespaces' };
  if (process.env.TSNET_SKIP_DOCKER) return { ok: false, reason: 'TSNET_SKIP_DOCKER is set' };
  return { ok: true };
}

/** Shape of every harness id ("<name>-<6 hex>"); the netns of an id is NETNS_PREFIX + id. */
export const ID_RE = /^[a-z0-9][a-z0-9-]*-[0-9a-f]{6}$/;

export function randomId(name: string): string {
  return `${name}-${crypto.randomBytes(3).toString('hex')}`;
}

// ---- ownership ---------------------------------------------------------------------------------------------

export interface OwnerRecord {
  pid: number;
  start: string;
  created: number;
}

const me: OwnerRecord = { pid: process.pid, start: pidStartTime(process.pid) ?? '', created: 0 };

/** Create TEST_ROOT/<id> and write owner.json (this process) into it. */
export function makeOwnedDir(id: string): string {
  const dir = path.join(TEST_ROOT, id);
  fs.mkdirSync(TEST_ROOT, { recursive: true, mode: 0o755 });
  fs.mkdirSync(dir, { mode: 0o755 });
  writeJson(path.join(dir, 'owner.json'), { ...me, created: Date.now() });
  return dir;
}

export function writeJson(file: string, value: unknown): void {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(value, null, 2));
  fs.renameSync(tmp, file);
}

export function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/**
 * Is the run that made TEST_ROOT/<id> still alive? A dir without owner.json counts as live for its first
 * minute (it is being created), as stale after that.
 */
export function ownerAlive(id: string): boolean {
  const dir = path.join(TEST_ROOT, id);
  const owner = readJson<OwnerRecord>(path.join(dir, 'owner.json'));
  if (!owner) {
    try {
      return Date.now() - fs.statSync(dir).mtimeMs < 60_000;
    } catch {
      return false; // no dir at all: nobody owns this id any more
    }
  }
  return pidAlive(owner.pid) && pidStartTime(owner.pid) === owner.start;
}

/** True if `id` is owned by this very process. */
export function ownedByMe(id: string): boolean {
  const owner = readJson<OwnerRecord>(path.join(TEST_ROOT, id, 'owner.json'));
  return !!owner && owner.pid === me.pid && owner.start === me.start;
}
