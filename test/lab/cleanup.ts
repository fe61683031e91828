// Remove what earlier, crashed harness runs left behind: scratch dirs under TEST_ROOT, tsnt-* network namespaces,
// pinned mounts, harness dockerds (and their containerd, shims, containers, tsnet) and cgroup dirs. Only things
// whose creating process is dead are touched, so concurrent test runs on the same machine are safe.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readHostRecord, teardownRecord } from './docker-host';
import { ID_RE, NETNS_PREFIX, ownerAlive, TEST_ROOT } from './env';
import { allPids, cmdline, kill, waitGone } from './proc';
import { cgroupDirs, listHarnessNetns, mountsUnder, netnsDel, netnsPath, pidsInNs, pinnedNsInode, removeCgroups, removeEmptyCgroupRoots, umountAllUnder } from './sys';
import { readUnderlayRecord, teardownUnderlay } from './underlay';

/** The harness id a path under TEST_ROOT belongs to (its first component), if any. */
function idOfPath(p: string): string | undefined {
  if (!p.startsWith(TEST_ROOT + '/')) return undefined;
  return p.slice(TEST_ROOT.length + 1).split('/')[0] || undefined;
}

/** Removes stale leftovers; returns one line per thing removed (for the test log). Never throws. */
export async function cleanupStale(): Promise<string[]> {
  const done: string[] = [];
  const note = (s: string) => done.push(s);
  const problems: string[] = [];
  const attempt = async (what: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (e) {
      problems.push(`${what}: ${String(e)}`);
    }
  };

  // 1. processes of dead runs: anything whose cmdline names a dead id's dir (dockerd, containerd, shims)
  await attempt('processes', async () => {
    const stale = new Map<number, string[]>();
    const marker = TEST_ROOT + '/';
    for (const pid of allPids()) {
      if (pid === process.pid) continue;
      const argv = cmdline(pid);
      const hit = argv.find((a) => a.includes(marker));
      if (!hit) continue;
      const id = idOfPath(hit.slice(hit.indexOf(marker)));
      if (id && !ownerAlive(id)) stale.set(pid, argv);
    }
    // Their state is all scratch (netns, mount ns, dirs): no need for a graceful shutdown.
    const pids = [...stale.keys()];
    for (const p of pids) kill(p, 'SIGKILL');
    await waitGone(pids, 5000);
    for (const [p, a] of stale) note(`killed ${p}: ${a.join(' ').slice(0, 120)}`);
  });

  // 2. scratch dirs of dead runs (full teardown from their records)
  let entries: string[] = [];
  try {
    entries = fs.readdirSync(TEST_ROOT);
  } catch {
    entries = [];
  }
  for (const id of entries) {
    const dir = path.join(TEST_ROOT, id);
    if (ownerAlive(id)) continue;
    await attempt(`dir ${dir}`, async () => {
      const host = readHostRecord(dir);
      const underlay = readUnderlayRecord(dir);
      if (host) problems.push(...(await teardownRecord({ ...host, dir }, 2000)));
      else if (underlay) problems.push(...(await teardownUnderlay({ ...underlay, dir })));
      else {
        await umountAllUnder(dir);
        fs.rmSync(dir, { recursive: true, force: true });
      }
      note(`removed ${host ? 'host' : underlay ? 'underlay' : 'dir'} ${dir}`);
    });
  }

  // 3. network namespaces without a live owner (e.g. the dir was already gone); only names of the harness's
  //    own shape, so namespaces of other tools that happen to share the prefix are left alone
  for (const ns of listHarnessNetns()) {
    const id = ns.slice(NETNS_PREFIX.length);
    if (!ID_RE.test(id) || ownerAlive(id)) continue;
    await attempt(`netns ${ns}`, async () => {
      const ino = pinnedNsInode(netnsPath(ns));
      if (ino !== undefined) {
        const pids = pidsInNs('net', ino);
        for (const p of pids) kill(p, 'SIGKILL');
        await waitGone(pids, 5000);
      }
      await netnsDel(ns);
      note(`removed netns ${ns}`);
    });
  }

  // 4. mounts under TEST_ROOT of dead ids (pins whose dir was removed without unmounting)
  for (const mp of mountsUnder(TEST_ROOT)) {
    const id = idOfPath(mp);
    if (!id || ownerAlive(id)) continue;
    await attempt(`mount ${mp}`, async () => {
      await umountAllUnder(mp);
      note(`unmounted ${mp}`);
    });
  }

  // 5. cgroups of dead ids
  const cgRoots = cgroupDirs();
  const cgIds = new Set<string>();
  for (const r of cgRoots) {
    try {
      for (const e of fs.readdirSync(r, { withFileTypes: true })) if (e.isDirectory()) cgIds.add(e.name);
    } catch {
      // gone
    }
  }
  for (const id of cgIds) {
    if (!ID_RE.test(id) || ownerAlive(id)) continue;
    await attempt(`cgroup ${id}`, async () => {
      await removeCgroups(cgroupDirs(id));
      note(`removed cgroups of ${id}`);
    });
  }
  removeEmptyCgroupRoots();

  if (problems.length) process.stderr.write(`[harness] cleanupStale problems:\n  ${problems.join('\n  ')}\n`);
  return done;
}
