import express, { type NextFunction, type Request, type Response } from 'express';
import type { z } from 'zod';
import { describe, kindOf } from '../model/errors';
import type { NetworkDriver } from '../driver/driver';
import type { Logger } from '../log';
import type { IpamService } from './ipam-service';
import * as schemas from '../protocol';
import { describeIssues, PLUGIN_MEDIA_TYPE } from '../protocol';
import { LimitLog } from '../limit-log';
import { Admission } from './admission';
import { answerInspect, INSPECT_ROUTES, type InspectSources } from './inspect';
import type { TsnetMetrics } from '../metrics/metrics';
import { METRICS_PATH } from '../protocol';

/** Request bodies are small JSON objects; anything bigger is refused before parsing. */
export const MAX_BODY_BYTES = 1024 * 1024;

interface Route<S extends z.ZodType> {
  schema: S;
  /** Calls that change state are logged at info with their duration; the rest at debug. */
  changesState: boolean;
  handle: (body: z.infer<S>) => unknown;
}

function route<S extends z.ZodType>(schema: S, changesState: boolean, handle: (body: z.infer<S>) => unknown): Route<S> {
  return { schema, changesState, handle };
}

export interface AppDeps {
  driver: NetworkDriver;
  ipam: IpamService;
  log: Logger;
  /** How many calls are served at once (default: REQUEST_LIMITS). */
  admission?: Admission;
  /** tsnet's read-only API (GET /tsnet/v1/...); absent: those paths answer 404. */
  inspect?: InspectSources;
  /** Counts every call and serves GET /metrics; absent: no metrics. */
  metrics?: TsnetMetrics;
}

/** The call names metrics label calls with (anything else is "other"): the protocol's, the read-only API's, /metrics. */
export function callNames(): Set<string> {
  return new Set([...Object.keys(routeTable({} as never)), ...INSPECT_ROUTES, METRICS_PATH]);
}

/** One table: every endpoint of the protocol, its request schema and its handler. */
export function routeTable({ driver, ipam }: Pick<AppDeps, 'driver' | 'ipam'>): Record<string, Route<z.ZodType>> {
  return {
    '/Plugin.Activate': route(schemas.empty, false, () => ({ Implements: ['NetworkDriver', 'IpamDriver'] })),
    '/NetworkDriver.GetCapabilities': route(schemas.empty, false, () => driver.getCapabilities()),
    '/NetworkDriver.CreateNetwork': route(schemas.createNetwork, true, (b) => driver.createNetwork(b)),
    '/NetworkDriver.AllocateNetwork': route(schemas.allocateNetwork, true, (b) => driver.allocateNetwork(b)),
    '/NetworkDriver.DeleteNetwork': route(schemas.networkOnly, true, (b) => driver.deleteNetwork(b.NetworkID)),
    '/NetworkDriver.FreeNetwork': route(schemas.networkOnly, true, (b) => driver.freeNetwork(b.NetworkID)),
    '/NetworkDriver.CreateEndpoint': route(schemas.createEndpoint, true, (b) => driver.createEndpoint(b)),
    '/NetworkDriver.EndpointOperInfo': route(schemas.endpointOnly, false, (b) => driver.endpointOperInfo(b)),
    '/NetworkDriver.DeleteEndpoint': route(schemas.endpointOnly, true, (b) => driver.deleteEndpoint(b)),
    '/NetworkDriver.Join': route(schemas.join, true, (b) => driver.join(b)),
    '/NetworkDriver.Leave': route(schemas.endpointOnly, true, (b) => driver.leave(b)),
    '/NetworkDriver.ProgramExternalConnectivity': route(schemas.externalConnectivity, true, (b) => driver.programExternalConnectivity(b)),
    '/NetworkDriver.RevokeExternalConnectivity': route(schemas.externalConnectivity, true, (b) => driver.revokeExternalConnectivity(b)),
    '/NetworkDriver.DiscoverNew': route(schemas.discovery, true, (b) => driver.discoverNew(b)),
    '/NetworkDriver.DiscoverDelete': route(schemas.discovery, true, (b) => driver.discoverDelete(b)),
    '/IpamDriver.GetCapabilities': route(schemas.empty, false, () => ({ RequiresMACAddress: false, RequiresRequestReplay: false })),
    '/IpamDriver.GetDefaultAddressSpaces': route(schemas.empty, false, () => ipam.getDefaultAddressSpaces()),
    '/IpamDriver.RequestPool': route(schemas.requestPool, true, (b) => ipam.requestPool(b)),
    '/IpamDriver.ReleasePool': route(schemas.releasePool, true, (b) => (ipam.releasePool(b.PoolID), {})),
    '/IpamDriver.RequestAddress': route(schemas.requestAddress, true, (b) => ipam.requestAddress(b)),
    '/IpamDriver.ReleaseAddress': route(schemas.releaseAddress, true, (b) => (ipam.releaseAddress(b.PoolID, b.Address), {})),
  };
}

/** A 404 on these two means "not implemented" to Docker, which would then report success. */
const NOT_FOUND_MEANS_SUCCESS = new Set(['/NetworkDriver.ProgramExternalConnectivity', '/NetworkDriver.RevokeExternalConnectivity']);

export function createApp(deps: AppDeps): express.Express {
  const routes = routeTable(deps);
  const { log } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  // Every call is counted with the status it got, the busy refusals below included.
  const metrics = deps.metrics;
  if (metrics) {
    app.use((req: Request, res: Response, next: NextFunction) => {
      const started = process.hrtime.bigint();
      res.once('finish', () => metrics.observeCall(req.path, res.statusCode, Number(process.hrtime.bigint() - started) / 1e9));
      next();
    });
  }
  // At most admission.limits.inFlight calls are served at once (their bodies read), a bounded number
  // wait; beyond that the answer is an immediate {"Err"} (admission.ts).
  app.use(admit(deps.admission ?? new Admission(), log));
  // Docker sends no Content-Type: take every body as raw bytes and parse it ourselves.
  app.use(readRawBody);

  // One layer for every path: the route table is a plain lookup, cheaper than Express's router.
  app.use(async (req: Request, res: Response) => {
    const started = process.hrtime.bigint();
    const path = req.path;
    if (req.method === 'GET') {
      if (path === METRICS_PATH && metrics) return replyText(res, 200, metrics.contentType, await metrics.text());
      const answer = deps.inspect ? await answerInspect(deps.inspect, path, req.query as Record<string, unknown>).catch((err: unknown) => ({ status: 500, body: { Err: describe(err) } })) : undefined;
      if (answer) return reply(res, answer.status, answer.body);
    }
    const entry = routes[path];
    if (!entry) return reply(res, 404, { Err: `unknown endpoint ${req.method} ${path}: tsnet serves the libnetwork NetworkDriver and IpamDriver protocols` });
    if (req.method !== 'POST') return reply(res, 405, { Err: `${path} takes POST, not ${req.method}` });

    const body = parseBody(req.body);
    if ('error' in body) return reply(res, 400, { Err: body.error });
    const parsed = entry.schema.safeParse(body.value);
    if (!parsed.success) {
      log.warn('rejected request', { call: path, reason: describeIssues(parsed.error) });
      return reply(res, 400, { Err: `invalid request: ${describeIssues(parsed.error)}` });
    }
    try {
      const result = await entry.handle(parsed.data);
      const level = entry.changesState ? 'info' : 'debug';
      if (log.isLevelEnabled(level)) {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        log.log(level, 'call', { call: path, ...ids(parsed.data), ms: Math.round(ms * 100) / 100 });
      }
      return reply(res, 200, result ?? {});
    } catch (err) {
      const status = statusFor(err, path);
      const message = describe(err);
      log.log(status >= 500 ? 'error' : 'warn', 'call failed', { call: path, ...ids(parsed.data), status, err: message });
      return reply(res, status, { Err: message });
    }
  });

  // Body parser failures (too large, aborted) end up here.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = err as { type?: string; status?: number; message?: string };
    if (e.type === 'entity.too.large') return reply(res, 413, { Err: `request body larger than ${MAX_BODY_BYTES} bytes` });
    log.warn('bad request body', { err: e.message });
    return reply(res, e.status && e.status < 500 ? e.status : 400, { Err: `unreadable request body: ${e.message ?? 'unknown error'}` });
  });
  return app;
}

/** HTTP status of a call refused because too many are being served; Docker reads only the Err. */
export const BUSY_STATUS = 503;

function admit(admission: Admission, log: Logger): (req: Request, res: Response, next: NextFunction) => void {
  const busy = new LimitLog(log, 'plugin socket: too many calls at once; calls refused', { limits: admission.limits });
  return (_req, res, next) => {
    const cancel = admission.enter(
      (release) => {
        // 'close' comes once the answer is sent, and also when the caller went away first.
        res.once('close', release);
        next();
      },
      (why) => {
        busy.hit();
        const { inFlight, queued } = admission.counts;
        reply(res, BUSY_STATUS, { Err: `tsnet is busy (${why}: ${inFlight} calls in progress, ${queued} waiting); try again` });
      },
    );
    // A caller that leaves while waiting gives its place up.
    res.once('close', cancel);
  };
}

function replyText(res: Response, status: number, contentType: string, text: string): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function reply(res: Response, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': PLUGIN_MEDIA_TYPE, 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * Collects the request body as a Buffer in req.body, whatever its Content-Type, refusing more than
 * MAX_BODY_BYTES. (express.raw does the same with content-type and charset machinery Docker never needs.)
 */
function readRawBody(req: Request, res: Response, next: NextFunction): void {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) {
    reply(res, 413, { Err: `request body larger than ${MAX_BODY_BYTES} bytes` });
    req.resume();
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let refused = false;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_BODY_BYTES && !refused) {
      refused = true;
      reply(res, 413, { Err: `request body larger than ${MAX_BODY_BYTES} bytes` });
    }
    if (!refused) chunks.push(chunk);
  });
  req.on('end', () => {
    if (refused) return;
    req.body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    next();
  });
  req.on('error', (err) => next(err));
}

function parseBody(raw: unknown): { value: unknown } | { error: string } {
  if (!Buffer.isBuffer(raw) || raw.length === 0) return { value: {} };
  const text = raw.toString('utf8').trim();
  if (text === '' || text === 'null') return { value: {} };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { error: `malformed JSON body: ${(err as Error).message}` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { error: 'request body must be a JSON object' };
  return { value };
}

/** Docker reads only `Err`; the status is for people and logs (a 5xx is logged as an error). */
export function statusFor(err: unknown, path: string): number {
  switch (kindOf(err)) {
    case 'bad-request':
      return 400;
    case 'conflict':
      return 409;
    case 'not-found':
      return NOT_FOUND_MEANS_SUCCESS.has(path) ? 500 : 404;
    case 'unavailable':
    case 'internal':
      return 500;
  }
}

function ids(body: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (body && typeof body === 'object') {
    for (const key of ['NetworkID', 'EndpointID', 'PoolID', 'Address']) {
      const value = (body as Record<string, unknown>)[key];
      if (typeof value === 'string' && value !== '') out[key] = value;
    }
  }
  return out;
}
