// Real-Docker tier for hostile load (issue 13). A container publishes a TCP and a UDP port on 127.0.0.1;
// an unprivileged local user (uid 65534, from the host's own namespace, where any local user could do the
// same) opens 2,000 TCP connections to one and sends 50,000 UDP datagrams from 50,000 sockets (distinct
// source address:port pairs on 127.0.0.1-250) to the other, everything bounded in count and time.
// Meanwhile the test calls tsnet's socket every 100 ms (Plugin.Activate, NetworkDriver.GetCapabilities,
// IpamDriver.GetDefaultAddressSpaces) and makes Docker API calls that reach tsnet (network create/rm), samples
// tsnet's fds, and reads tsnet's own metrics around the flood: the event loop's p99/max delay and the
// answer time of every call Docker made. Three runs:
//  - tsnet's fd limit lowered to 512 while it runs (prlimit): the per-port relay caps hold it;
//  - a fresh tsnet started at 160 fds: the relays' shared budget (half of the limit minus 64, 48 fds)
//    keeps the plugin socket, store and spawns their headroom: every call answers within 1 s;
//  - a spawn made to fail (the soft limit lowered to leave tsnet 2 free descriptors): CreateNetwork
//    answers {"Err"} naming EMFILE, tsnet lives on, and the same call succeeds once the limit is back.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import { RELAY_LIMITS } from '../../src/firewall/host-port';
import { RelayBudget } from '../../src/firewall/relay-budget';
import { dk, DockerHost, ensureBusyboxImage, eventually, IMAGE, requireDocker, run, TSNET_ENTRY } from '../lab';
import { parsePromText } from '../lab/prom-text';
import { unixRequest } from '../lab/unix-http';
import { httpGetScript } from '../lab/http-get';

const FD_LIMIT = 512;
/** tsnet started with this limit: its relays get RelayBudget.forSoftLimit(160) = 48 fds in all. */
const LOW_FD_LIMIT = 160;
const TCP_PORT = 18090;
const UDP_PORT = 18091;
const FLOOD = { tcp: 2000, udpRounds: 100, udpPerRound: 500, holdMs: 3000, deadlineMs: 90_000 };
const UDP_DATAGRAMS = FLOOD.udpRounds * FLOOD.udpPerRound;
/** Every call made during the flood must answer within this. */
const ANSWER_MS = 1000;
/** Event-loop delay p99 over the flood, as tsnet measures it (its watchdog warns at 500 ms). */
const EVENT_LOOP_P99_BOUND_MS = 250;
/** Docker calls (network create + rm) made during each flood, one after the other. */
const DOCKER_CALLS = 4;
const UNPRIVILEGED = 65534;

/**
 * node -e FLOOD <tcpPort> <udpPort> <tcp> <udpRounds> <udpPerRound> <holdMs> <deadlineMs>: opens the TCP
 * connections to 127.0.0.1, then per round binds udpPerRound sockets (each on its own source address
 * 127.0.0.1-250 and port), sends one datagram from each and closes them; holds the TCP connections holdMs,
 * closes them, prints {"uid","tcpOpened","tcpClosedByPeer","udpSent","udpSources"} and exits; exits 3 at
 * the deadline whatever happens.
 */
const FLOOD_SCRIPT = `
const net = require('net'), dgram = require('dgram');
const [tp, up, nt, rounds, per, hold, deadline] = process.argv.slice(1).map(Number);
setTimeout(() => process.exit(3), deadline).unref();
const out = { uid: process.getuid(), tcpOpened: 0, tcpClosedByPeer: 0, udpSent: 0, udpSources: 0 };
const sources = new Set();
const held = [];
(async () => {
  for (let i = 0; i < nt; i++) {
    const s = net.connect(tp, '127.0.0.1');
    s.on('connect', () => out.tcpOpened++);
    s.on('error', () => {});
    s.on('end', () => out.tcpClosedByPeer++);
    held.push(s);
    if (i % 100 === 99) await new Promise((r) => setTimeout(r, 5));
  }
  for (let round = 0; round < rounds; round++) {
    const socks = [];
    const sent = [];
    for (let i = 0; i < per; i++) {
      const s = dgram.createSocket('udp4');
      s.on('error', () => {});
      const addr = '127.0.0.' + (1 + ((round * per + i) % 250));
      await new Promise((r) => s.bind(0, addr, r));
      sources.add(addr + ':' + s.address().port);
      sent.push(new Promise((r) => s.send('x', up, '127.0.0.1', (err) => { if (!err) out.udpSent++; r(); })));
      socks.push(s);
    }
    await Promise.all(sent);
    for (const s of socks) s.close();
  }
  out.udpSources = sources.size;
  await new Promise((r) => setTimeout(r, hold));
  for (const s of held) s.destroy();
  console.log(JSON.stringify(out));
  process.exit(0);
})();
`;

/** node -e HTTP_GET <url>: prints the body; exit 1 on error, 2 after 3 s. */
const HTTP_GET = httpGetScript(3000);

/** One Docker API call on dockerd's socket (JSON body); resolves with the HTTP status, 0 on a transport error or after 10 s. */
function dockerApi(socketPath: string, method: string, urlPath: string, body?: unknown): Promise<number> {
  return new Promise((resolve) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      { socketPath, method, path: urlPath, timeout: 10_000, agent: false, headers: payload === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', () => resolve(0));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(0));
    req.end(payload);
  });
}

const PLUGIN_CALLS = ['/Plugin.Activate', '/NetworkDriver.GetCapabilities', '/IpamDriver.GetDefaultAddressSpaces'];

function fdCount(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

interface Call {
  what: string;
  status: number;
  ms: number;
}

/** tsnet's metrics: the event loop's delay since the last scrape (prom-client resets it), and the calls answered so far by duration. */
interface Scrape {
  eventLoopP99Ms: number;
  eventLoopMaxMs: number;
  /** call → [answered within 1 s, all]. */
  calls: Map<string, [number, number]>;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : 0;
};

describe('docker: tsnet under a flood of published loopback ports by an unprivileged user, with a low fd limit', function () {
  let h: DockerHost | undefined;
  const host = () => h!;

  before(async function () {
    await requireDocker(this);
    h = await DockerHost.start({ name: 'flood', tsnet: { entry: TSNET_ENTRY, env: { TSNET_LOG_LEVEL: 'info' } } });
    await ensureBusyboxImage(h, IMAGE);
    await h.startTsnet();
  });

  after(async function () {
    if (h && this.currentTest?.state === 'failed') console.error(`--- tsnet log (tail) ---\n${h.tsnetLog().slice(-6000)}`);
    await h?.stop();
  });

  async function scrape(): Promise<Scrape> {
    const r = await unixRequest(host().pluginSocketPath(), 'GET', '/metrics', undefined, 10_000);
    assert.equal(r.status, 200, r.body);
    const families = parsePromText(r.body);
    const value = (name: string) => families.get(name)?.samples[0]?.value ?? NaN;
    const calls = new Map<string, [number, number]>();
    for (const s of families.get('tsnet_call_duration_seconds')?.samples ?? []) {
      if (s.name !== 'tsnet_call_duration_seconds_bucket') continue;
      const c = calls.get(s.labels.call!) ?? [0, 0];
      if (s.labels.le === '1') c[0] = s.value;
      if (s.labels.le === '+Inf') c[1] = s.value;
      calls.set(s.labels.call!, c);
    }
    return { eventLoopP99Ms: value('nodejs_eventloop_lag_p99_seconds') * 1000, eventLoopMaxMs: value('nodejs_eventloop_lag_max_seconds') * 1000, calls };
  }

  /**
   * Runs the bounded flood as uid 65534 against the published ports while sampling tsnet's fds, calling
   * its socket every 100 ms and making DOCKER_CALLS Docker calls; reads tsnet's metrics before and after.
   */
  async function flood(pid: number) {
    let maxFds = fdCount(pid);
    const calls: Call[] = [];
    const dockerCalls: Call[] = [];
    let flooding = true;
    const timed = async (what: string, call: () => Promise<number>, into: Call[]) => {
      const t0 = Date.now();
      const status = await call().catch(() => 0);
      into.push({ what, status, ms: Date.now() - t0 });
    };
    const before = await scrape(); // also starts tsnet's event-loop window afresh
    const sampler = (async () => {
      for (let i = 0; flooding; i++) {
        maxFds = Math.max(maxFds, fdCount(pid));
        const path = PLUGIN_CALLS[i % PLUGIN_CALLS.length]!;
        await timed(path, async () => (await host().pluginCall(path, {})).status, calls);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    // Docker calls that reach tsnet (IPAM and driver), on dockerd's API directly: the time is Docker's and tsnet's, not the CLI's start.
    const docker = (async () => {
      for (let i = 0; i < DOCKER_CALLS && flooding; i++) {
        const name = `fl-during-${i}`;
        const create = { Name: name, Driver: 'tsnet', IPAM: { Driver: 'tsnet', Config: [{ Subnet: `10.96.${i}.0/24` }] } };
        await timed('network create', () => dockerApi(host().socket, 'POST', '/networks/create', create), dockerCalls);
        await timed('network rm', () => dockerApi(host().socket, 'DELETE', `/networks/${name}`), dockerCalls);
      }
    })();
    const t0 = Date.now();
    const args = [TCP_PORT, UDP_PORT, FLOOD.tcp, FLOOD.udpRounds, FLOOD.udpPerRound, FLOOD.holdMs, FLOOD.deadlineMs].map(String);
    const r = await host().exec(
      ['prlimit', '--nofile=8192:8192', 'setpriv', `--reuid=${UNPRIVILEGED}`, `--regid=${UNPRIVILEGED}`, '--clear-groups', process.execPath, '-e', FLOOD_SCRIPT, ...args],
      { allowFail: true, timeoutMs: FLOOD.deadlineMs + 5000 },
    );
    const ms = Date.now() - t0;
    flooding = false;
    await sampler;
    await docker;
    const after = await scrape();
    assert.equal(r.code, 0, `the flood ended by itself: ${r.stderr}`);
    const sent = JSON.parse(r.stdout) as { uid: number; tcpOpened: number; tcpClosedByPeer: number; udpSent: number; udpSources: number };
    assert.equal(sent.uid, UNPRIVILEGED, 'the flood ran unprivileged');
    assert.equal(sent.udpSent, UDP_DATAGRAMS, 'every datagram was sent');
    assert.ok(sent.udpSources >= UDP_DATAGRAMS * 0.9, `${sent.udpSources} distinct source address:port pairs`);
    // What tsnet answered meanwhile, by its own clock: calls per name, and how many within 1 s.
    const tsnetCalls = [...after.calls].map(([call, [fast, all]]) => {
      const [fast0, all0] = before.calls.get(call) ?? [0, 0];
      return { call, fast: fast - fast0, all: all - all0 };
    }).filter((c) => c.all > 0 && c.call !== '/metrics');
    const ms2 = calls.map((c) => c.ms);
    const summary =
      `flood as uid ${sent.uid} (${ms} ms): ${sent.tcpOpened}/${FLOOD.tcp} TCP connected (${sent.tcpClosedByPeer} closed by tsnet), ` +
      `${sent.udpSent} datagrams from ${sent.udpSources} source address:port pairs; ` +
      `tsnet event loop p99 ${after.eventLoopP99Ms.toFixed(1)} ms, max ${after.eventLoopMaxMs.toFixed(1)} ms; ` +
      `plugin calls ${calls.length}x, p50 ${pct(ms2, 50)} ms, p99 ${pct(ms2, 99)} ms, max ${Math.max(0, ...ms2)} ms; ` +
      `Docker API calls ${dockerCalls.map((c) => `${c.what.replace('network ', '')} ${c.ms} ms`).join(', ')}; ` +
      `tsnet answered ${tsnetCalls.map((c) => `${c.call} ${c.fast}/${c.all}`).join(', ')} within 1 s`;
    return { maxFds, calls, dockerCalls, tsnetCalls, eventLoop: after, summary };
  }

  /** Everything made during the flood answered, within ANSWER_MS: our calls on tsnet's socket, and Docker's as tsnet timed them. */
  function assertAnswered(f: Awaited<ReturnType<typeof flood>>) {
    assert.ok(f.calls.length >= 3, `only ${f.calls.length} plugin calls during the flood`);
    const bad = f.calls.filter((c) => c.status !== 200 || c.ms >= ANSWER_MS);
    assert.deepEqual(bad, [], `plugin calls during the flood not answered 200 within ${ANSWER_MS} ms`);
    assert.ok(f.dockerCalls.length >= 2, 'Docker calls were made during the flood');
    const ok = (c: Call) => (c.what === 'network create' ? c.status === 201 : c.status === 204);
    assert.deepEqual(f.dockerCalls.filter((c) => !ok(c) || c.ms >= ANSWER_MS), [], `every Docker call succeeded within ${ANSWER_MS} ms`);
    assert.ok(f.tsnetCalls.some((c) => c.call === '/NetworkDriver.CreateNetwork'), `Docker reached tsnet: ${JSON.stringify(f.tsnetCalls)}`);
    assert.deepEqual(f.tsnetCalls.filter((c) => c.fast !== c.all), [], `calls tsnet answered after more than 1 s`);
    assert.ok(f.eventLoop.eventLoopP99Ms < EVENT_LOOP_P99_BOUND_MS, `event loop p99 ${f.eventLoop.eventLoopP99Ms} ms under the flood`);
  }

  const get = async () => (await host().exec([process.execPath, '-e', HTTP_GET, `http://127.0.0.1:${TCP_PORT}/`], { allowFail: true, timeoutMs: 10_000 })).stdout;

  it(`2,000 TCP connections and 50,000 UDP datagrams to -p 127.0.0.1 ports: tsnet stays under its ${FD_LIMIT} fds, answers within 1 s, serves afterwards`, async function () {
    this.timeout(240_000);
    const pid = host().tsnetPid()!;
    assert.equal(fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim(), 'node', 'the pid is tsnet itself (nsenter execs it)');
    const limited = await run('prlimit', ['--pid', String(pid), `--nofile=${FD_LIMIT}:${FD_LIMIT}`]);
    assert.equal(limited.code, 0, limited.stderr);
    await dk(host(), 'network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--subnet', '10.98.0.0/24', 'fl');
    await dk(host(), 'run', '-d', '--name', 'web', '--network', 'fl', '-p', `127.0.0.1:${TCP_PORT}:80`, '-p', `127.0.0.1:${UDP_PORT}:9/udp`, IMAGE, 'sh', '-c',
      'mkdir -p /www && echo web > /www/index.html && exec httpd -f -p 80 -h /www');
    await eventually(async () => assert.equal(await get(), 'web\n'), { timeout: 15_000, what: 'the published port answering through the loopback relay' });
    const before = fdCount(pid);
    // The relay holds at most tcpConnections pairs (client + upstream) and udpSessions upstream sockets
    // per port; the rest of the daemon keeps what it had, plus slack for the calls made meanwhile.
    const bound = before + 2 * RELAY_LIMITS.tcpConnections + RELAY_LIMITS.udpSessions + 32;
    assert.ok(bound < FD_LIMIT, `the bound ${bound} is under the limit ${FD_LIMIT}`);

    const f = await flood(pid);
    assert.ok(fs.existsSync(`/proc/${pid}`), 'tsnet is still running');
    assert.ok(f.maxFds <= bound, `tsnet held ${f.maxFds} fds at most (bound ${bound})`);
    const activations = f.calls.filter((c) => c.what === '/Plugin.Activate');
    assert.ok(Math.max(...activations.map((c) => c.ms)) < 1000, `Plugin.Activate took ${Math.max(...activations.map((c) => c.ms))} ms at most during the flood`);
    assert.ok(activations.length >= 3 && activations.every((c) => c.status === 200), `Plugin.Activate during the flood: ${activations.map((c) => c.status).join(' ')}`);
    assertAnswered(f);
    assert.equal((await host().pluginCall('/Plugin.Activate', {})).status, 200);
    await eventually(async () => assert.equal(await get(), 'web\n'), { timeout: 10_000, what: 'the published port answering after the flood' });
    // The TCP pairs go with their clients; UDP sessions idle out after udpIdleMs.
    await eventually(() => assert.ok(fdCount(pid) <= before + RELAY_LIMITS.udpSessions + 8, `${fdCount(pid)} fds`), { timeout: 10_000, what: 'the TCP pairs released' });
    console.log(`      ${f.summary}; tsnet fds ${before} before, ${f.maxFds} at most (limit ${FD_LIMIT}, bound ${bound}), ${fdCount(pid)} after`);
  });

  it(`the same flood on a tsnet started with ${LOW_FD_LIMIT} fds: the relays keep to their shared budget and every call made meanwhile answers within 1 s`, async function () {
    this.timeout(240_000);
    // A fresh tsnet under the low limit: the relays' budget is computed from it at start.
    await host().stopTsnet();
    await host().startTsnet({}, { fdLimit: LOW_FD_LIMIT });
    const pid = host().tsnetPid()!;
    const budget = RelayBudget.forSoftLimit(LOW_FD_LIMIT).limit;
    const budgetLogged = host().tsnetLog().split('\n').filter((l) => l.includes('"loopback relay descriptor budget"'));
    assert.ok(budgetLogged.some((l) => l.includes(`"budget":${budget}`) && l.includes(`"fdSoftLimit":${LOW_FD_LIMIT}`)), `tsnet logged its budget: ${budgetLogged.join('\n')}`);
    await eventually(async () => assert.equal(await get(), 'web\n'), { timeout: 15_000, what: 'the published port held again by the new tsnet' });
    const before = fdCount(pid);
    // The relays' budget on top of what tsnet held, plus slack for the calls and spawns made meanwhile.
    const bound = before + budget + 24;
    assert.ok(bound < LOW_FD_LIMIT, `the bound ${bound} is under the limit ${LOW_FD_LIMIT}`);
    const f = await flood(pid);
    assert.ok(fs.existsSync(`/proc/${pid}`), 'tsnet is still running');
    // New fds are numbered below the limit; any the process had above it already (inherited) come on top.
    const above = fs.readdirSync(`/proc/${pid}/fd`).filter((n) => Number(n) >= LOW_FD_LIMIT).length;
    assert.ok(f.maxFds <= LOW_FD_LIMIT + above, `${f.maxFds} fds (${above} numbered above the limit)`);
    assert.ok(f.maxFds <= bound, `tsnet held ${f.maxFds} fds at most (bound ${bound})`);
    assertAnswered(f);
    await eventually(async () => assert.equal((await host().pluginCall('/Plugin.Activate', {})).status, 200), { timeout: 10_000, what: 'Plugin.Activate after the flood' });
    await eventually(async () => assert.equal(await get(), 'web\n'), { timeout: 15_000, what: 'the published port answering after the flood' });
    // A Docker call that changes state still works (a network created and removed).
    await dk(host(), 'network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--subnet', '10.97.0.0/24', 'fl2');
    await dk(host(), 'network', 'rm', 'fl2');
    // The watchdog's report (SIGUSR2) shows the relays against their budget.
    process.kill(pid, 'SIGUSR2');
    const report = await eventually(() => {
      const line = host().tsnetLog().split('\n').find((l) => l.includes('"memory report"') && l.includes('"relayFdBudget"'));
      assert.ok(line, 'the memory report');
      return JSON.parse(line) as { relayFdsInUse: number; relayFdBudget: number; openFds: number; fdSoftLimit: number };
    }, { timeout: 10_000, what: 'the SIGUSR2 report' });
    assert.equal(report.relayFdBudget, budget);
    assert.equal(report.fdSoftLimit, LOW_FD_LIMIT);
    assert.ok(report.relayFdsInUse >= 0 && report.relayFdsInUse <= budget, `relays hold ${report.relayFdsInUse}`);
    const log = host().tsnetLog();
    assert.doesNotMatch(log, /Unhandled 'error' event|uncaughtException|FATAL ERROR/);
    const budgetLines = log.split('\n').filter((l) => l.includes('descriptor budget reached'));
    assert.ok(budgetLines.length >= 1 && budgetLines.length <= 2, `the budget hit logged once a minute: ${budgetLines.length} lines`);
    console.log(
      `      ${f.summary}; tsnet fds ${before} before, ${f.maxFds} at most (limit ${LOW_FD_LIMIT}, relay budget ${budget}, bound ${bound}); ` +
        `SIGUSR2 report: relays ${report.relayFdsInUse}/${report.relayFdBudget} fds, ${report.openFds} open of ${report.fdSoftLimit}; ` +
        `EMFILE lines in the log: ${(log.match(/EMFILE/g) ?? []).length}; budget line: ${budgetLines[0]?.slice(0, 300)}`,
    );
  });

  it('a spawn that fails for lack of descriptors answers {"Err"} and tsnet lives on', async function () {
    this.timeout(120_000);
    const pid = host().tsnetPid()!;
    const limits = (await run('prlimit', ['--pid', String(pid), '--nofile', '--raw', '--noheadings', '--output=SOFT,HARD'])).stdout.trim().split(/\s+/);
    const body = {
      NetworkID: 'e'.repeat(64),
      Options: { 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': {} },
      IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: '10.95.0.0/24', Gateway: '10.95.0.1/24', AuxAddresses: {} }],
      IPv6Data: [],
    };
    /** The soft limit that leaves tsnet exactly `free` unused descriptor numbers (new fds take the lowest free number). */
    const leaving = (free: number) => {
      const used = new Set(fs.readdirSync(`/proc/${pid}/fd`).map(Number));
      for (let n = 0, seen = 0; ; n++) if (!used.has(n) && ++seen === free) return n + 1;
    };
    let answer: { status: number; body: string } | undefined;
    try {
      // The accepted connection takes one descriptor; the spawn's pipes cannot get theirs. A background
      // task holding a descriptor at that moment can make the accept itself fail: try a few times.
      for (let attempt = 0; attempt < 5 && answer?.status !== 500; attempt++) {
        const limited = await run('prlimit', ['--pid', String(pid), `--nofile=${leaving(2)}:${limits[1]}`]);
        assert.equal(limited.code, 0, limited.stderr);
        answer = await host().pluginCall('/NetworkDriver.CreateNetwork', body).catch((e: Error) => ({ status: 0, body: e.message }));
      }
    } finally {
      await run('prlimit', ['--pid', String(pid), `--nofile=${limits[0]}:${limits[1]}`]);
    }
    assert.ok(fs.existsSync(`/proc/${pid}`), 'tsnet is still running');
    assert.equal(answer?.status, 500, `CreateNetwork with no descriptors left: ${JSON.stringify(answer)}`);
    const err = (JSON.parse(answer!.body) as { Err?: string }).Err;
    assert.match(err ?? '', /EMFILE/, `the answer names the failure: ${answer!.body}`);
    assert.equal((await host().pluginCall('/Plugin.Activate', {})).status, 200);
    // The call failed whole: the same create now succeeds, and the network goes again.
    const again = await host().pluginCall('/NetworkDriver.CreateNetwork', body);
    assert.equal(again.status, 200, again.body);
    assert.equal((await host().pluginCall('/NetworkDriver.DeleteNetwork', { NetworkID: body.NetworkID })).status, 200);
    assert.doesNotMatch(host().tsnetLog(), /Unhandled 'error' event|uncaughtException|FATAL ERROR/);
    console.log(`      spawn under the lowered limit: HTTP ${answer!.status} ${answer!.body.slice(0, 200)}`);
  });
});
