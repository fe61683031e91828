/**
 * Swarm VIP balancing (src/swarm/vip-services.ts, vip-balancer.ts) against a fake Docker API, recording
 * stand-ins for the rules, the host state and conntrack, and a fake clock.
 */
import assert from 'node:assert/strict';
import { DockerUnavailableError, type DockerVerboseNetworkView } from '../../../src/docker/api-client';
import type { VipNetwork } from '../../../src/firewall/vip';
import type { VipHostWanted } from '../../../src/datapath/vxlan/vip-host';
import { VipBalancer, VIP_NO_DOCKER_WARNING } from '../../../src/swarm/vip-balancer';
import { MAX_TASKS_PER_VIP, networkVipsOf } from '../../../src/swarm/vip-services';
import { capturingLogger, type CapturedLog } from '../../lab/capturing-logger';
import { fakeClock, type FakeClock } from '../../lab/fake-clock';

const NET = 'n1abcdefghijklmnopqrstuvw';

function view(services: Record<string, { VIP?: string; tasks: string[] }>, local: string[] = []): DockerVerboseNetworkView {
  return {
    Id: NET,
    Containers: Object.fromEntries(local.map((ip, i) => [`c${i}`, { EndpointID: `e${i}`, IPv4Address: `${ip}/24` }])),
    Services: Object.fromEntries(
      Object.entries(services).map(([name, s]) => [name, { VIP: s.VIP, Tasks: s.tasks.map((ip, i) => ({ Name: `${name}.${i}`, EndpointIP: ip, Info: { 'Host IP': '192.0.2.1' } })) }]),
    ),
  };
}

describe('swarm: VIP services of a verbose network view', () => {
  it('keeps IPv4 VIPs with tasks, drops dnsrr services (no VIP) and services without tasks, sorted by name', () => {
    const v = view({ web: { VIP: '10.0.0.2', tasks: ['10.0.0.4', '10.0.0.3', '10.0.0.4'] }, dns: { VIP: '', tasks: ['10.0.0.9'] }, idle: { VIP: '10.0.0.5', tasks: [] }, api: { VIP: '10.0.0.6/24', tasks: ['10.0.0.7/24'] } }, ['10.0.0.3']);
    const vips = networkVipsOf(v);
    assert.deepEqual(vips.services, [
      { name: 'api', vip: '10.0.0.6', tasks: ['10.0.0.7'] },
      { name: 'web', vip: '10.0.0.2', tasks: ['10.0.0.4', '10.0.0.3'] },
    ]);
    assert.deepEqual([...vips.localAddresses], ['10.0.0.3']);
    assert.equal(vips.truncated, false);
    assert.deepEqual(networkVipsOf({ Id: NET }).services, []);
  });

  it('bounds the tasks of a VIP', () => {
    const tasks = Array.from({ length: MAX_TASKS_PER_VIP + 5 }, (_, i) => `10.1.${i >> 8}.${i & 255}`);
    const vips = networkVipsOf(view({ big: { VIP: '10.2.0.1', tasks } }));
    assert.equal(vips.services[0]!.tasks.length, MAX_TASKS_PER_VIP);
    assert.equal(vips.truncated, true);
  });
});

describe('swarm: VIP balancer', () => {
  let clock: FakeClock;
  let captured: CapturedLog;
  let answer: DockerVerboseNetworkView | Error | undefined;
  let applied: VipNetwork[][];
  let host: VipHostWanted[];
  let deleted: string[];
  let reads: number;
  let balancer: VipBalancer;
  let networks: Array<{ id: string; bridge: string }>;

  beforeEach(() => {
    clock = fakeClock(1_000_000);
    captured = capturingLogger();
    applied = [];
    host = [];
    deleted = [];
    reads = 0;
    networks = [{ id: NET, bridge: 'tsb0' }];
    answer = view({ web: { VIP: '10.0.0.2', tasks: ['10.0.0.3', '10.0.0.4', '10.0.0.5'] } }, ['10.0.0.3']);
    balancer = new VipBalancer({
      docker: {
        networkVerbose: async () => {
          reads++;
          if (answer instanceof Error) throw answer;
          return answer;
        },
      },
      networks: () => networks,
      rules: {
        apply: async (nets) => {
          applied.push(structuredClone([...nets]));
          return true;
        },
      },
      host: async (wanted) => {
        host.push(structuredClone(wanted));
        return { vipsAdded: [], vipsRemoved: [], neighboursAdded: [], neighboursRemoved: [] };
      },
      conntrack: {
        deleteVipTask: async (vip, task) => {
          deleted.push(`${vip}>${task}`);
          return 1;
        },
      },
      log: captured.log,
      dockerSocket: '/run/docker.sock',
      intervalMs: 1000,
      clock,
    });
  });
  afterEach(() => balancer.stop());

  const messages = (m: string) => captured.records().filter((r) => r.message === m);

  it('programs the rules, the VIP address and the remote tasks\' neighbours, and logs each VIP once', async () => {
    await balancer.runOnce();
    assert.deepEqual(applied.at(-1), [{ id: NET, bridge: 'tsb0', services: [{ vip: '10.0.0.2', tasks: ['10.0.0.3', '10.0.0.4', '10.0.0.5'], local: ['10.0.0.3'] }] }]);
    assert.deepEqual(host.at(-1), { bridge: 'tsb0', vips: ['10.0.0.2'], remoteTasks: ['10.0.0.4', '10.0.0.5'] });
    await balancer.runOnce();
    const logged = messages('VIP programmed');
    assert.equal(logged.length, 1);
    assert.deepEqual(logged[0]!.tasks, ['10.0.0.3', '10.0.0.4', '10.0.0.5']);
    assert.equal(logged[0]!.service, 'web');
  });

  it('a task that goes leaves the rules and its connections are deleted; a removed service takes all', async () => {
    await balancer.runOnce();
    answer = view({ web: { VIP: '10.0.0.2', tasks: ['10.0.0.3', '10.0.0.5'] } }, ['10.0.0.3']);
    await balancer.runOnce();
    assert.deepEqual(applied.at(-1)![0]!.services[0]!.tasks, ['10.0.0.3', '10.0.0.5']);
    assert.deepEqual(deleted, ['10.0.0.2>10.0.0.4']);
    assert.equal(messages('VIP programmed').length, 2);
    answer = view({});
    await balancer.runOnce();
    assert.deepEqual(applied.at(-1), [{ id: NET, bridge: 'tsb0', services: [] }]);
    assert.deepEqual(host.at(-1), { bridge: 'tsb0', vips: [], remoteTasks: [] });
    assert.deepEqual(deleted, ['10.0.0.2>10.0.0.4', '10.0.0.2>10.0.0.3', '10.0.0.2>10.0.0.5']);
    assert.equal(messages('VIP removed').length, 1);
  });

  it('Docker not answering keeps what is programmed and warns once, naming the docker-socket setting', async () => {
    await balancer.runOnce();
    answer = new DockerUnavailableError('connect ENOENT /run/docker.sock');
    await balancer.runOnce();
    await balancer.runOnce();
    assert.deepEqual(applied.at(-1)![0]!.services[0]!.vip, '10.0.0.2');
    assert.deepEqual(deleted, []);
    const warnings = messages(VIP_NO_DOCKER_WARNING);
    assert.equal(warnings.length, 1);
    assert.match(String(warnings[0]!.fix), /docker-socket\.source=\/var\/run\/docker\.sock/);
    assert.equal(warnings[0]!.socket, '/run/docker.sock');
  });

  it('a network that is no longer on this node loses its rules; no network, no Docker read and no warning', async () => {
    await balancer.runOnce();
    networks = [];
    answer = new DockerUnavailableError('down');
    await balancer.runOnce();
    assert.deepEqual(applied.at(-1), []);
    assert.deepEqual(deleted.sort(), ['10.0.0.2>10.0.0.3', '10.0.0.2>10.0.0.4', '10.0.0.2>10.0.0.5']);
    assert.equal(reads, 1);
    assert.deepEqual(messages(VIP_NO_DOCKER_WARNING), []);
  });

  it('passes every interval once started, and stops', async () => {
    balancer.start();
    await clock.tickAsync(0);
    assert.equal(reads, 1);
    await clock.tickAsync(1000);
    await clock.tickAsync(1000);
    assert.equal(reads, 3);
    await balancer.stop();
    await clock.tickAsync(5000);
    assert.equal(reads, 3);
  });
});
