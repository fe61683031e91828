// Real-Docker tier for hostile load (issue 13): tsnet under a low fd limit (prlimit 512:512 on the running
// daemon) with a container publishing a TCP and a UDP port on 127.0.0.1, flooded from the host's own
// namespace (where any local user could do the same): 2,000 TCP connections held for 3 s and 4,000 UDP
// datagrams from 2,000 source ports, then again with the limit at 160 (below what the relay may hold). tsnet stays up, holds a bounded number of fds, answers
// Plugin.Activate within 1 s during the flood and serves the published port afterwards.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { RELAY_LIMITS } from '../../src/firewall/host-port';
import { dk, DockerHost, ensureBusyboxImage, eventually, IMAGE, requireDocker, run, TSNET_ENTRY } from '../lab';

const FD_LIMIT = 512;
/** Below what the relay may hold: tsnet itself runs into EMFILE. */
const LOW_FD_LIMIT = 160;
const TCP_PORT = 18090;
const UDP_PORT = 18091;
const FLOOD = { tcp: 2000, udpSockets: 2000, udpPerSocket: 2, holdMs: 3000, deadlineMs: 20_000 };

/**
 * node -e FLOOD <tcpPort> <udpPort> <tcp> <udpSockets> <udpPerSocket> <holdMs> <deadlineMs>: opens the
 * TCP connections to 127.0.0.1 and sends the datagrams, holds everything holdMs, closes it, prints
 * {"tcpOpened","tcpClosedByPeer","udpSent"} and exits; exits 3 at the deadline whatever happens.
 */
const FLOOD_SCRIPT = `
const net = require('net'), dgram = require('dgram');
const [tp, up, nt, nu, per, hold, deadline] = process.argv.slice(1).map(Number);
setTimeout(() => process.exit(3), deadline).unref();
const out = { tcpOpened: 0, tcpClosedByPeer: 0, udpSent: 0 };
const held = [];
for (let i = 0; i < nt; i++) {
  const s = net.connect(tp, '127.0.0.1');
  s.on('connect', () => out.tcpOpened++);
  s.on('error', () => {});
  s.on('end', () => out.tcpClosedByPeer++);
  held.push(s);
}
for (let i = 0; i < nu; i++) {
  const s = dgram.createSocket('udp4');
  s.on('error', () => {});
  for (let k = 0; k < per; k++) s.send('x', up, '127.0.0.1', (err) => { if (!err) out.udpSent++; });
  held.push(s);
}
setTimeout(() => {
  for (const s of held) (s.destroy ? s.destroy() : s.close());
  console.log(JSON.stringify(out));
  process.exit(0);
}, hold);
`;

/** node -e HTTP_GET <url>: prints the body; exit 1 on error, 2 after 3 s. */
const HTTP_GET =
  "const r=require('http').get(process.argv[1],{timeout:3000},res=>{let d='';res.on('data',c=>d+=c);res.on('end',()=>{process.stdout.write(d);process.exit(0)})});" +
  "r.on('timeout',()=>{r.destroy();process.exit(2)});r.on('error',()=>process.exit(1));";

function fdCount(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

describe('docker: tsnet under a flood of a published loopback port, with a low fd limit', function () {
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

  /** Runs the bounded flood against the published ports while sampling tsnet's fds and calling Plugin.Activate every 100 ms. */
  async function flood(pid: number) {
    let maxFds = fdCount(pid);
    let maxActivateMs = 0;
    const activations: number[] = [];
    let flooding = true;
    const sampler = (async () => {
      while (flooding) {
        maxFds = Math.max(maxFds, fdCount(pid));
        const t0 = Date.now();
        const r = await host().pluginCall('/Plugin.Activate', {}).catch((err: Error) => ({ status: 0, body: err.message }));
        maxActivateMs = Math.max(maxActivateMs, Date.now() - t0);
        activations.push(r.status);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    const t0 = Date.now();
    const r = await host().exec(
      [process.execPath, '-e', FLOOD_SCRIPT, String(TCP_PORT), String(UDP_PORT), ...[FLOOD.tcp, FLOOD.udpSockets, FLOOD.udpPerSocket, FLOOD.holdMs, FLOOD.deadlineMs].map(String)],
      { allowFail: true, timeoutMs: FLOOD.deadlineMs + 5000 },
    );
    const ms = Date.now() - t0;
    flooding = false;
    await sampler;
    assert.equal(r.code, 0, `the flood ended by itself: ${r.stderr}`);
    const sent = JSON.parse(r.stdout) as { tcpOpened: number; tcpClosedByPeer: number; udpSent: number };
    const summary = `flood (${ms} ms): ${sent.tcpOpened}/${FLOOD.tcp} TCP connected (${sent.tcpClosedByPeer} closed by tsnet), ${sent.udpSent} datagrams sent`;
    return { maxFds, maxActivateMs, activations, summary };
  }

  const get = async () => (await host().exec([process.execPath, '-e', HTTP_GET, `http://127.0.0.1:${TCP_PORT}/`], { allowFail: true, timeoutMs: 10_000 })).stdout;

  it(`2,000 TCP connections and 4,000 UDP datagrams to -p 127.0.0.1 ports: tsnet stays under its ${FD_LIMIT} fds, answers within 1 s, serves afterwards`, async function () {
    this.timeout(180_000);
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
    assert.ok(f.maxActivateMs < 1000, `Plugin.Activate took ${f.maxActivateMs} ms at most during the flood`);
    assert.ok(f.activations.length >= 3 && f.activations.every((s) => s === 200), `Plugin.Activate during the flood: ${f.activations.join(' ')}`);
    assert.equal((await host().pluginCall('/Plugin.Activate', {})).status, 200);
    await eventually(async () => assert.equal(await get(), 'web\n'), { timeout: 10_000, what: 'the published port answering after the flood' });
    // The TCP pairs go with their clients; UDP sessions idle out after udpIdleMs.
    await eventually(() => assert.ok(fdCount(pid) <= before + RELAY_LIMITS.udpSessions + 8, `${fdCount(pid)} fds`), { timeout: 10_000, what: 'the TCP pairs released' });
    console.log(
      `      ${f.summary}; tsnet fds ${before} before, ${f.maxFds} at most (limit ${FD_LIMIT}, bound ${bound}), ${fdCount(pid)} after; ` +
        `Plugin.Activate ${f.activations.length}x during, ${f.maxActivateMs} ms at most`,
    );
  });

  it(`the same flood with the limit lowered to ${LOW_FD_LIMIT} fds (EMFILE inside tsnet): tsnet survives, answers and serves afterwards`, async function () {
    this.timeout(180_000);
    // A fresh tsnet (its fds low-numbered: a lowered limit caps the count) under the low limit.
    await host().stopTsnet();
    await host().startTsnet();
    const pid = host().tsnetPid();
    await eventually(async () => assert.equal(await get(), 'web\n'), { timeout: 15_000, what: 'the published port held again by the new tsnet' });
    const limited = await run('prlimit', ['--pid', String(pid), `--nofile=${LOW_FD_LIMIT}:${LOW_FD_LIMIT}`]);
    assert.equal(limited.code, 0, limited.stderr);
    const before = fdCount(pid!);
    const f = await flood(pid!);
    assert.ok(fs.existsSync(`/proc/${pid}`), 'tsnet is still running');
    // New fds are numbered below the limit; any the process had above it already (inherited) come on top.
    const above = fs.readdirSync(`/proc/${pid}/fd`).filter((n) => Number(n) >= LOW_FD_LIMIT).length;
    assert.ok(f.maxFds <= LOW_FD_LIMIT + above, `${f.maxFds} fds (${above} numbered above the limit)`);
    await eventually(async () => assert.equal((await host().pluginCall('/Plugin.Activate', {})).status, 200), { timeout: 10_000, what: 'Plugin.Activate after the flood' });
    await eventually(async () => assert.equal(await get(), 'web\n'), { timeout: 15_000, what: 'the published port answering after the flood' });
    // A Docker call that changes state still works (a network created and removed).
    await dk(host(), 'network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--subnet', '10.97.0.0/24', 'fl2');
    await dk(host(), 'network', 'rm', 'fl2');
    const log = host().tsnetLog();
    assert.doesNotMatch(log, /Unhandled 'error' event|uncaughtException|FATAL ERROR/);
    const ok = f.activations.filter((s) => s === 200).length;
    console.log(
      `      ${f.summary}; tsnet fds ${before} before, ${f.maxFds} at most (limit ${LOW_FD_LIMIT}); Plugin.Activate during: ${ok}/${f.activations.length} answered 200, ` +
        `${f.maxActivateMs} ms at most; EMFILE lines in the log: ${(log.match(/EMFILE/g) ?? []).length}`,
    );
  });
});
