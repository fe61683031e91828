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
import type { Logger } from '../../../src/log';

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
});
