import { DockerApiClient } from '../docker/api-client';

/**
 * Docker's names for tsnet's networks and the containers on them, read by the command (a separate
 * process; the daemon never calls Docker inside a request). One `GET /networks/<id>` per tsnet network.
 * Docker unreachable: no names, and `error` says why (the commands still print IDs).
 */
export interface DockerNames {
  networks: Map<string, string>;
  /** endpoint ID -> container */
  containers: Map<string, { id: string; name: string }>;
  error?: string;
}

export async function readDockerNames(docker: DockerApiClient, networkIds: readonly string[]): Promise<DockerNames> {
  const names: DockerNames = { networks: new Map(), containers: new Map() };
  try {
    for (const id of networkIds) {
      const view = await docker.network(id);
      if (!view) continue;
      if (view.Name) names.networks.set(id, view.Name);
      for (const [cid, c] of Object.entries(view.Containers ?? {})) {
        if (c.EndpointID) names.containers.set(c.EndpointID, { id: cid, name: c.Name ?? cid.slice(0, 12) });
      }
    }
  } catch (err) {
    names.error = (err as Error).message;
  }
  return names;
}

/** The network ID a NETWORK argument means: a Docker network name among tsnet's, else the argument (an ID or prefix). */
export function networkIdOf(arg: string, names: DockerNames): string {
  for (const [id, name] of names.networks) if (name === arg) return id;
  return arg;
}
