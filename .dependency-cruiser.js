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
  ['server', 'metrics'],
  ['daemon'],
  ['main.ts'],
  ['cli'],
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
      name: 'cli-reads-the-daemon-over-its-socket',
      comment: 'the tsnet command (src/cli) talks to the daemon over the plugin socket; it imports only the wire format, the model, the Docker client and layer 0',
      severity: 'error',
      from: { path: '^src/cli/' },
      to: { path: '^src/(store|netlink|ipam|firewall|datapath|driver|swarm|collector|server|metrics|daemon|main\\.ts)($|/)' },
    },
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
