import type { DockerApiClient } from '../../docker/api-client';
import type { DaemonClient } from '../daemon-client';
import type { DockerNames } from '../docker-names';

/** What one command prints: the JSON document (--json) and the human text. */
export interface Output {
  json: unknown;
  text: string;
  /** Non-zero: the exit status (doctor with a failed check). */
  exitCode?: number;
  /** Said on stderr (e.g. Docker unreachable, names missing). */
  warnings?: string[];
}

export interface CommandContext {
  daemon: DaemonClient;
  docker: DockerApiClient;
  now: () => Date;
}

export const short = (id: string) => id.slice(0, 12);

export const dockerWarning = (names: DockerNames) => (names.error ? [`Docker API not reachable, showing IDs only: ${names.error}`] : []);
