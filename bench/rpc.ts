/**
 * bench/rpc: requests/s and p50/p99 latency of tsnet's RPC surface over its unix socket, next to a
 * bare node:http server answering the same JSON on a unix socket in the same run, plus the time and
 * resident memory to allocate every address of a /16 over the socket. Client and servers are pinned to
 * different CPUs (taskset) and the cases are interleaved; medians over the rounds are reported. tsnet
 * runs as systemd/tsnet.service and the managed plugin start it (--max-semi-space-size=1; BENCH_SEMI=0:
 * Node's defaults). Also: tsnet's idle RSS (RssAnon, RssFile) 2 s after it listens, and what each
 * runtime dependency costs a fresh node at start. Ends with one table of the issue-15 goals.
 *
 *   make build && unshare --net -- node dist/bench/rpc.js [rounds=5] [requests=4000]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

const ROUNDS = Number(process.argv[2] ?? 5);
const REQUESTS = Number(process.argv[3] ?? 4000);
const CONCURRENCY = 8;
const SEMI_SPACE_MIB = Number(process.env.BENCH_SEMI ?? 1);
const LOAD_AT_START = fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const ROOT = path.resolve(__dirname, '..', '..');

interface Sample {
  rps: number;
  p50: number;
  p99: number;
}

const agentFor = new Map<string, http.Agent>();
function post(socketPath: string, endpoint: string, body?: unknown): Promise<{ status: number; json: any }> {
  let agent = agentFor.get(socketPath);
  if (!agent) agentFor.set(socketPath, (agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY })));
  const data = body === undefined ? '' : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { socketPath, path: `/${endpoint}`, method: 'POST', agent, headers: { 'Content-Length': Buffer.byteLength(data), Accept: 'application/vnd.docker.plugins.v1.2+json' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString() || '{}') }));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

/** Runs `count` operations with CONCURRENCY in flight; one operation may be several calls. */
async function measure(count: number, op: () => Promise<void>): Promise<Sample> {
  const latencies: number[] = [];
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < count) {
        const t0 = process.hrtime.bigint();
        await op();
        latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  latencies.sort((a, b) => a - b);
  return { rps: count / seconds, p50: latencies[Math.floor(latencies.length * 0.5)]!, p99: latencies[Math.floor(latencies.length * 0.99)]! };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function waitForSocket(socketPath: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await post(socketPath, 'Plugin.Activate')).status === 200) return;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no answer on ${socketPath}`);
}

function startPinned(cpu: number, args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  return spawn('taskset', ['-c', String(cpu), process.execPath, ...args], { env, stdio: ['ignore', 'ignore', 'inherit'] });
}

function statusKiB(pid: number | 'self', field: 'VmRSS' | 'RssAnon' | 'RssFile'): number {
  const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${field}:`))!;
  return Number(line.split(/\s+/)[1]);
}
const rssKiB = (pid: number) => statusKiB(pid, 'VmRSS');
const mib = (kib: number) => (kib / 1024).toFixed(1);

/** RSS of a fresh node that has required `module` (none: node alone), 300 ms after, in KiB. */
function startCost(module: string | undefined): Promise<{ rss: number; anon: number; file: number }> {
  const script = `${module ? `require(${JSON.stringify(module)});` : ''}setTimeout(() => { const s = require('fs').readFileSync('/proc/self/status', 'utf8'); ` +
    `const g = (k) => Number(s.match(new RegExp(k + ':\\\\s+(\\\\d+)'))[1]); console.log(JSON.stringify({ rss: g('VmRSS'), anon: g('RssAnon'), file: g('RssFile') })); }, 300);`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--max-semi-space-size=1', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (c) => (out += c));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`node -e require(${module}) exited ${code}`))));
  });
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-bench-'));
  const tsnetSock = path.join(dir, 'tsnet.sock');
  const bareSock = path.join(dir, 'bare.sock');
  const cpus = os.cpus().length;
  const serverCpu = cpus > 1 ? 1 : 0;
  const children: ChildProcess[] = [];
  try {
    const nodeFlags = SEMI_SPACE_MIB > 0 ? [`--max-semi-space-size=${SEMI_SPACE_MIB}`] : [];
    const tsnet = startPinned(serverCpu, [...nodeFlags, path.join(ROOT, 'dist/src/main.js')], {
      ...process.env,
      TSNET_SOCKET: tsnetSock,
      TSNET_STATE_DIR: path.join(dir, 'state'),
      TSNET_LOG_LEVEL: 'warn',
      TSNET_INSTANCE: 'tsbench',
    });
    const bare = startPinned(serverCpu, [path.join(ROOT, 'dist/bench/bare-server.js'), bareSock], process.env);
    children.push(tsnet, bare);
    await Promise.all([waitForSocket(tsnetSock), waitForSocket(bareSock)]);
    // Idle: listening, Docker's first call (Plugin.Activate) answered, nothing else for 2 s.
    await new Promise((r) => setTimeout(r, 2000));
    const idle = { rss: rssKiB(tsnet.pid!), anon: statusKiB(tsnet.pid!, 'RssAnon'), file: statusKiB(tsnet.pid!, 'RssFile') };

    const pool = await post(tsnetSock, 'IpamDriver.RequestPool', { AddressSpace: 'tsnet-local', Pool: '10.250.0.0/16', SubPool: '', Options: {}, V6: false });
    const poolId: string = pool.json.PoolID;
    const addressCycle = (sock: string) => async () => {
      const got = await post(sock, 'IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: null });
      await post(sock, 'IpamDriver.ReleaseAddress', { PoolID: poolId, Address: String(got.json.Address).split('/')[0] });
    };
    const capabilities = (sock: string) => async () => void (await post(sock, 'NetworkDriver.GetCapabilities'));

    const results: Record<string, Sample[]> = {};
    const push = (name: string, s: Sample) => (results[name] ??= []).push(s);
    process.env.TSNET_BENCH_QUIET || console.error(`rounds=${ROUNDS} requests=${REQUESTS} concurrency=${CONCURRENCY} server cpu=${serverCpu}`);
    for (let round = 0; round < ROUNDS; round++) {
      push('GetCapabilities tsnet', await measure(REQUESTS, capabilities(tsnetSock)));
      push('GetCapabilities bare', await measure(REQUESTS, capabilities(bareSock)));
      push('RequestAddress+ReleaseAddress tsnet', await measure(REQUESTS / 2, addressCycle(tsnetSock)));
      push('RequestAddress+ReleaseAddress bare', await measure(REQUESTS / 2, addressCycle(bareSock)));
    }
    console.log(`load average at start: ${LOAD_AT_START}`);
    console.log('| case | req/s (ops/s) | p50 ms | p99 ms | tsnet/bare throughput |');
    console.log('|---|---|---|---|---|');
    for (const name of Object.keys(results)) {
      const s = results[name]!;
      const rps = median(s.map((x) => x.rps));
      const bareName = name.replace(' tsnet', ' bare');
      const ratio = name.endsWith('tsnet') ? (rps / median(results[bareName]!.map((x) => x.rps))).toFixed(2) : '';
      console.log(`| ${name} | ${rps.toFixed(0)} | ${median(s.map((x) => x.p50)).toFixed(3)} | ${median(s.map((x) => x.p99)).toFixed(3)} | ${ratio} |`);
    }

    // Every address of a /16 (65534 usable minus the gateway we do not request): time and RSS.
    const big = await post(tsnetSock, 'IpamDriver.RequestPool', { AddressSpace: 'tsnet-local', Pool: '10.251.0.0/16', SubPool: '', Options: {}, V6: false });
    const rssBefore = rssKiB(tsnet.pid!);
    const t0 = process.hrtime.bigint();
    let allocated = 0;
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next++ < 65534) {
          const r = await post(tsnetSock, 'IpamDriver.RequestAddress', { PoolID: big.json.PoolID, Address: '', Options: null });
          if (r.status === 200) allocated++;
        }
      }),
    );
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const exhausted = await post(tsnetSock, 'IpamDriver.RequestAddress', { PoolID: big.json.PoolID, Address: '', Options: null });
    console.log(`\n/16 fill over the socket (8 in flight): ${allocated} addresses in ${seconds.toFixed(2)} s (${(allocated / seconds).toFixed(0)}/s); ` +
      `RSS ${(rssBefore / 1024).toFixed(1)} -> ${(rssKiB(tsnet.pid!) / 1024).toFixed(1)} MiB; next request: ${exhausted.status} ${JSON.stringify(exhausted.json)}`);

    // What each runtime dependency costs a fresh node at start (the daemon pays them all unless lazy).
    const alone = await startCost(undefined);
    console.log(`\nstart cost of each runtime dependency (fresh node --max-semi-space-size=1, RSS 300 ms after require, minus node alone: RSS ${mib(alone.rss)}, RssAnon ${mib(alone.anon)}, RssFile ${mib(alone.file)} MiB)`);
    console.log('| module | +RSS MiB | +RssAnon | +RssFile |');
    console.log('|---|---|---|---|');
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    for (const dep of Object.keys(pkg.dependencies)) {
      const c = await startCost(dep);
      console.log(`| ${dep} | ${mib(c.rss - alone.rss)} | ${mib(c.anon - alone.anon)} | ${mib(c.file - alone.file)} |`);
    }

    const med = (name: string, key: keyof Sample) => median(results[name]!.map((x) => x[key]));
    const capsRatio = med('GetCapabilities tsnet', 'rps') / med('GetCapabilities bare', 'rps');
    const capsP99 = med('GetCapabilities tsnet', 'p99');
    const pairP50 = med('RequestAddress+ReleaseAddress tsnet', 'p50');
    const pairP99 = med('RequestAddress+ReleaseAddress tsnet', 'p99');
    const pairRatio = med('RequestAddress+ReleaseAddress tsnet', 'rps') / med('RequestAddress+ReleaseAddress bare', 'rps');
    const met = (ok: boolean) => (ok ? 'met' : 'not met');
    const command = `unshare --net -- node dist/bench/rpc.js ${ROUNDS} ${REQUESTS}${SEMI_SPACE_MIB === 1 ? '' : ` (BENCH_SEMI=${SEMI_SPACE_MIB})`}`;
    console.log(`\nissue 15 goals (load average at start: ${LOAD_AT_START}; tsnet node flags: ${nodeFlags.join(' ') || "Node's defaults"}; engine: none, the plugin socket alone)`);
    console.log('| measure | tsnet | reference | ratio | goal | met | engine | load at start | command |');
    console.log('|---|---|---|---|---|---|---|---|---|');
    console.log(`| GetCapabilities, c=8: req/s | ${med('GetCapabilities tsnet', 'rps').toFixed(0)} | bare node:http ${med('GetCapabilities bare', 'rps').toFixed(0)} | ${capsRatio.toFixed(2)} | ≥ 0.6 | ${met(capsRatio >= 0.6)} | — | ${LOAD_AT_START} | \`${command}\` |`);
    console.log(`| GetCapabilities, c=8: p99 | ${capsP99.toFixed(2)} ms | bare ${med('GetCapabilities bare', 'p99').toFixed(2)} ms | ${(capsP99 / med('GetCapabilities bare', 'p99')).toFixed(2)}× | < 3 ms | ${met(capsP99 < 3)} | — | ${LOAD_AT_START} | \`${command}\` |`);
    console.log(`| RequestAddress+ReleaseAddress, 8 pairs in flight, durable: p50 / p99 | ${pairP50.toFixed(2)} / ${pairP99.toFixed(2)} ms (${med('RequestAddress+ReleaseAddress tsnet', 'rps').toFixed(0)} pairs/s) | bare ${med('RequestAddress+ReleaseAddress bare', 'p50').toFixed(2)} / ${med('RequestAddress+ReleaseAddress bare', 'p99').toFixed(2)} ms (${med('RequestAddress+ReleaseAddress bare', 'rps').toFixed(0)}/s, no store) | ${pairRatio.toFixed(2)} | p50 < 1 ms, p99 < 5 ms | ${met(pairP50 < 1 && pairP99 < 5)} | — | ${LOAD_AT_START} | \`${command}\` |`);
    console.log(`| idle RSS (2 s after listening) | ${mib(idle.rss)} MiB (RssAnon ${mib(idle.anon)}, RssFile ${mib(idle.file)}) | node alone ${mib(alone.rss)} MiB | — | < 60 MiB | ${met(idle.rss < 60 * 1024)} | — | ${LOAD_AT_START} | \`${command}\` |`);
    console.log('\n(the /16 fill in-process, the IPAM alone: `node --expose-gc dist/bench/ipam.js`)');
  } finally {
    for (const a of agentFor.values()) a.destroy();
    for (const c of children) c.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
