/**
 * The nftables firewall-backend warning (src/docker/firewall-backend-check.ts) against a fake Docker
 * API and a fake clock: one warning when dockerd reports nftables, silence for iptables and for a
 * Docker that does not report a backend, quiet retries with back-off while Docker is not up yet.
 */
import assert from 'node:assert/strict';
import { DockerUnavailableError, type DockerInfoView } from '../../../src/docker/api-client';
import { FirewallBackendCheck, NFTABLES_WARNING, type FirewallBackendDocker } from '../../../src/docker/firewall-backend-check';
import { capturingLogger, fakeClock, type FakeClock } from '../../lab';

const OPTIONS = { retryMs: 1_000, maxRetryMs: 8_000, recheckMs: 600_000 };

class FakeDocker implements FirewallBackendDocker {
  answer: DockerInfoView | Error = new DockerUnavailableError('Docker API at /run/docker.sock: connect ENOENT');
  reads: number[] = [];
  constructor(private readonly clock: FakeClock) {}
  async info(): Promise<DockerInfoView> {
    this.reads.push(this.clock.now());
    if (this.answer instanceof Error) throw this.answer;
    return structuredClone(this.answer);
  }
}

describe('firewall backend check (GET /info FirewallBackend)', () => {
  let clock: FakeClock;
  let docker: FakeDocker;
  let captured: ReturnType<typeof capturingLogger>;
  let check: FirewallBackendCheck;

  beforeEach(() => {
    clock = fakeClock(0);
    docker = new FakeDocker(clock);
    captured = capturingLogger();
    check = new FirewallBackendCheck(docker, captured.log, OPTIONS, clock);
  });
  afterEach(async () => {
    await check.stop();
  });

  const warnings = () => captured.records().filter((r) => r.level === 'warn');

  it('warns once, naming the backend and the engine, when dockerd reports nftables (Docker 29)', async () => {
    docker.answer = { ServerVersion: '29.0.0', FirewallBackend: { Driver: 'nftables', Info: null } };
    check.start();
    await clock.tickAsync(0);
    assert.deepEqual(
      warnings().map((r) => [r.message, r.firewallBackend, r.dockerVersion]),
      [[NFTABLES_WARNING, 'nftables', '29.0.0']],
    );
    assert.match(NFTABLES_WARNING, /DOCKER-USER/);
    assert.match(NFTABLES_WARNING, /"firewall-backend": "iptables"/);
    // Looked at again every recheckMs, without repeating the warning.
    await clock.tickAsync(OPTIONS.recheckMs * 3);
    assert.deepEqual(docker.reads, [0, 600_000, 1_200_000, 1_800_000]);
    assert.equal(warnings().length, 1);
    assert.equal(check.reported, 'nftables');
  });

  it('says nothing above debug for iptables, nor for an engine that reports no backend (20.10, 28.x before 1.50)', async () => {
    docker.answer = { ServerVersion: '28.5.2', FirewallBackend: { Driver: 'iptables', Info: null } };
    await check.runOnce();
    assert.equal(check.reported, 'iptables');
    docker.answer = { ServerVersion: '20.10.24' };
    await check.runOnce();
    assert.equal(check.reported, 'iptables');
    assert.deepEqual(captured.records().filter((r) => r.level !== 'debug'), []);
  });

  it('warns again only after the backend went back to iptables in between (dockerd restarted with another setting)', async () => {
    docker.answer = { FirewallBackend: { Driver: 'nftables' } };
    await check.runOnce();
    docker.answer = { FirewallBackend: { Driver: 'iptables' } };
    await check.runOnce();
    docker.answer = { FirewallBackend: { Driver: 'nftables' } };
    await check.runOnce();
    assert.deepEqual(
      captured.records().filter((r) => r.level !== 'debug').map((r) => [r.level, r.message]),
      [
        ['warn', NFTABLES_WARNING],
        ['info', 'dockerd no longer uses the nftables firewall backend'],
        ['warn', NFTABLES_WARNING],
      ],
    );
  });

  it('retries quietly with back-off while Docker does not answer (at boot dockerd waits for its plugins), then warns', async () => {
    check.start();
    await clock.tickAsync(0);
    await clock.tickAsync(1_000 + 2_000 + 4_000 + 8_000 + 8_000);
    assert.deepEqual(docker.reads, [0, 1_000, 3_000, 7_000, 15_000, 23_000]);
    assert.deepEqual(captured.records().filter((r) => r.level !== 'debug'), [], 'nothing above debug while Docker is away');
    assert.equal(captured.records().length, 1, 'and the debug line once');
    docker.answer = { FirewallBackend: { Driver: 'nftables' } };
    await clock.tickAsync(8_000);
    assert.equal(warnings().length, 1);
    // Back on the slow schedule.
    await clock.tickAsync(OPTIONS.recheckMs - 1);
    assert.equal(docker.reads.length, 7);
  });

  it('stop() cancels the schedule: no read after it', async () => {
    check.start();
    await clock.tickAsync(0);
    await check.stop();
    await clock.tickAsync(OPTIONS.maxRetryMs * 10);
    assert.deepEqual(docker.reads, [0]);
    assert.equal(clock.countTimers(), 0);
  });
});
