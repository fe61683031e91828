import { encodeLinkInfo } from './info';

/** A Linux bridge. tsnet sets nothing bridge-specific (STP off and the defaults are what Docker uses). */
export interface BridgeSpec {
  kind: 'bridge';
}

export function encodeBridgeInfo(_spec: BridgeSpec): Buffer {
  return encodeLinkInfo('bridge');
}
