/**
 * The import layers of src/ (README.md, "Layout"): a module may import its own layer and the layers
 * below it, never one above. `make test` runs this check (make check-layers).
 */
const LAYERS = [
  ['net', 'config', 'log.ts', 'limit-log.ts'],
  ['protocol'],
  ['model'],
  ['store', 'netlink', 'docker'],
  ['ipam', 'firewall'],
  ['datapath'],
  ['driver'],
  ['swarm', 'collector'],
  ['server'],
  ['daemon'],
  ['main.ts'],
];

const pathOf = (names) => `^src/(${names.map((n) => n.replace('.', '\\.')).join('|')})($|/)`;

module.exports = {
  forbidden: [
    ...LAYERS.flatMap((layer, i) => {
      const above = LAYERS.slice(i + 1).flat();
      if (above.length === 0) return [];
      return [
        {
          name: `layer-${i}-imports-upward`,
          comment: `${layer.join(', ')} may not import ${above.join(', ')} (a higher layer)`,
          severity: 'error',
          from: { path: pathOf(layer) },
          to: { path: pathOf(above) },
        },
      ];
    }),
    {
      name: 'no-circular',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'src-imports-no-tests',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^(dist|node_modules)' },
  },
};
