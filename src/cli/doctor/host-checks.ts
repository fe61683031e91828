import { DISK_FAIL_BYTES, DISK_WARN_BYTES, type DoctorFacts, type Finding } from './facts';

// The host: ip_forward, br_netfilter, the engine and its firewall backend, free space for the state directory.

export function hostChecks(f: DoctorFacts): Finding[] {
  const out: Finding[] = [];
  out.push(
    f.ipForward === '1'
      ? { check: 'ip_forward', level: 'ok', message: 'net.ipv4.ip_forward = 1' }
      : { check: 'ip_forward', level: 'fail', message: `net.ipv4.ip_forward = ${f.ipForward ?? 'unreadable'}: no container traffic is routed`, fix: 'sysctl -w net.ipv4.ip_forward=1 (dockerd turns it on at its start)' },
  );
  out.push(
    f.brNetfilter === undefined
      ? { check: 'br_netfilter', level: 'fail', message: 'br_netfilter is not loaded: traffic between containers of one network bypasses iptables (DOCKER-USER, icc)', fix: 'modprobe br_netfilter' }
      : { check: 'br_netfilter', level: 'ok', message: `loaded (bridge-nf-call-iptables = ${f.brNetfilter}; tsnet's bridges turn it on per bridge)` },
  );
  return out;
}

export function engineChecks(f: DoctorFacts): Finding[] {
  const e = f.engine;
  const backend = f.status.firewall.backend;
  const out: Finding[] = [];
  if (e.error || !e.version) out.push({ check: 'engine', level: 'warn', message: `Docker API not reachable: ${e.error ?? 'no version'}`, fix: 'start dockerd, or give its socket with --docker-host unix:///PATH' });
  else out.push({ check: 'engine', level: 'ok', message: `Docker ${e.version} (API ${e.apiVersion ?? '?'})${e.firewallBackend ? `, firewall backend ${e.firewallBackend}` : ''}` });
  if (backend === 'nft' || backend === 'legacy') {
    const other = backend === 'nft' ? 'legacy' : 'nft';
    if (!f.dockerBackends.includes(backend) && f.dockerBackends.includes(other)) {
      out.push({ check: 'firewall backend', level: 'fail', message: `tsnet writes iptables-${backend}, dockerd iptables-${other}: DOCKER-USER and tsnet's rules live in different tables`, fix: `set TSNET_IPTABLES_BACKEND=${other} and restart tsnet` });
    } else {
      out.push({ check: 'firewall backend', level: 'ok', message: `iptables-${backend}${f.dockerBackends.includes(backend) ? ', the same as dockerd' : ''}` });
    }
  }
  return out;
}

export function diskChecks(f: DoctorFacts): Finding[] {
  const free = f.status.store.diskFreeBytes;
  const dir = f.status.stateDir;
  if (free === undefined) return [{ check: 'state dir', level: 'warn', message: `free space of ${dir} unknown` }];
  const mib = (b: number) => (b >= 1024 ** 3 ? `${Math.round(b / 1024 ** 3 * 10) / 10} GiB` : `${Math.round(b / 1024 / 102.4) / 10} MiB`);
  if (free < DISK_FAIL_BYTES) return [{ check: 'state dir', level: 'fail', message: `${mib(free)} free for ${dir}: new networks and endpoints are refused below a few MiB`, fix: `free space on the file system of ${dir} (at least ${mib(DISK_WARN_BYTES)})` }];
  if (free < DISK_WARN_BYTES) return [{ check: 'state dir', level: 'warn', message: `${mib(free)} free for ${dir}`, fix: `free space on the file system of ${dir}` }];
  return [{ check: 'state dir', level: 'ok', message: `${mib(free)} free for ${dir}` }];
}
