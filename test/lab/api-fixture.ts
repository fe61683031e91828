import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import supertest from 'supertest';
import type { RequestListener } from 'node:http';
import { NetworkDriver } from '../../src/driver/driver';
import type { NetworkType, NodePeer } from '../../src/model/records';
import type { DataPath } from '../../src/datapath/datapath';
import { Ipam } from '../../src/ipam/ipam';
import { testLogger } from '../../src/log';
import { callNames, createApp } from '../../src/server/app';
import { TsnetMetrics } from '../../src/metrics/metrics';
import { Introspection, type IntrospectionParts } from '../../src/daemon/introspection';
import { readSettings } from '../../src/config/settings';
import type { PeerView } from '../../src/protocol';
import { Store } from '../../src/store/store';
import { DOCKER_DEFAULT_POOLS } from '../../src/config/settings';
import { RecordingDataPath } from './recording-datapath';

/** The plugin socket's request handler over a fresh store in a temp dir, with a recording data path per type. */
export class ApiFixture {
  readonly datapaths = new Map<NetworkType, RecordingDataPath>();
  store!: Store;
  driver!: NetworkDriver;
  ipam!: Ipam;
  app!: RequestListener;
  metrics!: TsnetMetrics;
  /** What the read-only API's status and peers read (tests add tasks and peers here). */
  readonly introspectionParts: IntrospectionParts & { peerList: PeerView[] } = { tasks: [], peerList: [], peers: () => this.introspectionParts.peerList };
  hostNetworks: string[] = [];
  /** What the driver told about this node's own Swarm identity (DriverSettings.onSelf), in order. */
  readonly selves: NodePeer[] = [];

  constructor(readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-api-'))) {
    for (const type of ['bridge', 'macvlan', 'vxlan'] as NetworkType[]) this.datapaths.set(type, new RecordingDataPath(type));
    this.open();
  }

  get bridge(): RecordingDataPath {
    return this.datapaths.get('bridge')!;
  }

  /** (Re)opens store, IPAM, driver and app over the same directory: a daemon restart. */
  open(): void {
    const log = testLogger();
    this.store = Store.open(this.dir);
    this.ipam = new Ipam(this.store, { defaultPools: DOCKER_DEFAULT_POOLS, hostNetworks: async () => this.hostNetworks, log });
    this.driver = new NetworkDriver(this.store, new Map<NetworkType, DataPath>(this.datapaths), log, {
      scope: 'local',
      onSelf: async (self) => {
        this.selves.push(self);
      },
    });
    const settings = readSettings({ TSNET_STATE_DIR: this.dir, TSNET_SOCKET: path.join(this.dir, 'tsnet.sock') });
    const introspection = new Introspection(settings, this.store, this.driver, this.ipam, this.introspectionParts);
    this.metrics = new TsnetMetrics(callNames(), introspection.metricSources());
    const inspect = { driver: this.driver, instance: settings.instance, status: () => introspection.status(), peers: () => introspection.peers() };
    this.app = createApp({ driver: this.driver, ipam: this.ipam, log, inspect, metrics: this.metrics });
  }

  async restart(): Promise<void> {
    await this.store.close();
    this.open();
  }

  post(endpoint: string, body?: unknown): supertest.Test {
    const req = supertest(this.app).post(`/${endpoint}`);
    return body === undefined ? req : req.send(typeof body === 'string' ? body : JSON.stringify(body));
  }

  get(path: string): supertest.Test {
    return supertest(this.app).get(path);
  }

  async close(): Promise<void> {
    await this.store.close();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export const NET_ID = 'a'.repeat(64);
export const NET_ID2 = 'b'.repeat(64);
export const SWARM_NET_ID = 'yrourpbjqx46jwd2vvr0nodh4';
export const EP_ID = 'c'.repeat(64);
export const EP_ID2 = 'd'.repeat(64);

export function createNetworkBody(overrides: Record<string, unknown> = {}, generic: Record<string, string> = {}): Record<string, unknown> {
  return {
    NetworkID: NET_ID,
    Options: { 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': generic },
    IPv4Data: [{ AddressSpace: 'tsnet-local', Pool: '10.99.0.0/24', Gateway: '10.99.0.1/24', AuxAddresses: {} }],
    IPv6Data: [],
    ...overrides,
  };
}
