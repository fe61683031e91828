/**
 * DockerApiClient.services() against a tiny HTTP server on a unix socket standing in for dockerd:
 * the list on a manager, NotSwarmManagerError for a worker's 503, DockerUnavailableError otherwise.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { DockerApiClient, DockerUnavailableError, NotSwarmManagerError } from '../../../src/docker/api-client';

describe('docker api client: GET /services, GET /info', () => {
  let dir: string;
  let socket: string;
  let server: http.Server;
  let answer: { status: number; body: string };
  const paths: string[] = [];

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-dockerapi-'));
    socket = path.join(dir, 'docker.sock');
    server = http.createServer((req, res) => {
      paths.push(`${req.method} ${req.url}`);
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
    });
    await new Promise<void>((resolve) => server.listen(socket, resolve));
  });
  afterEach(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a manager: the services as listed', async () => {
    const list = [{ ID: 'abc', Spec: { Name: 'web', EndpointSpec: { Mode: 'vip' }, TaskTemplate: { Networks: [{ Target: 'n1' }] } } }];
    answer = { status: 200, body: JSON.stringify(list) };
    assert.deepEqual(await new DockerApiClient(socket).services(), list);
    assert.equal(paths.at(-1), 'GET /services');
  });

  it('a verbose network view: GET /networks/{id}?verbose=true, undefined for 404', async () => {
    const view = { Id: 'n1', Services: { web: { VIP: '10.0.0.2', Tasks: [{ Name: 'web.1', EndpointIP: '10.0.0.3' }] } } };
    answer = { status: 200, body: JSON.stringify(view) };
    assert.deepEqual(await new DockerApiClient(socket).networkVerbose('n1'), view);
    assert.equal(paths.at(-1), 'GET /networks/n1?verbose=true');
    answer = { status: 404, body: '{"message":"no such network"}' };
    assert.equal(await new DockerApiClient(socket).networkVerbose('n1'), undefined);
    answer = { status: 500, body: '{}' };
    await assert.rejects(new DockerApiClient(socket).networkVerbose('n1'), DockerUnavailableError);
  });

  it('a worker: HTTP 503 is NotSwarmManagerError carrying Docker\'s message', async () => {
    answer = { status: 503, body: JSON.stringify({ message: 'This node is not a swarm manager. Worker nodes can\'t be used to view or modify cluster state.' }) };
    await assert.rejects(new DockerApiClient(socket).services(), (e: Error) => e instanceof NotSwarmManagerError && /HTTP 503 This node is not a swarm manager/.test(e.message));
  });

  it('another status, a non-list answer, or no daemon: DockerUnavailableError', async () => {
    answer = { status: 500, body: '{"message":"boom"}' };
    await assert.rejects(new DockerApiClient(socket).services(), (e: Error) => e instanceof DockerUnavailableError && /HTTP 500 boom/.test(e.message));
    answer = { status: 200, body: '{}' };
    await assert.rejects(new DockerApiClient(socket).services(), (e: Error) => e instanceof DockerUnavailableError && /not a list/.test(e.message));
    await assert.rejects(new DockerApiClient(path.join(dir, 'absent.sock')).services(), DockerUnavailableError);
  });

  it('GET /info: the object as answered (FirewallBackend from API 1.50 on); an error status or non-object is DockerUnavailableError', async () => {
    const info = { ServerVersion: '29.0.0', FirewallBackend: { Driver: 'nftables', Info: [['ReloadedAt', '2025-11-10T10:00:00Z']] } };
    answer = { status: 200, body: JSON.stringify(info) };
    assert.deepEqual(await new DockerApiClient(socket).info(), info);
    assert.equal(paths.at(-1), 'GET /info');
    answer = { status: 500, body: '{"message":"boom"}' };
    await assert.rejects(new DockerApiClient(socket).info(), (e: Error) => e instanceof DockerUnavailableError && /GET \/info: HTTP 500 boom/.test(e.message));
    answer = { status: 200, body: '[]' };
    await assert.rejects(new DockerApiClient(socket).info(), (e: Error) => e instanceof DockerUnavailableError && /not an object/.test(e.message));
  });
});
