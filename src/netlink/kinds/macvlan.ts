import { attr, u32 } from '../attributes';
import { encodeLinkInfo } from './info';

const IFLA_MACVLAN_MODE = 1;

export type MacvlanMode = 'private' | 'vepa' | 'bridge' | 'passthru';

/** enum macvlan_mode (linux/if_link.h). */
export const MACVLAN_MODES: Record<MacvlanMode, number> = {
  private: 1,
  vepa: 2,
  bridge: 4,
  passthru: 8,
};

/** A macvlan on `parentIndex` (sent as IFLA_LINK next to IFLA_LINKINFO). */
export interface MacvlanSpec {
  kind: 'macvlan';
  parentIndex: number;
  mode: MacvlanMode;
}

export interface MacvlanInfo {
  mode?: MacvlanMode;
}

export function encodeMacvlanInfo(spec: MacvlanSpec): Buffer {
  const mode = MACVLAN_MODES[spec.mode];
  if (mode === undefined) throw new TypeError(`unknown macvlan mode "${String(spec.mode)}"`);
  return encodeLinkInfo('macvlan', [attr(IFLA_MACVLAN_MODE, u32(mode))]);
}

export function decodeMacvlanInfo(data: Map<number, Buffer>): MacvlanInfo {
  const raw = data.get(IFLA_MACVLAN_MODE);
  if (!raw || raw.length < 4) return {};
  const value = raw.readUInt32LE(0);
  const mode = (Object.keys(MACVLAN_MODES) as MacvlanMode[]).find((m) => MACVLAN_MODES[m] === value);
  return { mode };
}
