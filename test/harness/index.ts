// Transition shim: the harness moved to test/lab. Only files owned by another branch still import this
// path (test/docker/swarm.test.ts, swarm-datapath.test.ts, vxlan.test.ts); delete once they import '../lab'.
import { eventually } from '../lab/eventually';

export * from '../lab';

/** @deprecated The old poll: `probe` returns undefined while not ready. Use eventually() from test/lab. */
export function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined> | T | undefined, everyMs = 250): Promise<T> {
  return eventually(
    async () => {
      const value = await probe();
      if (value === undefined) throw new Error('not yet');
      return value;
    },
    { timeout: timeoutMs, interval: everyMs, what },
  );
}
