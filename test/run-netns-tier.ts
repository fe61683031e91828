/**
 * The netns tier's runner (`make test-netns`): every test file of dist/test/netns runs in a mocha
 * process of its own inside a fresh network namespace (`unshare --net`), so no file sees what another
 * left behind. Prints each file's mocha output, then one closing line alone on a line, which CI reads:
 * `N passed, N failed` (and `, N skipped` when tests were pending). Exits 1 when anything failed.
 *
 *   node dist/test/run-netns-tier.js [file.test.js ...]   (default: every dist/test/netns/**\/*.test.js)
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const PROJECT = path.resolve(__dirname, '../..');
const MOCHA = path.join(PROJECT, 'node_modules', '.bin', 'mocha');
const TIER_DIR = path.join(PROJECT, 'dist', 'test', 'netns');
const MOCHA_ARGS = ['--reporter', 'dot', '--timeout', '20000'];

interface Tally {
  passed: number;
  failed: number;
  skipped: number;
}

/** Every *.test.js under `dir`, sorted, as paths relative to the project. */
function testFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.test.js'))
    .map((f) => path.relative(PROJECT, path.join(dir, f)))
    .sort();
}

/** The counts of mocha's closing summary ("  3 passing (2s)", "  1 pending", "  2 failing"). */
function summaryOf(output: string): Tally {
  const count = (word: string) => Number(new RegExp(`^\\s*(\\d+) ${word}\\b`, 'm').exec(output)?.[1] ?? 0);
  return { passed: count('passing'), failed: count('failing'), skipped: count('pending') };
}

/** Runs one file under its own `unshare --net`; its output goes through to ours. */
function runInOwnNetns(file: string): Promise<Tally> {
  return new Promise((resolve) => {
    const child = spawn('unshare', ['--net', '--', MOCHA, ...MOCHA_ARGS, file], { cwd: PROJECT, stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    let settled = false;
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      process.stdout.write(chunk);
    });
    const settle = (code: number | null, why?: string) => {
      if (settled) return; // 'error' and 'close' can both come
      settled = true;
      const tally = summaryOf(output);
      if (code !== 0 && tally.failed === 0) {
        // mocha (or unshare) died before reporting a failure: count the file as one failed test
        process.stdout.write(`\n  ${file}: exited with ${why ?? `code ${code}`} without a failing test reported; counted as 1 failed\n`);
        tally.failed = 1;
      }
      resolve(tally);
    };
    child.on('error', (err) => settle(null, String(err)));
    child.on('close', (code, signal) => settle(code, signal ?? undefined));
  });
}

async function main(): Promise<void> {
  const files = process.argv.length > 2 ? process.argv.slice(2) : testFiles(TIER_DIR);
  const total: Tally = { passed: 0, failed: 0, skipped: 0 };
  for (const file of files) {
    process.stdout.write(`\n== ${file} (own network namespace)\n`);
    const t = await runInOwnNetns(file);
    total.passed += t.passed;
    total.failed += t.failed;
    total.skipped += t.skipped;
  }
  if (files.length === 0) {
    process.stdout.write(`no test files under ${path.relative(PROJECT, TIER_DIR)}\n`);
    total.failed = 1;
  }
  process.stdout.write(`\n${total.passed} passed, ${total.failed} failed${total.skipped ? `, ${total.skipped} skipped` : ''}\n`);
  process.exitCode = total.failed > 0 ? 1 : 0;
}

void main();
