/**
 * The loopback relay of a held published port (firewall/host-port.ts) under a local flood: the
 * descriptors it holds stay bounded per port, and the limit is logged once, not per packet.
 * Loopback only; the flood comes from a child process (as uid 65534 when run as root).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { holdPort, RELAY_LIMITS, type HeldPort } from '../../../src/firewall/host-port';
import { RelayBudget } from '../../../src/firewall/relay-budget';
import type { Logger } from '../../../src/log';
import { eventually } from '../../lab';

function openFds(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/** A logger that keeps its warnings. */
function warnings(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const log = { warn: (m: string) => lines.push(m), info: () => undefined, debug: () => undefined, error: () => undefined } as unknown as Logger;
  return { log, lines };
}

/** Runs `script` in a child node process, unprivileged when we are root; resolves with its stdout. */
function runFlood(script: string, timeoutMs: number): Promise<string> {
  const asRoot = process.getuid?.() === 0;
  const cmd = asRoot ? 'setpriv' : 'prlimit';
  const args = asRoot
    ? ['--reuid=65534', '--regid=65534', '--clear-groups', 'prlimit', '--nofile=8192:8192', process.execPath, '-e', script]
    : ['--nofile=8192', process.execPath, '-e', script];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b) => (out += b));
    child.stderr.on('data', (b) => (err += b));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`flood exited ${code}: ${err}`));
    });
  });
}

/** Samples the fd count and the event loop's lag every 5 ms until `done` settles. */
async function sampleWhile<T>(done: Promise<T>): Promise<{ result: T; maxFds: number; maxLagMs: number }> {
  let maxFds = openFds();
  let maxLagMs = 0;
  let running = true;
  const sampler = (async () => {
    while (running) {
      const t = Date.now();
      await new Promise((r) => setTimeout(r, 5));
      maxLagMs = Math.max(maxLagMs, Date.now() - t - 5);
      maxFds = Math.max(maxFds, openFds());
    }
  })();
  try {
    return { result: await done, maxFds, maxLagMs };
  } finally {
    running = false;
    await sampler;
  }
}

describe('loopback relay limits', () => {
  let held: HeldPort | undefined;
  afterEach(async () => {
    await held?.release();
    held = undefined;
  });

  it('50,000 UDP datagrams from distinct sources hold at most udpSessions sockets, logged once', async function () {
    this.timeout(60_000);
    const echo = dgram.createSocket('udp4');
    await new Promise<void>((r) => echo.bind(0, '127.0.0.1', r));
    echo.on('message', (m, from) => echo.send(m, from.port, from.address));
    const { log, lines } = warnings();
    try {
      held = await holdPort(4, 'udp', '127.0.0.1', 0, { address: '127.0.0.1', port: echo.address().port }, log);
      const before = openFds();
      // 100 rounds of 500 sockets, each bound to its own source port on one of 127.0.0.1-127.0.0.250.
      const flood = `
        const dgram = require('node:dgram');
        (async () => {
          let sent = 0;
          for (let round = 0; round < 100; round++) {
            const socks = [];
            for (let i = 0; i < 500; i++) {
              const s = dgram.createSocket('udp4');
              await new Promise((r) => s.bind(0, '127.0.0.' + (1 + ((round * 500 + i) % 250)), r));
              s.send('x', ${held.port}, '127.0.0.1', () => undefined);
              socks.push(s);
              sent++;
            }
            await new Promise((r) => setTimeout(r, 5));
            for (const s of socks) s.close();
          }
          console.log(sent);
        })();`;
      const { result, maxFds, maxLagMs } = await sampleWhile(runFlood(flood, 50_000));
      assert.equal(Number(result.trim()), 50_000);
      assert.ok(maxFds - before <= RELAY_LIMITS.udpSessions + 8, `relay held ${maxFds - before} descriptors (limit ${RELAY_LIMITS.udpSessions})`);
      assert.ok(maxLagMs < 1000, `event loop lag ${maxLagMs} ms`);
      // A client after the flood is still served.
      const client = dgram.createSocket('udp4');
      const answer = await new Promise<string>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no answer within 1 s')), 1000);
        client.on('message', (m) => (clearTimeout(t), resolve(String(m))));
        client.send('ping', held!.port, '127.0.0.1');
      });
      client.close();
      assert.equal(answer, 'ping');
      const limitLines = lines.filter((l) => /session limit reached/.test(l));
      assert.equal(limitLines.length, 1, `limit logged ${limitLines.length} times`);
    } finally {
      echo.close();
    }
  });

  it('2,000 TCP connections hold at most tcpConnections proxied connections; the rest are closed', async function () {
    this.timeout(60_000);
    const upstream = net.createServer((s) => s.on('error', () => undefined));
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const { log, lines } = warnings();
    try {
      held = await holdPort(4, 'tcp', '127.0.0.1', 0, { address: '127.0.0.1', port: (upstream.address() as net.AddressInfo).port }, log);
      const before = openFds();
      // Opens 2,000 connections and keeps them until all have been made, then counts the ones the relay closed.
      const flood = `
        const net = require('node:net');
        (async () => {
          const socks = [];
          let closed = 0;
          for (let i = 0; i < 2000; i++) {
            const s = net.connect(${held.port}, '127.0.0.1');
            s.on('error', () => undefined);
            s.on('close', () => closed++);
            socks.push(s);
            if (i % 100 === 99) await new Promise((r) => setTimeout(r, 10));
          }
          await new Promise((r) => setTimeout(r, 500));
          console.log(closed);
          for (const s of socks) s.destroy();
        })();`;
      const { result, maxFds, maxLagMs } = await sampleWhile(runFlood(flood, 50_000));
      const closedByRelay = Number(result.trim());
      assert.ok(closedByRelay >= 2000 - RELAY_LIMITS.tcpConnections, `only ${closedByRelay} of 2,000 connections were refused`);
      // Each proxied connection: the relay's two sockets plus the one this process's upstream server accepted.
      const bound = 3 * RELAY_LIMITS.tcpConnections + 8;
      assert.ok(maxFds - before <= bound, `${maxFds - before} descriptors open (bound ${bound})`);
      assert.ok(maxLagMs < 1000, `event loop lag ${maxLagMs} ms`);
      assert.equal(lines.filter((l) => /connection limit reached/.test(l)).length, 1);
    } finally {
      await new Promise<void>((r) => upstream.close(() => r()));
    }
  });

  it('all ports share one descriptor budget: TCP pairs and UDP sessions together never exceed it', async function () {
    this.timeout(30_000);
    const echo = dgram.createSocket('udp4');
    await new Promise<void>((r) => echo.bind(0, '127.0.0.1', r));
    echo.on('message', (m, from) => echo.send(m, from.port, from.address));
    const upstream = net.createServer((s) => {
      s.on('error', () => undefined);
      s.pipe(s);
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const { log, lines } = warnings();
    const budget = new RelayBudget(10, log);
    let udpHeld: HeldPort | undefined;
    const clients: Array<net.Socket | dgram.Socket> = [];
    try {
      held = await holdPort(4, 'tcp', '127.0.0.1', 0, { address: '127.0.0.1', port: (upstream.address() as net.AddressInfo).port }, log, budget);
      udpHeld = await holdPort(4, 'udp', '127.0.0.1', 0, { address: '127.0.0.1', port: echo.address().port }, log, budget);
      // 3 UDP sessions (3 fds), then 10 TCP connections: only 3 pairs fit in the remaining 7.
      const udpAnswers: string[] = [];
      for (let i = 0; i < 3; i++) {
        const c = dgram.createSocket('udp4');
        clients.push(c);
        c.on('message', (m) => udpAnswers.push(String(m)));
        c.send(`u${i}`, udpHeld.port, '127.0.0.1');
      }
      await eventually(() => assert.equal(udpAnswers.length, 3), { timeout: 5000, what: 'three UDP sessions answered' });
      assert.equal(budget.inUse, 3);
      const echoed: string[] = [];
      let closed = 0;
      for (let i = 0; i < 10; i++) {
        const s = net.connect(held.port, '127.0.0.1');
        clients.push(s);
        s.on('error', () => undefined);
        s.on('data', (d) => echoed.push(String(d)));
        s.on('close', () => closed++);
        s.write(`t${i}`);
      }
      await eventually(() => assert.equal(echoed.length + closed, 10), { timeout: 5000, what: 'every TCP connection relayed or closed' });
      assert.equal(echoed.length, 3, `relayed ${echoed.length}`);
      assert.equal(budget.inUse, 9);
      // A new UDP client: the budget has 1 left; the next one makes the UDP port evict its oldest session.
      for (let i = 3; i < 6; i++) {
        const c = dgram.createSocket('udp4');
        clients.push(c);
        c.on('message', (m) => udpAnswers.push(String(m)));
        c.send(`u${i}`, udpHeld.port, '127.0.0.1');
      }
      await eventually(() => assert.equal(udpAnswers.length, 6), { timeout: 5000, what: 'the new UDP clients answered' });
      assert.ok(budget.inUse <= 10, `${budget.inUse} in use`);
      assert.equal(lines.filter((l) => /descriptor budget reached/.test(l)).length, 1, 'logged once');
      // Closing the TCP clients gives their pairs back.
      for (const c of clients) if (c instanceof net.Socket) c.destroy();
      await eventually(() => assert.equal(budget.inUse, 4), { timeout: 5000, what: 'the TCP pairs given back' });
    } finally {
      for (const c of clients) if (c instanceof net.Socket) c.destroy(); else c.close();
      await udpHeld?.release();
      echo.close();
      await new Promise<void>((r) => upstream.close(() => r()));
    }
  });
});
