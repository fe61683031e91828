/**
 * bench/soak (issue 7): a bounded soak of K container create/remove cycles (`docker run -d` then
 * `docker rm -f`) on one tsnet bridge network with tsnet's IPAM, on a private Docker host. Reports the
 * plugin's resident memory at start, after a warm-up and at the end (goal: growth < 10 %), and what is left
 * once every container is gone: endpoint links (tsnet's ts* links other than the network's bridge, goal 0),
 * endpoint rules (iptables-save/ip6tables-save lines with a tsnet `:ep:` marker, goal 0), addresses tsnet's
 * IPAM still holds beyond the gateway (its LMDB store read read-only, goal 0) and endpoints still stored;
 * then the same after `docker network rm` (every ts* link, every rule of the network, every allocation).
 *
 *   make build && node dist/bench/soak.js [cycles=200] [parallel=2]     (cycles up to 1000)
 */
import path from 'node:path';
import { open } from 'lmdb';
import type { DockerHost } from '../test/harness';
import { tsnetAllocations } from '../test/support/docker-scenario';
import { commandLine, dk, IMAGE, intOption, keyValueTable, loadAverage, log, median, pool, rssKiB, timed, withDockerHost } from './common';

const CYCLES = intOption('cycles', 200, 1, 1000);
const PARALLEL = intOption('parallel', 2, 1, 8);
const WARMUP = Math.max(1, Math.min(20, Math.floor(CYCLES / 10)));
const SUBNET = '10.203.0.0/24';
const GATEWAY = '10.203.0.1';
const NET = 'soak';

function rss(h: DockerHost): number {
  const pid = h.tsnetPid();
  if (pid === undefined) throw new Error('tsnet is not running (did it crash? see its log)');
  return rssKiB(pid);
}

const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;

/** tsnet's links in the host's namespace (ts-* bridges, tsv/tsc veth ends, tsm* macvlans). */
async function tsLinks(h: DockerHost): Promise<string[]> {
  const links = JSON.parse((await h.exec(['ip', '-j', 'link', 'show'])).stdout || '[]') as { ifname: string }[];
  return links.map((l) => l.ifname).filter((n) => n.startsWith('ts'));
}

/** iptables-save + ip6tables-save lines carrying a tsnet marker, in the host's namespace. */
async function tsnetRuleLines(h: DockerHost): Promise<string[]> {
  const out: string[] = [];
  for (const cmd of ['iptables-save', 'ip6tables-save']) {
    const r = await h.exec([cmd], { allowFail: true });
    out.push(...r.stdout.split('\n').filter((l) => l.includes('tsnet:')));
  }
  return out;
}

/** Endpoint records in tsnet's store (read-only, beside the running daemon). */
function storedEndpoints(h: DockerHost): number {
  const db = open({ path: path.join(h.tsnetStateDir, 'tsnet.mdb'), readOnly: true, compression: false, noSubdir: false });
  try {
    let n = 0;
    for (const _ of db.getKeys({ start: 'ep/', end: 'ep/\uffff' })) n++;
    return n;
  } finally {
    void db.close();
  }
}

async function main(): Promise<void> {
  const load = loadAverage();
  const rows: Array<[string, string | number]> = [];
  const memory: Array<[number, number]> = [];
  let goals: string[] = [];
  await withDockerHost('soak', {}, async (h) => {
    const linksBefore = await tsLinks(h);
    const netId = await dk(h, 'network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--subnet', SUBNET, NET);
    const bridge = `ts-${netId.slice(0, 10)}`;
    // One cycle before the start figure, which also checks that this bench reads tsnet's store right.
    await dk(h, 'run', '-d', '--name', 'soak-check', '--network', NET, IMAGE, 'sleep', '3600');
    const seen = { endpoints: storedEndpoints(h), addresses: tsnetAllocations(h).length };
    if (seen.endpoints !== 1 || seen.addresses !== 2) {
      throw new Error(`store read check: with one container expected 1 endpoint and 2 addresses, read ${JSON.stringify(seen)}`);
    }
    await dk(h, 'rm', '-f', 'soak-check');
    const rssStart = rss(h);
    memory.push([0, rssStart]);
    let rssWarm = rssStart;
    let done = 0;
    const cycleMs: number[] = [];
    const sampleEvery = Math.max(1, Math.floor(CYCLES / 20));
    log(`${CYCLES} cycles, ${PARALLEL} at a time; RSS at start ${mib(rssStart)}`);
    const total = await timed(() =>
      pool(CYCLES, PARALLEL, async (i) => {
        const name = `soak-${i}`;
        const t = await timed(async () => {
          await dk(h, 'run', '-d', '--name', name, '--network', NET, IMAGE, 'sleep', '3600');
          await dk(h, 'rm', '-f', name);
        });
        cycleMs.push(t.ms);
        done++;
        if (done === WARMUP) rssWarm = rss(h);
        if (done % sampleEvery === 0) {
          memory.push([done, rss(h)]);
          if (done % (sampleEvery * 2) === 0) log(`${done}/${CYCLES} cycles, RSS ${mib(memory[memory.length - 1]![1])}`);
        }
      }),
    );
    const rssEnd = rss(h);

    const links = (await tsLinks(h)).filter((l) => !linksBefore.includes(l));
    const epLinks = links.filter((l) => l !== bridge);
    const epRules = (await tsnetRuleLines(h)).filter((l) => l.includes(':ep:'));
    const addrs = tsnetAllocations(h).filter((a) => a !== GATEWAY);
    const eps = storedEndpoints(h);
    const leftover = (await h.docker(['ps', '-aq'])).stdout.split(/\s+/).filter(Boolean).length;

    await dk(h, 'network', 'rm', NET);
    const linksAfterRm = (await tsLinks(h)).filter((l) => !linksBefore.includes(l));
    const rulesAfterRm = (await tsnetRuleLines(h)).filter((l) => l.includes(`:net:${netId.slice(0, 12)}`));
    const addrsAfterRm = tsnetAllocations(h);

    const growthStart = ((rssEnd - rssStart) / rssStart) * 100;
    const growthWarm = ((rssEnd - rssWarm) / rssWarm) * 100;
    // V8 collects lazily, so RSS is a sawtooth: a leak shows as a rising median, not as one high sample.
    const during = memory.slice(1).map(([, k]) => k);
    const half = Math.floor(during.length / 2);
    const trend = ((median(during.slice(half)) - median(during.slice(0, half))) / median(during.slice(0, half))) * 100;
    rows.push(
      ['cycles (docker run -d + docker rm -f)', `${CYCLES}, ${PARALLEL} at a time, ${(total.ms / 1000).toFixed(1)} s (median cycle ${median(cycleMs).toFixed(0)} ms)`],
      ['tsnet RSS at start (network created, one container run)', mib(rssStart)],
      [`tsnet RSS after ${WARMUP} warm-up cycles`, mib(rssWarm)],
      ['tsnet RSS at the end', mib(rssEnd)],
      ['RSS growth start → end (goal < 10 %)', `${growthStart.toFixed(1)} %`],
      ['RSS growth after warm-up → end', `${growthWarm.toFixed(1)} %`],
      ['RSS peak of the samples', mib(Math.max(...during))],
      ['RSS trend: median of the samples in the 2nd half vs the 1st half', Number.isFinite(trend) ? `${trend.toFixed(1)} %` : 'n/a (too few samples)'],
      ['RSS through the run (cycles: MiB)', memory.map(([c, k]) => `${c}: ${(k / 1024).toFixed(1)}`).join(', ')],
      ['containers left (docker ps -aq)', leftover],
      ['leaked endpoint links, network still there (goal 0)', epLinks.length ? `${epLinks.length}: ${epLinks.slice(0, 5).join(' ')}` : 0],
      ['leaked endpoint rules, `:ep:` markers (goal 0)', epRules.length ? `${epRules.length}: ${epRules[0]}` : 0],
      ['leaked addresses in tsnet IPAM beyond the gateway (goal 0)', addrs.length ? `${addrs.length}: ${addrs.slice(0, 5).join(' ')}` : 0],
      ['endpoints left in tsnet\'s store (goal 0)', eps],
      ['after docker network rm: tsnet links left (goal 0)', linksAfterRm.length ? `${linksAfterRm.length}: ${linksAfterRm.slice(0, 5).join(' ')}` : 0],
      ['after docker network rm: rules of the network left (goal 0)', rulesAfterRm.length ? `${rulesAfterRm.length}: ${rulesAfterRm[0]}` : 0],
      ['after docker network rm: IPAM allocations left (goal 0)', addrsAfterRm.length],
    );
    goals = [
      growthStart < 10 ? '' : 'RSS growth',
      epLinks.length + linksAfterRm.length === 0 ? '' : 'links',
      epRules.length + rulesAfterRm.length === 0 ? '' : 'rules',
      addrs.length + addrsAfterRm.length + eps === 0 ? '' : 'addresses/endpoints',
    ].filter(Boolean);
  });

  console.log(`\n### bench/soak: ${CYCLES} container create/remove cycles on one tsnet network (tsnet IPAM)\n`);
  console.log(keyValueTable(['measure', 'value'], rows));
  console.log(`\ngoals: ${goals.length ? `NOT met: ${goals.join(', ')}` : 'all met'}; load average at start ${load}.`);
  console.log(`command: \`${commandLine()}\``);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
