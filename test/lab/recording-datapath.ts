import type { DataPath, JoinResult } from '../../src/datapath/datapath';
import { DataPathError } from '../../src/datapath/datapath';
import type { EndpointRecord, NetworkRecord, NetworkType, NodePeer } from '../../src/model/records';

export interface RecordedCall {
  op: string;
  networkId?: string;
  endpointId?: string;
  detail?: unknown;
}

/** A data path that touches no kernel: it records every call and can be told to fail one. */
export class RecordingDataPath implements DataPath {
  readonly calls: RecordedCall[] = [];
  failNext: Partial<Record<string, string>> = {};

  constructor(readonly type: NetworkType = 'bridge') {}

  ops(): string[] {
    return this.calls.map((c) => c.op);
  }

  private record(op: string, net?: NetworkRecord, ep?: EndpointRecord, detail?: unknown): void {
    const message = this.failNext[op];
    if (message !== undefined) {
      delete this.failNext[op];
      throw new DataPathError(message);
    }
    this.calls.push({ op, networkId: net?.id, endpointId: ep?.id, detail });
  }

  async createNetwork(net: NetworkRecord): Promise<Record<string, unknown>> {
    this.record('createNetwork', net);
    return { bridgeName: `ts-${net.id.slice(0, 10)}` };
  }
  async deleteNetwork(net: NetworkRecord): Promise<void> {
    this.record('deleteNetwork', net);
  }
  async createEndpoint(net: NetworkRecord, ep: EndpointRecord): Promise<Record<string, unknown>> {
    this.record('createEndpoint', net, ep);
    return { containerIfname: `tsc${ep.id.slice(0, 10)}` };
  }
  async deleteEndpoint(net: NetworkRecord, ep: EndpointRecord): Promise<void> {
    this.record('deleteEndpoint', net, ep);
  }
  async join(net: NetworkRecord, ep: EndpointRecord, sandboxKey: string): Promise<JoinResult> {
    this.record('join', net, ep, sandboxKey);
    return { srcName: `tsc${ep.id.slice(0, 10)}` };
  }
  async leave(net: NetworkRecord, ep: EndpointRecord): Promise<void> {
    this.record('leave', net, ep);
  }
  async programExternalConnectivity(net: NetworkRecord, ep: EndpointRecord): Promise<Record<string, unknown>> {
    this.record('programExternalConnectivity', net, ep);
    return {};
  }
  async revokeExternalConnectivity(net: NetworkRecord, ep: EndpointRecord): Promise<void> {
    this.record('revokeExternalConnectivity', net, ep);
  }
  async discoverNew(peer: NodePeer): Promise<void> {
    this.record('discoverNew', undefined, undefined, peer);
  }
  async discoverDelete(peer: NodePeer): Promise<void> {
    this.record('discoverDelete', undefined, undefined, peer);
  }
  async reconcile(nets: NetworkRecord[], eps: EndpointRecord[]): Promise<void> {
    this.record('reconcile', undefined, undefined, { nets: nets.length, eps: eps.length });
  }
}
