import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import legacyUrl from 'node:url';
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
    '/IpamDriver.RequestAddress': route(schemas.requestAddress, true, (b) => ipam.requestAddressGrouped(b)),
    '/IpamDriver.ReleaseAddress': route(schemas.releaseAddress, true, async (b) => (await ipam.releaseAddressGrouped(b.PoolID, b.Address), {})),
  };
}

/** A 404 on these two means "not implemented" to Docker, which would then report success. */
const NOT_FOUND_MEANS_SUCCESS = new Set(['/NetworkDriver.ProgramExternalConnectivity', '/NetworkDriver.RevokeExternalConnectivity']);

/**
 * The plugin socket's request handler. Docker's calls (a POST to one of the route table's paths) are
 * served by a plain node:http path: one table lookup, zod, the handler. Everything else (GET /metrics,
 * the read-only API under /tsnet/v1/, and the 404/405 answers) is tsnet's own surface, an Express app,
 * loaded on its first request (startSurface).
 *
 * Why Docker's calls bypass Express: Express 5's per-request machinery (prototype swaps on req/res, the
 * router's layer walk, parseurl) kept each request's objects alive long enough to be promoted out of
 * V8's young generation, so a call that does nothing cost scavenges of 4-16 ms and a mark-compact every
 * ~1.5 s under load (bench/rpc's p99 of 18 ms; a one-handler Express app with etag and x-powered-by off
 * serves 0.35x what bare node:http does on the same socket, measured). Docker makes seven of these calls
 * under every container start; a person or a scraper makes the others.
 *
 * Per request, in order: metrics (every request is counted with the status it got, busy refusals
 * included), admission (at most admission.limits.inFlight requests are served at once, their bodies
 * read; a bounded number wait, beyond that an immediate {"Err"}: admission.ts), the raw body (Docker
 * sends no Content-Type: every body is taken as bytes and parsed here, at most MAX_BODY_BYTES), then
 * the call or the surface.
 */
export function createApp(deps: AppDeps): RequestListener {
  const routes = routeTable(deps);
  const { log, metrics } = deps;
  const admission = deps.admission ?? new Admission();
  const busy = new LimitLog(log, 'plugin socket: too many calls at once; calls refused', { limits: admission.limits });
  let surface: RequestListener | undefined;

  const serveCall = async (path: string, entry: Route<z.ZodType>, res: ServerResponse, body: Buffer | undefined): Promise<void> => {
    const started = process.hrtime.bigint();
    const parsedBody = parseBody(body);
    if ('error' in parsedBody) return reply(res, 400, { Err: parsedBody.error });
    const parsed = entry.schema.safeParse(parsedBody.value);
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
  };

  return (req, res) => {
    const path = requestPath(req.url ?? '/');
    if (metrics) {
      const started = process.hrtime.bigint();
      res.once('finish', () => metrics.observeCall(path, res.statusCode, Number(process.hrtime.bigint() - started) / 1e9));
    }
    const cancel = admission.enter(
      (release) => {
        // 'close' comes once the answer is sent, and also when the caller went away first.
        res.once('close', release);
        readRawBody(req, res, (err, body) => {
          if (err) return replyUnreadable(res, log, err);
          const entry = req.method === 'POST' ? routes[path] : undefined;
          if (entry) {
            // serveCall answers every failure of the call itself; this is a bug's last stop.
            serveCall(path, entry, res, body).catch((e: unknown) => replyFailure(res, log, path, e));
            return;
          }
          // A target with no path (requestPath) is nobody's: Express's router would pass it by.
          if (path === '') return replyNoCall(res, routes, req.method, path);
          try {
            surface ??= startSurface(deps, routes);
          } catch (e) {
            return replyFailure(res, log, path, e);
          }
          surface(req, res);
        });
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

/**
 * tsnet's own surface on the plugin socket, an Express app: GET /metrics, GET /tsnet/v1/... (inspect.ts),
 * and the answers for anything else: 405 for a protocol path called with another method, 404 otherwise.
 * Required on first use: a plugin that only Docker talks to never loads Express (13.8 MiB at start).
 */
function startSurface(deps: AppDeps, routes: Record<string, Route<z.ZodType>>): RequestListener {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const express = require('express') as typeof import('express');
  const { metrics, inspect } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  // Paths match exactly, as the protocol's do (no /METRICS, no /metrics/).
  app.enable('case sensitive routing');
  app.enable('strict routing');
  if (metrics) {
    app.get(METRICS_PATH, async (_req: Request, res: Response) => replyText(res, 200, metrics.contentType, await metrics.text()));
  }
  if (inspect) {
    app.get(/^\/tsnet\//, async (req: Request, res: Response, next: NextFunction) => {
      const answer = await answerInspect(inspect, req.path, req.query as Record<string, unknown>).catch((err: unknown) => ({ status: 500, body: { Err: describe(err) } }));
      if (!answer) return next();
      reply(res, answer.status, answer.body);
    });
  }
  app.use((req: Request, res: Response) => replyNoCall(res, routes, req.method, req.path));
  // A handler's rejection (only /metrics collection can) ends up here.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => replyFailure(res, deps.log, req.path, err));
  return app;
}

/** 405 for a protocol path called with another method than POST, 404 for any other path. */
function replyNoCall(res: ServerResponse, routes: Record<string, Route<z.ZodType>>, method: string | undefined, path: string): void {
  if (routes[path]) return reply(res, 405, { Err: `${path} takes POST, not ${method}` });
  reply(res, 404, { Err: `unknown endpoint ${method} ${path}: tsnet serves the libnetwork NetworkDriver and IpamDriver protocols` });
}

/** The last answer for a failure no handler answered: 500 {"Err"} and an error in the log. */
function replyFailure(res: ServerResponse, log: Logger, path: string, err: unknown): void {
  log.error('call failed', { call: path, err: describe(err) });
  if (!res.headersSent) reply(res, 500, { Err: describe(err) });
}

/**
 * A request target's path, as parseurl (Express's req.path) reads it: the fast path for an origin-form
 * target, url.parse for any other form; one url.parse cannot read (e.g. "http://[::1") has no path, so
 * no call (the surface answers it), never a thrown error.
 */
export function requestPath(url: string): string {
  if (url.charCodeAt(0) === 0x2f /* / */ && !/[\t\n\f\r #\u00a0\ufeff]/.test(url)) {
    const q = url.indexOf('?');
    return q < 0 ? url : url.slice(0, q);
  }
  try {
    return legacyUrl.parse(url).pathname ?? '';
  } catch {
    return '';
  }
}

/** HTTP status of a call refused because too many are being served; Docker reads only the Err. */
export const BUSY_STATUS = 503;

function replyText(res: ServerResponse, status: number, contentType: string, text: string): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': PLUGIN_MEDIA_TYPE, 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** Why a body could not be read (the caller aborted, the connection broke): 400 with the reason. */
function replyUnreadable(res: ServerResponse, log: Logger, err: Error): void {
  log.warn('bad request body', { err: err.message });
  if (!res.headersSent) reply(res, 400, { Err: `unreadable request body: ${err.message ?? 'unknown error'}` });
}

/**
 * Collects the request body as bytes, whatever its Content-Type, refusing more than MAX_BODY_BYTES
 * (413, answered here; `done` is then never called).
 */
function readRawBody(req: IncomingMessage, res: ServerResponse, done: (err: Error | undefined, body?: Buffer) => void): void {
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
    done(undefined, chunks.length === 0 ? undefined : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
  });
  req.on('error', (err) => done(err));
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
