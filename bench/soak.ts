/**
 * bench/soak (issue 7): a bounded soak of K container create/remove cycles (`docker run -d` then
 * `docker rm -f`) on one tsnet bridge network with tsnet's IPAM, on a private Docker host. Reports the
 * plugin's memory through the run and what is left once every container is gone: endpoint links
 * (tsnet's ts* links other than the network's bridge, goal 0), endpoint rules (iptables-save/
 * ip6tables-save lines with a tsnet `:ep:` marker, goal 0), addresses tsnet's IPAM still holds beyond
 * the gateway (its LMDB store read read-only, goal 0) and endpoints still stored; then the same after
 * `docker network rm` (every ts* link, every rule of the network, every allocation).
 *
 * Memory (goal: growth < 10 %). Every ~2 % of the cycles the bench reads tsnet's VmRSS and asks it for a
 * memory report (SIGUSR2: RssAnon/RssFile, V8 heap used/committed, young generation). Node's RSS is a
 * sawtooth: V8 grows its young generation to 2 x 16 MiB under allocation and shrinks it again, and
 * lets the old generation fill up to its next major GC; one sample can land anywhere in a ~30 MiB
 * swing with nothing live added. So the goal is measured as a trend, not from two single samples:
 *   settled growth = median RSS of the samples in the last 20 % of the cycles vs the median of the
 *   samples in the 20 % right after a warm-up (the first `warmup` cycles, default 10 %, ≤ 100, in
 *   which code paths are compiled and heaps reach their working size).
 * The raw figure (one sample at start, right after the first container, vs one at the end) is printed
 * too, with the heap-used medians (a leak of JS objects raises them) and the floors (lowest samples).
 * `semi=N` starts tsnet with --max-semi-space-size=N (MiB), which caps the young generation and with
 * it most of the sawtooth; default 1, as systemd/tsnet.service starts it; semi=0: Node's default.
 * tsnet's CPU per cycle shows what the cap costs.
 *
 *   make build && node dist/bench/soak.js [cycles=200] [parallel=2] [warmup=cycles/10] [semi=1]
 *   (cycles up to 5000)
 */
import fs from 'node:fs';
import path from 'node:path';
import { open } from 'lmdb';
import { type DockerHost, tsnetAllocations } from '../test/lab';
import { MEMORY_REPORT_MESSAGE, type MemoryReport } from '../src/daemon/memory-report';
import { commandLine, dk, IMAGE, intOption, keyValueTable, loadAverage, log, median, pool, rssKiB, runBench, sleep, timed, withDockerHost } from './common';

const CYCLES = intOption('cycles', 200, 1, 5000);
const PARALLEL = intOption('parallel', 2, 1, 8);
const WARMUP = intOption('warmup', Math.min(100, Math.floor(CYCLES / 10)), 0, CYCLES - 1);
/** As systemd/tsnet.service starts tsnet; 0: Node's default. */
const SEMI_SPACE_MIB = intOption('semi', 1, 0, 64);
const SUBNET = '10.203.0.0/24';
const GATEWAY = '10.203.0.1';
const NET = 'soak';

function tsnetPid(h: DockerHost): number {
  const pid = h.tsnetPid();
  if (pid === undefined) throw new Error('tsnet is not running (did it crash? see its log)');
  return pid;
}

/** tsnet's CPU time so far (user + system), in ms, from /proc/PID/stat. */
function cpuMs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[11], fields[12]: utime, stime (fields 14 and 15 of proc(5)), in clock ticks (100 per second here).
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

/** Reads the memory reports tsnet logs on SIGUSR2, from where the last read stopped. */
class MemoryReports {
  private offset = 0;
  private carry = '';
  constructor(private readonly file: string) {}

  private newReports(): MemoryReport[] {
    const fd = fs.openSync(this.file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      if (size <= this.offset) return [];
      const buf = Buffer.alloc(size - this.offset);
      fs.readSync(fd, buf, 0, buf.length, this.offset);
      this.offset = size;
      const lines = (this.carry + buf.toString('utf8')).split('\n');
      this.carry = lines.pop() ?? '';
      const out: MemoryReport[] = [];
      for (const line of lines) {
        if (!line.includes(MEMORY_REPORT_MESSAGE)) continue;
        try {
          const j = JSON.parse(line) as MemoryReport & { message: string };
          if (j.message === MEMORY_REPORT_MESSAGE) out.push(j);
        } catch {
          /* not JSON */
        }
      }
      return out;
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Signals tsnet and waits (≤ 5 s) for its report. */
  async take(pid: number): Promise<MemoryReport> {
    this.newReports(); // skip anything older
    process.kill(pid, 'SIGUSR2');
    for (let i = 0; i < 500; i++) {
      const [report] = this.newReports();
      if (report) return report;
      await sleep(10);
    }
    throw new Error('tsnet logged no memory report within 5 s of SIGUSR2');
  }
}

interface Sample {
  cycle: number;
  rss: number;
  report: MemoryReport;
}

const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;
const pct = (from: number, to: number) => ((to - from) / from) * 100;
const signed = (p: number) => `${p >= 0 ? '+' : ''}${p.toFixed(1)} %`;

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
  let goals: string[] = [];
  const tsnetEnv: Record<string, string> = {};
  if (SEMI_SPACE_MIB > 0) tsnetEnv.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --max-semi-space-size=${SEMI_SPACE_MIB}`.trim();
  await withDockerHost('soak', tsnetEnv, async (h) => {
    const reports = new MemoryReports(h.tsnetLogFile);
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
    const pid = tsnetPid(h);
    const sampleAt = async (cycle: number): Promise<Sample> => ({ cycle, rss: rssKiB(pid), report: await reports.take(pid) });
    const samples: Sample[] = [await sampleAt(0)];
    const cpuStart = cpuMs(pid);
    let done = 0;
    const cycleMs: number[] = [];
    const sampleEvery = Math.max(1, Math.round(CYCLES / 50));
    log(`${CYCLES} cycles, ${PARALLEL} at a time, warm-up ${WARMUP}${SEMI_SPACE_MIB ? `, tsnet with --max-semi-space-size=${SEMI_SPACE_MIB}` : ''}; RSS at start ${mib(samples[0]!.rss)}`);
    let sampling = Promise.resolve();
    const total = await timed(() =>
      pool(CYCLES, PARALLEL, async (i) => {
        const name = `soak-${i}`;
        const t = await timed(async () => {
          await dk(h, 'run', '-d', '--name', name, '--network', NET, IMAGE, 'sleep', '3600');
          await dk(h, 'rm', '-f', name);
        });
        cycleMs.push(t.ms);
        done++;
        if (done % sampleEvery === 0 || done === CYCLES) {
          const cycle = done;
          sampling = sampling.then(async () => {
            const sample = await sampleAt(cycle);
            samples.push(sample);
            if (samples.length % 5 === 0) log(`${cycle}/${CYCLES} cycles, RSS ${mib(sample.rss)}, heap used ${mib(sample.report.heapUsedKiB)}`);
          });
          await sampling;
        }
      }),
    );
    await sampling;
    const cpuPerCycle = (cpuMs(pid) - cpuStart) / CYCLES;

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

    // Windows of the run: the 20 % after the warm-up, and the last 20 %.
    const span = Math.max(1, Math.round((CYCLES - WARMUP) / 5));
    const inWindow = (from: number, to: number) => {
      const xs = samples.filter((x) => x.cycle >= from && x.cycle <= to);
      return xs.length > 0 ? xs : [samples.reduce((a, b) => (Math.abs(b.cycle - from) < Math.abs(a.cycle - from) ? b : a))];
    };
    const early = inWindow(WARMUP, WARMUP + span);
    const late = inWindow(CYCLES - span, CYCLES);
    const med = (xs: Sample[], f: (x: Sample) => number) => median(xs.map(f));
    const floor = (xs: Sample[], f: (x: Sample) => number) => Math.min(...xs.map(f));
    const rssOf = (x: Sample) => x.rss;
    const heapOf = (x: Sample) => x.report.heapUsedKiB;
    const first = samples[0]!;
    const last = samples[samples.length - 1]!;
    const settled = pct(med(early, rssOf), med(late, rssOf));
    const raw = pct(first.rss, last.rss);
    const window = (from: number, to: number) => `cycles ${from}–${to}`;
    rows.push(
      ['cycles (docker run -d + docker rm -f)', `${CYCLES}, ${PARALLEL} at a time, ${(total.ms / 1000).toFixed(1)} s (median cycle ${median(cycleMs).toFixed(0)} ms)`],
      ['tsnet node options', SEMI_SPACE_MIB ? `--max-semi-space-size=${SEMI_SPACE_MIB}` : "Node's defaults"],
      [`RSS, median of the ${early.length} samples in ${window(WARMUP, WARMUP + span)} (after a ${WARMUP}-cycle warm-up)`, mib(med(early, rssOf))],
      [`RSS, median of the ${late.length} samples in ${window(CYCLES - span, CYCLES)}`, mib(med(late, rssOf))],
      ['**RSS growth, settled** (those two medians; goal < 10 %)', `**${signed(settled)}**`],
      ['RSS growth, raw (one sample at start, right after the first container, vs one at the end)', `${signed(raw)} (${mib(first.rss)} → ${mib(last.rss)})`],
      ['RSS floor (lowest sample) in the two windows', `${mib(floor(early, rssOf))} → ${mib(floor(late, rssOf))}`],
      ['RSS range after the warm-up (lowest – highest sample)', `${mib(floor(samples.filter((x) => x.cycle >= WARMUP), rssOf))} – ${mib(Math.max(...samples.filter((x) => x.cycle >= WARMUP).map(rssOf)))}`],
      ['V8 heap used, median in the two windows (a leak of JS objects raises it)', `${mib(med(early, heapOf))} → ${mib(med(late, heapOf))} (${signed(pct(med(early, heapOf), med(late, heapOf)))})`],
      ['V8 heap used, floor in the two windows', `${mib(floor(early, heapOf))} → ${mib(floor(late, heapOf))}`],
      [
        'at the end: RssAnon / RssFile / RssShmem; V8 heap committed (of it young generation); external',
        `${mib(last.report.rssAnonKiB)} / ${mib(last.report.rssFileKiB)} / ${mib(last.report.rssShmemKiB)}; ${mib(last.report.heapTotalKiB)} (${mib(last.report.newSpaceKiB)}); ${mib(last.report.externalKiB)}`,
      ],
      ['tsnet CPU per cycle (user + system)', `${cpuPerCycle.toFixed(1)} ms`],
      ['RSS / heap used through the run (cycle: MiB / MiB)', samples.map((x) => `${x.cycle}: ${(x.rss / 1024).toFixed(1)}/${(x.report.heapUsedKiB / 1024).toFixed(1)}`).join(', ')],
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
      settled < 10 ? '' : 'RSS growth (settled)',
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

runBench(main);
