/**
 * The Swarm VIP-mode check (src/swarm/vip-mode-check.ts) against a fake Docker API: which services
 * are warned about, once per (service, network), and how workers' 503 and a Docker that is down are
 * taken (quietly, with back-off).
 */
import assert from 'node:assert/strict';
import { DockerUnavailableError, NotSwarmManagerError, type DockerNetworkView, type DockerServiceView } from '../../../src/docker/api-client';
import type { Logger } from '../../../src/log';
import { fakeClock } from '../../lab/fake-clock';
import { endpointMode, networkTargets, VIP_WARNING, VipModeCheck, type VipModeDocker } from '../../../src/swarm/vip-mode-check';

const TSNET_ID = 'k3vq8w0h1b2c3d4e5f6g7h8i9'; // a Swarm network ID: 25 characters
const OTHER_ID = 'zz9q8w0h1b2c3d4e5f6g7h8i0'; // Docker's own overlay
const LOCAL_ID = 'a'.repeat(64);

interface Logged {
  level: string;
  message: string;
  fields: Record<string, unknown>;
}

function recordingLogger(): { log: Logger; lines: Logged[] } {
  const lines: Logged[] = [];
  const at = (level: string) => (message: string, fields: Record<string, unknown> = {}) => lines.push({ level, message, fields });
  return { log: { warn: at('warn'), info: at('info'), debug: at('debug'), error: at('error') } as unknown as Logger, lines };
}

class FakeDocker implements VipModeDocker {
  services_: DockerServiceView[] = [];
  networks = new Map<string, DockerNetworkView>([
    [TSNET_ID, { Id: TSNET_ID, Name: 'ov' }],
    ['ov', { Id: TSNET_ID, Name: 'ov' }],
    [OTHER_ID, { Id: OTHER_ID, Name: 'dockerov' }],
    ['dockerov', { Id: OTHER_ID, Name: 'dockerov' }],
  ]);
  failWith: Error | undefined;
  serviceReads = 0;
  networkReads: string[] = [];

  async services(): Promise<DockerServiceView[]> {
    this.serviceReads++;
    if (this.failWith) throw this.failWith;
    return structuredClone(this.services_);
  }

  async network(idOrName: string): Promise<DockerNetworkView | undefined> {
    this.networkReads.push(idOrName);
    if (this.failWith) throw this.failWith;
    return this.networks.get(idOrName);
  }
}

function service(id: string, name: string, targets: string[], mode?: string, options: { legacy?: boolean; noEndpointSpec?: boolean } = {}): DockerServiceView {
  const networks = targets.map((Target) => ({ Target }));
  return {
    ID: id,
    Spec: {
      Name: name,
      ...(options.legacy ? { Networks: networks, TaskTemplate: {} } : { TaskTemplate: { Networks: networks } }),
      ...(options.noEndpointSpec ? {} : { EndpointSpec: mode === undefined ? {} : { Mode: mode } }),
    },
  };
}

const OPTIONS = { intervalMs: 30_000, maxBackoffMs: 240_000, watchMs: 2_000, newNetworkDelayMs: 2_000 };

describe('swarm: VIP-mode check of services on tsnet networks', () => {
  let docker: FakeDocker;
  let known: string[];
  let logged: ReturnType<typeof recordingLogger>;
  let check: VipModeCheck;
  const warnings = () => logged.lines.filter((l) => l.level === 'warn');
  const vipWarnings = () => warnings().filter((l) => l.message === VIP_WARNING);

  beforeEach(() => {
    docker = new FakeDocker();
    known = [TSNET_ID, LOCAL_ID];
    logged = recordingLogger();
    check = new VipModeCheck(docker, () => known, logged.log, OPTIONS);
  });
  afterEach(() => check.stop());

  it('reads the endpoint mode: absent (no EndpointSpec, or no Mode) is vip; dnsrr is dnsrr', () => {
    assert.equal(endpointMode(service('a', 'a', [], undefined, { noEndpointSpec: true })), 'vip');
    assert.equal(endpointMode(service('a', 'a', [])), 'vip');
    assert.equal(endpointMode(service('a', 'a', [], 'vip')), 'vip');
    assert.equal(endpointMode(service('a', 'a', [], 'dnsrr')), 'dnsrr');
    assert.equal(endpointMode({ ID: 'x' }), 'vip');
  });

  it('reads the networks from TaskTemplate.Networks and from the deprecated Spec.Networks', () => {
    assert.deepEqual(networkTargets(service('a', 'a', [TSNET_ID, OTHER_ID])), [TSNET_ID, OTHER_ID]);
    assert.deepEqual(networkTargets(service('a', 'a', ['ov'], 'vip', { legacy: true })), ['ov']);
    assert.deepEqual(networkTargets({ ID: 'x', Spec: { TaskTemplate: { Networks: null } } }), []);
  });

  it('warns about VIP-mode services on a tsnet network (mode absent or vip), naming service, network and fix; not dnsrr ones or other networks', async () => {
    docker.services_ = [
      service('svc-absent', 'web', [TSNET_ID], undefined, { noEndpointSpec: true }),
      service('svc-vip', 'api', [TSNET_ID], 'vip'),
      service('svc-dnsrr', 'db', [TSNET_ID], 'dnsrr'),
      service('svc-other', 'cache', [OTHER_ID], 'vip'),
      service('svc-none', 'batch', []),
    ];
    await check.runOnce();
    const got = vipWarnings().map((l) => l.fields);
    assert.deepEqual(
      got.map((f) => [f.service, f.serviceId, f.network, f.networkId]),
      [
        ['web', 'svc-absent', 'ov', TSNET_ID],
        ['api', 'svc-vip', 'ov', TSNET_ID],
      ],
    );
    assert.match(String(got[0]!.fix), /docker service update --endpoint-mode dnsrr web/);
    assert.match(VIP_WARNING, /--endpoint-mode dnsrr/);
    assert.equal(warnings().length, 2, 'nothing else warned');
    // Targets that are full IDs of other networks are not looked up in Docker.
    assert.ok(!docker.networkReads.includes(OTHER_ID), `no lookup of a foreign network ID: ${docker.networkReads.join(',')}`);
  });

  it('warns once per (service, network) across passes, and again for a second tsnet network of the same service', async () => {
    const second = 'm1n2b3v4c5x6z7l8k9j0h1g2f';
    docker.networks.set(second, { Id: second, Name: 'ov2' });
    docker.services_ = [service('svc-vip', 'api', [TSNET_ID])];
    for (let i = 0; i < 4; i++) await check.runOnce();
    assert.equal(vipWarnings().length, 1);
    known = [TSNET_ID, second];
    docker.services_ = [service('svc-vip', 'api', [TSNET_ID, second])];
    await check.runOnce();
    await check.runOnce();
    assert.deepEqual(vipWarnings().map((l) => l.fields.network), ['ov', 'ov2']);
    assert.equal(docker.serviceReads, 6);
  });

  it('matches a Target given by name (resolved through Docker) as well as by ID', async () => {
    docker.services_ = [service('svc-byname', 'named', ['ov']), service('svc-other', 'other', ['dockerov']), service('svc-missing', 'gone', ['nosuchnet'])];
    await check.runOnce();
    assert.deepEqual(vipWarnings().map((l) => [l.fields.service, l.fields.network, l.fields.networkId]), [['named', 'ov', TSNET_ID]]);
    await check.runOnce();
    assert.equal(vipWarnings().length, 1, 'the name target is deduplicated under the network ID');
    // A service naming the network and another giving its ID are two services: one warning each.
    docker.services_.push(service('svc-byid', 'byid', [TSNET_ID]));
    await check.runOnce();
    assert.deepEqual(vipWarnings().map((l) => l.fields.service), ['named', 'byid']);
  });

  it('a service updated to dnsrr is no longer warned about; back to VIP, it is warned about again', async () => {
    docker.services_ = [service('svc', 'api', [TSNET_ID], 'vip')];
    await check.runOnce();
    docker.services_ = [service('svc', 'api', [TSNET_ID], 'dnsrr')];
    await check.runOnce();
    await check.runOnce();
    assert.equal(vipWarnings().length, 1);
    docker.services_ = [service('svc', 'api', [TSNET_ID], 'vip')];
    await check.runOnce();
    assert.equal(vipWarnings().length, 2);
    // Removed and re-created under the same name: a new service ID, a new warning.
    docker.services_ = [service('svc-new', 'api', [TSNET_ID], 'vip')];
    await check.runOnce();
    assert.equal(vipWarnings().length, 3);
  });

  it('a worker (HTTP 503 "not a swarm manager") stays quiet: one debug line, no warning, backing off', async () => {
    docker.services_ = [service('svc', 'api', [TSNET_ID])];
    docker.failWith = new NotSwarmManagerError('GET /services: HTTP 503 This node is not a swarm manager.');
    assert.equal(check.nextDelayMs(), 30_000);
    await check.runOnce();
    assert.equal(check.nextDelayMs(), 60_000);
    await check.runOnce();
    await check.runOnce();
    assert.equal(check.nextDelayMs(), 240_000, 'doubling, capped at maxBackoffMs');
    await check.runOnce();
    assert.equal(check.nextDelayMs(), 240_000);
    assert.equal(warnings().length, 0);
    const debug = logged.lines.filter((l) => l.level === 'debug');
    assert.equal(debug.length, 1, `one debug line for the state, not one per pass: ${JSON.stringify(debug)}`);
    assert.match(debug[0]!.message, /not a swarm manager/);
    // Promoted to manager: the next pass warns and the delay is back to the interval.
    docker.failWith = undefined;
    await check.runOnce();
    assert.equal(vipWarnings().length, 1);
    assert.equal(check.nextDelayMs(), 30_000);
  });

  it('Docker down is quiet too (debug), and a warning already given is not repeated after it comes back', async () => {
    docker.services_ = [service('svc', 'api', [TSNET_ID])];
    await check.runOnce();
    docker.failWith = new DockerUnavailableError('Docker API at /run/docker.sock: connect ENOENT');
    await check.runOnce();
    await check.runOnce();
    assert.equal(check.nextDelayMs(), 120_000);
    assert.deepEqual(
      logged.lines.filter((l) => l.level === 'debug').map((l) => l.message),
      ['VIP-mode check: services read', 'VIP-mode check: Docker not reachable, trying again later'],
      'one line per successful pass, one for the change of state',
    );
    assert.deepEqual(logged.lines.find((l) => l.message === 'VIP-mode check: services read')!.fields, { services: 1, vipOnTsnet: 1 });
    docker.failWith = undefined;
    await check.runOnce();
    assert.equal(vipWarnings().length, 1, 'still the one warning from before Docker went away');
    assert.equal(warnings().length, 1);
  });

  it('an unexpected failure (bad answer) is a warning of its own, not a VIP warning', async () => {
    docker.failWith = new SyntaxError('Unexpected token < in JSON');
    await check.runOnce();
    assert.deepEqual(warnings().map((l) => l.message), ['VIP-mode check: reading the services failed']);
  });

  it('a failure to list tsnet\'s own networks is a warning, never an exception out of a timer', async () => {
    check = new VipModeCheck(docker, () => {
      throw new Error('store closed');
    }, logged.log, OPTIONS);
    await check.runOnce();
    check.watchNetworks();
    assert.deepEqual(warnings().map((l) => l.message), ['VIP-mode check: reading the services failed', 'VIP-mode check: could not list tsnet\'s networks']);
    assert.equal(docker.serviceReads, 0);
  });

  it('does not call Docker while tsnet knows no network', async () => {
    known = [];
    docker.services_ = [service('svc', 'api', [TSNET_ID])];
    await check.runOnce();
    assert.equal(docker.serviceReads, 0);
    assert.equal(warnings().length, 0);
  });

  it('a network tsnet has not seen yet is not warned about; once known it is', async () => {
    known = [LOCAL_ID];
    docker.services_ = [service('svc', 'api', [TSNET_ID])];
    await check.runOnce();
    assert.equal(vipWarnings().length, 0);
    known = [LOCAL_ID, TSNET_ID];
    await check.runOnce();
    assert.equal(vipWarnings().length, 1);
  });

  it('a new network brings the next pass forward (after newNetworkDelayMs), whatever the interval', async () => {
    const clock = fakeClock();
    /** Lets the pass a timer started finish (the fake Docker answers at once). */
    const settle = () => new Promise((r) => setImmediate(r));
    check = new VipModeCheck(docker, () => known, logged.log, { intervalMs: 3_600_000, maxBackoffMs: 3_600_000, watchMs: 20, newNetworkDelayMs: 30 }, clock);
    known = [LOCAL_ID];
    docker.services_ = [service('svc', 'api', [TSNET_ID])];
    check.start();
    await clock.tickAsync(150);
    assert.equal(docker.serviceReads, 0, 'no pass before the interval while the networks stay the same');
    known = [LOCAL_ID, TSNET_ID];
    await clock.tickAsync(10); // the watcher's next look (every 20 ms) sees the new network
    await clock.tickAsync(29);
    await settle();
    assert.equal(docker.serviceReads, 0, 'not before newNetworkDelayMs');
    await clock.tickAsync(1);
    await settle();
    assert.equal(vipWarnings().length, 1, 'the new network triggered a pass');
    assert.equal(docker.serviceReads, 1);
    await check.stop();
    known = [LOCAL_ID, TSNET_ID, OTHER_ID];
    await clock.tickAsync(7_200_000);
    await settle();
    assert.equal(docker.serviceReads, 1, 'nothing runs after stop()');
    assert.equal(clock.countTimers(), 0, 'no timer left');
  });
});
