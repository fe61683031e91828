/**
 * The real command runner (firewall/runner.ts) when the environment fails: a spawn that cannot start
 * is a rejected call, never a crash of the process.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { CommandFailed, execCommand } from '../../../src/firewall/runner';

describe('firewall runner', () => {
  it('a program that exits non-zero rejects with its exit code and stderr', async () => {
    await assert.rejects(execCommand('sh', ['-c', 'echo nope >&2; exit 3']), (e: unknown) => {
      assert.ok(e instanceof CommandFailed);
      assert.equal(e.code, 3);
      assert.equal(e.stderr.trim(), 'nope');
      return true;
    });
  });

  it('a missing program rejects with ENOENT', async () => {
    await assert.rejects(execCommand('/nonexistent/iptables-save', []), (e: unknown) => e instanceof CommandFailed && e.errno === 'ENOENT');
  });

  it('out of file descriptors (EMFILE), a spawn rejects and the process lives on', function () {
    this.timeout(20_000);
    // A child process with a low fd limit uses up its descriptors, then runs commands (with and without
    // stdin): each must reject with EMFILE, and the process must reach its last line.
    const script = `
      const fs = require('node:fs');
      const { execCommand } = require(${JSON.stringify(require.resolve('../../../src/firewall/runner'))});
      const held = [];
      try { for (;;) held.push(fs.openSync('/dev/null', 'r')); } catch (e) { if (e.code !== 'EMFILE') throw e; }
      (async () => {
        const errnos = [];
        for (const input of [undefined, 'x']) {
          try { await execCommand('true', [], input); errnos.push('resolved'); } catch (e) { errnos.push(e.errno ?? e.message); }
        }
        await new Promise((r) => setTimeout(r, 100)); // any late 'error' event would end the process here
        for (const fd of held) fs.closeSync(fd);
        console.log(JSON.stringify({ errnos, alive: true }));
      })();`;
    const run = spawnSync('prlimit', ['--nofile=64:64', process.execPath, '-e', script], { encoding: 'utf8', timeout: 15_000 });
    assert.equal(run.status, 0, `the child ended with ${run.status}: ${run.stderr}`);
    const result = JSON.parse(run.stdout.trim().split('\n').pop()!) as { errnos: string[]; alive: boolean };
    assert.deepEqual(result, { errnos: ['EMFILE', 'EMFILE'], alive: true });
  });
});
