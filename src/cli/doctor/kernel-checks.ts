import { FLOOD_MAC, silenceOf } from './kernel';
import { netLabel, oneOk, RESTART_FIX, SILENT_SECONDS, type DoctorFacts, type Finding } from './facts';

// The kernel against the store: MTU, links (missing, replaced, orphans), VXLAN flood entries, silent peers.

export function mtuChecks(f: DoctorFacts): Finding[] {
  const link = (name?: string) => (name ? f.links.find((l) => l.name === name) : undefined);
  const out: Finding[] = [];
  for (const n of f.networks) {
    if (n.type === 'vxlan') {
      const vx = link(n.vxlanDevice);
      const under = link(n.underlay);
      if (!vx || !under) continue;
      const overhead = n.localAddress?.includes(':') ? 70 : 50;
      if (vx.mtu + overhead > under.mtu) {
        out.push({ check: 'mtu', level: 'fail', message: `network ${netLabel(f, n.id)}: ${vx.name} MTU ${vx.mtu} + ${overhead} (VXLAN) > underlay ${under.name} MTU ${under.mtu}: large packets are dropped`, fix: `recreate the network with -o com.docker.network.driver.mtu=${under.mtu - overhead}` });
      }
    } else if (n.type === 'macvlan') {
      const parent = link(n.parent);
      if (parent && n.mtu !== undefined && n.mtu > parent.mtu) {
        out.push({ check: 'mtu', level: 'fail', message: `network ${netLabel(f, n.id)}: MTU ${n.mtu} > parent ${parent.name} MTU ${parent.mtu}`, fix: `recreate the network with -o com.docker.network.driver.mtu=${parent.mtu}` });
      }
    }
    const br = link(n.bridge);
    if (br && n.mtu !== undefined && br.mtu !== n.mtu && f.endpoints.some((e) => e.networkId === n.id)) {
      out.push({ check: 'mtu', level: 'warn', message: `network ${netLabel(f, n.id)}: bridge ${br.name} MTU ${br.mtu}, the network's ${n.mtu}`, fix: `ip link set ${br.name} mtu ${n.mtu}` });
    }
  }
  return oneOk('mtu', out, 'every network fits its underlay or parent');
}

export function linkChecks(f: DoctorFacts): Finding[] {
  const byName = new Map(f.links.map((l) => [l.name, l]));
  const out: Finding[] = [];
  const expect = (name: string | undefined, marker: string | undefined, what: string, owner: string, kind?: string) => {
    if (!name) return;
    const l = byName.get(name);
    if (!l) out.push({ check: 'links', level: 'fail', message: `${what} ${name} of ${owner} is missing`, fix: RESTART_FIX });
    else if (marker && l.alias !== marker) out.push({ check: 'links', level: 'fail', message: `${what} ${name} of ${owner} does not carry tsnet's marker (alias "${l.alias ?? ''}"): another tool replaced it`, fix: `remove it (ip link del ${name}), then ${RESTART_FIX}` });
    else if (kind && l.kind !== kind) out.push({ check: 'links', level: 'fail', message: `${what} ${name} of ${owner} is a ${l.kind ?? 'plain link'}, not a ${kind}`, fix: RESTART_FIX });
  };
  const netById = new Map(f.networks.map((n) => [n.id, n]));
  for (const n of f.networks) {
    const owner = `network ${netLabel(f, n.id)}`;
    expect(n.bridge, n.linkMarker, 'bridge', owner, 'bridge');
    expect(n.vxlanDevice, n.linkMarker, 'VXLAN device', owner, 'vxlan');
    if (n.type === 'macvlan') expect(n.parent, undefined, 'parent', owner);
  }
  for (const e of f.endpoints) {
    if (e.type === 'macvlan') continue; // the macvlan link lives in the container once joined
    const owner = `endpoint ${e.id.slice(0, 12)}${f.containerNames.has(e.id) ? ` (container ${f.containerNames.get(e.id)})` : ''}`;
    const before = out.length;
    expect(e.hostIfname, e.linkMarker, 'veth', owner, 'veth');
    const bridge = netById.get(e.networkId)?.bridge;
    const l = e.hostIfname ? byName.get(e.hostIfname) : undefined;
    // A missing bridge is already a finding (its fix puts the veths back on it too).
    if (out.length === before && l && bridge && byName.has(bridge) && l.master !== bridge) {
      out.push({ check: 'links', level: 'fail', message: `veth ${l.name} of ${owner} is not on bridge ${bridge} (master ${l.master ?? 'none'})`, fix: `ip link set ${l.name} master ${bridge}` });
    }
  }
  // Links with this instance's marker that no stored network or endpoint refers to.
  const ids = new Set([...f.networks.map((n) => n.id), ...f.endpoints.map((e) => e.id)]);
  for (const l of f.links) {
    if (!l.alias?.startsWith(f.status.linkMarkerPrefix)) continue;
    const id = l.alias.split(':').pop() ?? '';
    if (!ids.has(id)) out.push({ check: 'links', level: 'warn', message: `${l.name} carries tsnet's marker "${l.alias}" but nothing in the store refers to it (an orphan)`, fix: `ip link del ${l.name} (tsnet's next start removes it too)` });
  }
  return oneOk('links', out, `${f.networks.length} networks and ${f.endpoints.length} endpoints: every bridge, VXLAN device and veth present; no orphan`);
}

export function fdbChecks(f: DoctorFacts): Finding[] {
  const out: Finding[] = [];
  const locals = new Set(f.localAddresses);
  for (const n of f.networks) {
    if (n.type !== 'vxlan' || !n.vxlanDevice) continue;
    const entries = f.fdb.get(n.vxlanDevice);
    if (!entries) continue;
    const v6 = n.localAddress?.includes(':') ?? false;
    const wanted = new Set(f.peers.filter((p) => p.networkId === n.id).map((p) => p.dataAddress).filter((a) => !locals.has(a) && a.includes(':') === v6));
    const flood = new Set(entries.filter((e) => e.mac === FLOOD_MAC && e.dst).map((e) => e.dst!));
    for (const dst of flood) {
      if (!wanted.has(dst)) out.push({ check: 'fdb', level: 'warn', message: `network ${netLabel(f, n.id)}: stale flood entry on ${n.vxlanDevice} to ${dst}, which is no peer`, fix: `bridge fdb del ${FLOOD_MAC} dev ${n.vxlanDevice} dst ${dst}` });
    }
    for (const dst of wanted) {
      if (!flood.has(dst)) out.push({ check: 'fdb', level: 'fail', message: `network ${netLabel(f, n.id)}: no flood entry on ${n.vxlanDevice} to peer ${dst}: broadcasts (ARP) never reach it`, fix: RESTART_FIX });
    }
  }
  return oneOk('fdb', out, 'every VXLAN device floods to exactly its peers');
}

export function peerChecks(f: DoctorFacts): Finding[] {
  const out: Finding[] = [];
  const locals = new Set(f.localAddresses);
  for (const p of f.peers) {
    if (locals.has(p.dataAddress)) continue;
    const n = f.networks.find((x) => x.id === p.networkId);
    if (!n?.vxlanDevice) continue;
    const silence = silenceOf(f.fdb.get(n.vxlanDevice) ?? [], p.dataAddress);
    if (silence === undefined) out.push({ check: 'peers', level: 'warn', message: `network ${netLabel(f, n.id)}: peer ${p.dataAddress} (${p.sources.join(',')}) never heard from (normal while no container runs there)`, fix: `check that UDP ${n.vxlanPort ?? 4789} reaches ${p.dataAddress} and comes back` });
    else if (silence > SILENT_SECONDS) out.push({ check: 'peers', level: 'warn', message: `network ${netLabel(f, n.id)}: peer ${p.dataAddress} silent for ${silence}s`, fix: `check that UDP ${n.vxlanPort ?? 4789} reaches ${p.dataAddress} and comes back` });
  }
  return oneOk('peers', out, f.peers.length === 0 ? 'no VXLAN peer' : 'every VXLAN peer heard from recently');
}
