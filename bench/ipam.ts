/**
 * bench/ipam: the IPAM alone, in this process (no HTTP): every address of a /16 handed out through the
 * plugin socket's path (group-committed RequestAddress, `inflight` calls at once, each settling after its
 * commit), and the memory the allocation state takes per address in a /8. Goals (issue 15): the /16 in
 * < 1 s; memory that does not grow per address (a bitmap: 8 KiB per 65,536 addresses touched).
 *
 *   make build && node --expose-gc dist/bench/ipam.js [inflight=1024] [rounds=3] [big=1048576]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Ipam, LOCAL_ADDRESS_SPACE } from '../src/ipam/ipam';
import { createLogger } from '../src/log';
import { Store } from '../src/store/store';

function option(name: string, fallback: number): number {
  const arg = process.argv.slice(2).find((a) => a.startsWith(`${name}=`));
  return arg ? Number(arg.slice(name.length + 1)) : Number(process.env[`BENCH_${name.toUpperCase()}`] ?? fallback);
}
const INFLIGHT = option('inflight', 1024);
const ROUNDS = option('rounds', 3);
const BIG = option('big', 1 << 20);

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function heapUsed(): number {
  (globalThis as { gc?: () => void }).gc?.();
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
}

/** Hands out `count` addresses of the pool, `inflight` group-committed calls at a time. */
async function fill(ipam: Ipam, poolId: string, count: number): Promise<number> {
  let handed = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: INFLIGHT }, async () => {
      while (next++ < count) {
        await ipam.requestAddressGrouped({ PoolID: poolId, Address: '' });
        handed++;
      }
    }),
  );
  return handed;
}

async function main(): Promise<void> {
  const load = fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const log = createLogger('error', true);
  const fills: number[] = [];
  let exhausted = '';
  for (let round = 0; round < ROUNDS; round++) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-bench-ipam-'));
    const store = Store.open(dir);
    try {
      const ipam = new Ipam(store, { defaultPools: [], hostNetworks: async () => [], log });
      const { PoolID } = await ipam.requestPool({ AddressSpace: LOCAL_ADDRESS_SPACE, Pool: '10.251.0.0/16' });
      const t0 = process.hrtime.bigint();
      const handed = await fill(ipam, PoolID, 65534);
      fills.push(Number(process.hrtime.bigint() - t0) / 1e9);
      if (handed !== 65534 || ipam.allocated(PoolID).length !== 65534) throw new Error(`/16 fill handed out ${handed}`);
      exhausted = await ipam.requestAddressGrouped({ PoolID, Address: '' }).then(
        (r) => `unexpected ${r.Address}`,
        (e: Error) => e.message,
      );
    } finally {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  // A /8: the heap (objects and array buffers) after a quarter of BIG addresses and after all of them.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-bench-ipam-'));
  const store = Store.open(dir);
  let perAddress = NaN;
  let heapSmall = 0;
  let heapBig = 0;
  try {
    const ipam = new Ipam(store, { defaultPools: [], hostNetworks: async () => [], log });
    const { PoolID } = await ipam.requestPool({ AddressSpace: LOCAL_ADDRESS_SPACE, Pool: '10.0.0.0/8' });
    await fill(ipam, PoolID, BIG / 4);
    heapSmall = heapUsed();
    await fill(ipam, PoolID, BIG - BIG / 4);
    heapBig = heapUsed();
    perAddress = (heapBig - heapSmall) / (BIG - BIG / 4);
  } finally {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }

  const fillS = median(fills);
  const mib = (b: number) => (b / 1048576).toFixed(1);
  console.log(`load average at start: ${load}; inflight=${INFLIGHT} rounds=${ROUNDS} big=${BIG}; node ${process.version}`);
  console.log('| measure | tsnet | goal | met |');
  console.log('|---|---|---|---|');
  console.log(`| /16 filled in-process (65,534 group-committed RequestAddress, median of ${ROUNDS}: ${fills.map((s) => s.toFixed(2)).join(', ')} s) | ${fillS.toFixed(2)} s (${(65534 / fillS).toFixed(0)}/s) | < 1 s | ${fillS < 1 ? 'met' : 'not met'} |`);
  console.log(`| heap per address in a /8 (${BIG / 4} → ${BIG} addresses: ${mib(heapSmall)} → ${mib(heapBig)} MiB) | ${perAddress.toFixed(2)} B | does not grow per address (< 1 B: a bit plus chunk overhead) | ${perAddress < 1 ? 'met' : 'not met'} |`);
  console.log(`\nnext request after the /16 fill: ${exhausted}`);
  console.log(`command: node --expose-gc dist/bench/ipam.js inflight=${INFLIGHT} rounds=${ROUNDS} big=${BIG}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
