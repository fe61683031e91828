import type { DockerApiClient } from '../../docker/api-client';
import type { StatusView } from '../../protocol';
import { ago, formatBytes, formatDuration, formatFields, formatTable } from '../table';
import type { CommandContext, Output } from './context';

// `tsnet status`: the daemon's status and the engine's version.

export interface EngineView {
  version?: string;
  apiVersion?: string;
  firewallBackend?: string;
  error?: string;
}

export async function readEngine(docker: DockerApiClient): Promise<EngineView> {
  try {
    const v = await docker.version();
    const info = await docker.info().catch(() => undefined);
    const engine: EngineView = {};
    if (v.Version) engine.version = v.Version;
    if (v.ApiVersion) engine.apiVersion = v.ApiVersion;
    if (info?.FirewallBackend?.Driver) engine.firewallBackend = info.FirewallBackend.Driver;
    return engine;
  } catch (err) {
    return { error: (err as Error).message };
  }
}

export function formatStatus(s: StatusView, engine: EngineView, now: Date): string {
  const head = formatFields([
    ['Version', s.version],
    ['Instance', s.instance],
    ['Scope', s.scope],
    ['Socket', s.socket],
    ['PID', s.pid],
    ['Uptime', formatDuration(s.uptimeSeconds)],
    ['Engine', engine.version ? `Docker ${engine.version} (API ${engine.apiVersion ?? '?'})` : `unknown (${engine.error ?? 'no answer'})`],
    ['Firewall backend', `iptables ${s.firewall.backend ?? 'not detected yet'}${engine.firewallBackend ? ` (engine: ${engine.firewallBackend})` : ''}`],
    ['State directory', s.stateDir],
    ['Store', `${formatBytes(s.store.usedBytes)} used, file ${formatBytes(s.store.fileBytes)}, ${formatBytes(s.store.diskFreeBytes) ?? 'unknown'} free on disk`],
    ['Networks', s.counts.networks],
    ['Endpoints', s.counts.endpoints],
    ['Pools', s.counts.pools],
  ]);
  const tasks = formatTable(
    ['task', 'runs', 'failures', 'last run', 'took', 'result', 'detail'],
    s.tasks.map((t) => [t.name, t.runs, t.failures, ago(t.lastRun, now) ?? 'never', t.lastMs !== undefined ? `${t.lastMs}ms` : undefined, t.ok === undefined ? undefined : t.ok ? 'ok' : 'failed', t.detail]),
  );
  return `${head}\n${tasks}`;
}

export async function status(ctx: CommandContext): Promise<Output> {
  const [s, engine] = await Promise.all([ctx.daemon.status(), readEngine(ctx.docker)]);
  return { json: { ...s, engine }, text: formatStatus(s, engine, ctx.now()), warnings: engine.error ? [`Docker API not reachable: ${engine.error}`] : [] };
}
