// Kernel-object helpers for the harness: network namespaces, mounts, cgroups, and finding the processes that
// live in them. Everything here acts only on objects the caller names (harness-prefixed names/paths).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { binaries, CGROUP_ROOT, NETNS_PREFIX } from './env';
import { allPids, cmdline, kill, nsInode, run, waitGone } from './proc';

export const NETNS_DIR = '/run/netns';

export function netnsPath(name: string): string {
  return path.join(NETNS_DIR, name);
}

export function listHarnessNetns(): string[] {
  try {
    return fs.readdirSync(NETNS_DIR).filter((n) => n.startsWith(NETNS_PREFIX));
  } catch {
    return [];
  }
}

export function netnsExists(name: string): boolean {
  return fs.existsSync(netnsPath(name));
}

export async function netnsAdd(name: string): Promise<void> {
  if (!name.startsWith(NETNS_PREFIX)) throw new Error(`harness netns names start with ${NETNS_PREFIX}: ${name}`);
  const ip = binaries().ip;
  await run(ip, ['netns', 'add', name]);
  await run(ip, ['-n', name, 'link', 'set', 'lo', 'up']);
}

export async function netnsDel(name: string): Promise<void> {
  if (!name.startsWith(NETNS_PREFIX)) return;
  if (!netnsExists(name)) return;
  await run(binaries().ip, ['netns', 'del', name], { allowFail: true });
  if (netnsExists(name)) {
    // `ip netns del` failed half-way (e.g. busy): detach and unlink the pin ourselves.
    await umount(netnsPath(name));
    try {
      fs.unlinkSync(netnsPath(name));
    } catch {
      // gone
    }
  }
}

/** inode of a pinned namespace file (nsfs), or undefined if it is not a pinned namespace. */
export function pinnedNsInode(file: string): number | undefined {
  try {
    const st = fs.statSync(file);
    // a plain file we created has a small regular inode on the scratch fs; a pinned ns lives on nsfs.
    // Distinguish by comparing with the device of the containing dir.
    const dirSt = fs.statSync(path.dirname(file));
    return st.dev !== dirSt.dev ? st.ino : undefined;
  } catch {
    return undefined;
  }
}

// ---- mounts ---------------------------------------------------------------------------------------------------

function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Mount points (in this process's mount namespace) equal to or below `prefix`, deepest first. */
export function mountsUnder(prefix: string): string[] {
  const p = prefix.replace(/\/+$/, '');
  let text = '';
  try {
    text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const found: string[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f.length < 5) continue;
    const mp = unescapeMountinfo(f[4]);
    if (mp === p || mp.startsWith(p + '/')) found.push(mp);
  }
  // deepest first; the same point may be mounted several times: keep each occurrence
  return found.sort((a, b) => b.length - a.length);
}

export function isMountPoint(p: string): boolean {
  return mountsUnder(p).includes(p.replace(/\/+$/, ''));
}

/** Unmount once (lazily if busy). Never throws. */
export async function umount(p: string): Promise<void> {
  const u = binaries().umount;
  const r = await run(u, [p], { allowFail: true, timeoutMs: 10_000 });
  if (r.code !== 0 && isMountPoint(p)) await run(u, ['-l', p], { allowFail: true, timeoutMs: 10_000 });
}

/** Unmount everything at or below `prefix` (deepest first, repeated for stacked mounts). Never throws. */
export async function umountAllUnder(prefix: string): Promise<void> {
  for (let round = 0; round < 5; round++) {
    const mps = mountsUnder(prefix);
    if (!mps.length) return;
    for (const mp of mps) await umount(mp);
  }
}

// ---- processes in namespaces / cgroups ----------------------------------------------------------------------------

/** Pids whose namespace of `kind` has inode `ino`. */
export function pidsInNs(kind: 'net' | 'mnt' | 'uts', ino: number): number[] {
  const self = process.pid;
  return allPids().filter((p) => p !== self && nsInode(p, kind) === ino);
}

/** Pids whose command line mentions `needle` (e.g. a scratch dir). */
export function pidsWithCmdline(needle: string): number[] {
  const self = process.pid;
  return allPids().filter((p) => p !== self && cmdline(p).some((a) => a.includes(needle)));
}

/** cgroup hierarchies mounted under /sys/fs/cgroup (v1 controllers + unified), or [/sys/fs/cgroup] on pure v2. */
function cgroupHierarchies(): string[] {
  const base = '/sys/fs/cgroup';
  const text = (() => {
    try {
      return fs.readFileSync('/proc/self/mountinfo', 'utf8');
    } catch {
      return '';
    }
  })();
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const fstype = line.slice(sep + 3).split(' ')[0];
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    const mp = unescapeMountinfo(line.split(' ')[4]);
    if (mp === base || mp.startsWith(base + '/')) out.push(mp);
  }
  return [...new Set(out)];
}

/** Existing cgroup dirs for a harness id (one per hierarchy). `id` undefined: the CGROUP_ROOT dirs. */
export function cgroupDirs(id?: string): string[] {
  const rel = id ? path.join(CGROUP_ROOT, id) : CGROUP_ROOT;
  return cgroupHierarchies()
    .map((h) => path.join(h, rel))
    .filter((d) => fs.existsSync(d));
}

function walkDirs(dir: string): string[] {
  const out: string[] = [dir];
  let entries: fs.Dirent[] = [];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) if (e.isDirectory()) out.push(...walkDirs(path.join(dir, e.name)));
  return out;
}

export function pidsInCgroups(dirs: string[]): number[] {
  const pids = new Set<number>();
  for (const d of dirs)
    for (const sub of walkDirs(d)) {
      try {
        for (const l of fs.readFileSync(path.join(sub, 'cgroup.procs'), 'utf8').split('\n'))
          if (/^\d+$/.test(l)) pids.add(Number(l));
      } catch {
        // no procs file / gone
      }
    }
  pids.delete(process.pid);
  return [...pids];
}

/** Kill everything in the cgroup trees and remove the (then empty) dirs, deepest first. Never throws. */
export async function removeCgroups(dirs: string[]): Promise<void> {
  const pids = pidsInCgroups(dirs);
  for (const p of pids) kill(p, 'SIGKILL');
  await waitGone(pids, 5000);
  for (const d of dirs) {
    for (const sub of walkDirs(d).sort((a, b) => b.length - a.length)) {
      try {
        fs.rmdirSync(sub);
      } catch {
        // busy or gone
      }
    }
  }
}

/** Remove the CGROUP_ROOT parents if they are empty (another run may still use them: then they stay). */
export function removeEmptyCgroupRoots(): void {
  for (const d of cgroupDirs()) {
    try {
      fs.rmdirSync(d);
    } catch {
      // not empty or gone
    }
  }
}
