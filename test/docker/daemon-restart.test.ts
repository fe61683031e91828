// Real-Docker tier: dockerd restarts with and without live-restore. Containers with a restart policy
// come back with working connectivity through tsnet, and the endpoints Docker cleans up are released.
import assert from 'node:assert/strict';
import { dk, DockerHost, ensureBusyboxImage, eventually, IMAGE, requireDocker, TSNET_ENTRY, tsnetAllocations } from '../lab';

async function scenario(h: DockerHost, liveRestore: boolean): Promise<void> {
  await dk(h, 'network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--subnet', '10.63.0.0/24', 'rs');
  for (const name of ['a', 'b']) await dk(h, 'run', '-d', '--restart', 'always', '--name', `r${name}`, '--network', 'rs', IMAGE, 'sleep', '3600');
  const before = await Promise.all(['ra', 'rb'].map((c) => dk(h, 'inspect', '-f', '{{.NetworkSettings.Networks.rs.IPAddress}}', c)));
  await h.stopDockerd('SIGTERM');
  await h.startDockerd();
  // Restart-policy containers come back (started by dockerd, in parallel, through tsnet).
  await eventually(async () => assert.equal((await dk(h, 'ps', '-q', '--filter', 'network=rs')).split(/\s+/).filter(Boolean).length, 2, 'both containers are running again'), {
    timeout: 60_000,
    interval: 500,
    what: 'the restart-policy containers running again',
  });
  const after = await Promise.all(['ra', 'rb'].map((c) => dk(h, 'inspect', '-f', '{{.NetworkSettings.Networks.rs.IPAddress}}', c)));
  assert.equal(new Set(after).size, 2);
  if (liveRestore) assert.deepEqual(after, before, 'live-restore keeps the endpoints as they were');
  assert.equal((await h.docker(['exec', 'ra', 'ping', '-c', '1', '-W', '2', after[1]!], { allowFail: true })).code, 0, 'ra reaches rb');
  assert.equal((await h.docker(['exec', 'rb', 'ping', '-c', '1', '-W', '2', '10.63.0.1'], { allowFail: true })).code, 0, 'rb reaches the gateway');
  // tsnet holds exactly the gateway and the two running containers' addresses: whatever Docker
  // cleaned up on the way was released.
  assert.deepEqual(tsnetAllocations(h).sort(), ['10.63.0.1', ...after].sort());
  await dk(h, 'rm', '-f', 'ra', 'rb');
  await dk(h, 'network', 'rm', 'rs');
}

for (const liveRestore of [false, true]) {
  describe(`docker: dockerd restart ${liveRestore ? 'with' : 'without'} live-restore`, function () {
    let h: DockerHost | undefined;
    before(async function () {
      await requireDocker(this);
      h = await DockerHost.start({ name: liveRestore ? 'live' : 'nolive', dockerdArgs: liveRestore ? ['--live-restore'] : [], tsnet: { entry: TSNET_ENTRY } });
      await ensureBusyboxImage(h, IMAGE);
      await h.startTsnet();
    });
    after(async function () {
      if (h && this.currentTest?.state === 'failed') console.error(`--- tsnet log ---\n${h.tsnetLog().slice(-6000)}`);
      await h?.stop();
    });
    it('restart-policy containers come back with connectivity; cleaned-up endpoints are released', async () => {
      await scenario(h!, liveRestore);
    });
  });
}
