// The README's option table is the user's reference: it must list every option the code accepts,
// with the same types and default.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { OPTION_TABLE } from '../../../src/model/options';

describe('README option table', () => {
  const readme = fs.readFileSync(path.resolve(__dirname, '../../../../README.md'), 'utf8');
  for (const spec of OPTION_TABLE) {
    it(`documents ${spec.name}`, () => {
      const row = readme.split('\n').find((l) => l.startsWith(`| \`${spec.name}\` |`));
      assert.ok(row, `no README row for ${spec.name}`);
      const cells = row.split('|').map((c) => c.trim());
      const types = spec.types.length === 3 ? 'all' : spec.types.join(', ');
      assert.equal(cells[2], types, `types of ${spec.name}`);
      assert.equal(cells[3]!.replace(/`/g, ''), spec.default, `default of ${spec.name}`);
    });
  }
});
