// The managed plugin's config.json against the settings the daemon reads: a setting the plugin does
// not declare cannot be given with `docker plugin set`, which is the only way to configure a managed
// plugin (and Swarm accepts only the managed plugin).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { readSettings } from '../../../src/config/settings';

const ROOT = path.resolve(__dirname, '../../../..');
/** Settings that make no sense inside the plugin: Docker connects to the plugin's socket itself. */
const HOST_ONLY = new Set(['TSNET_SOCKET_GROUP']);

interface PluginEnv {
  name: string;
  value: string;
  settable?: string[];
}

describe('managed plugin config.json', () => {
  const config = JSON.parse(fs.readFileSync(path.join(ROOT, 'config.json'), 'utf8')) as { env: PluginEnv[] };
  const declared = new Map(config.env.map((e) => [e.name, e]));
  const read = [...new Set(fs.readFileSync(path.join(ROOT, 'src/config/settings.ts'), 'utf8').match(/TSNET_[A-Z_]+/g) ?? [])];

  it('declares every TSNET_* setting the daemon reads (but host-only ones)', () => {
    assert.ok(read.length >= 10, `found the settings in settings.ts: ${read.join(' ')}`);
    const missing = read.filter((name) => !HOST_ONLY.has(name) && !declared.has(name));
    assert.deepEqual(missing, [], 'settings a managed-plugin user could not set');
  });

  it('its default values are valid settings', () => {
    const env = Object.fromEntries(config.env.map((e) => [e.name, e.value]));
    assert.doesNotThrow(() => readSettings(env));
  });
});
