// `sandbox serve`: go-judge's REST interface over a JobRunner (docs/serve.md). Plain node:http;
// errors are go-judge's: a JSON string body with the status code (400 for a bad request).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { SandboxError } from '../errors.js';
import type { JobRunner } from '../job/run-job.js';
import type { JobResult } from '../job/types.js';
import { Metrics } from './metrics.js';
import { boundaryOf, formFile } from './multipart.js';
import { attachWebSocket } from './ws.js';

export const DEFAULT_MAX_REQUEST_BYTES = 128 * 1024 * 1024;

export interface ServeOptions {
  runner: JobRunner;
  /** 'HOST:PORT' (default 127.0.0.1:5050); port 0 picks a free one. */
  http?: string;
  /** Listen on this unix socket instead. */
  unix?: string | null;
  /** Requests must carry `Authorization: Bearer TOKEN`. */
  authToken?: string | null;
  /** Largest request body, bytes. */
  maxRequestBytes?: number;
  /** No per-request log lines on stderr. */
  quiet?: boolean;
  /** Where log lines go (default stderr). */
  log?: (line: string) => void;
  version?: string;
}

class HttpError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export class JudgeServer {
  readonly runner: JobRunner;
  readonly metrics = new Metrics();
  readonly #options: ServeOptions;
  readonly #server: Server;
  readonly #token: Buffer | null;
  #draining = false;
  #inFlight = 0;
  /** Runs of the WebSocket connections: waited for when the server stops. */
  readonly wsAborts = new Set<AbortController>();
  readonly #closeWebSockets: () => void;

  constructor(options: ServeOptions) {
    this.#options = options;
    this.runner = options.runner;
    this.#token = options.authToken ? Buffer.from(`Bearer ${options.authToken}`) : null;
    this.#server = createServer((req, res) => void this.#handle(req, res));
    // Idle keep-alive connections are kept a minute: a client reusing one the server has just
    // closed sees its request fail, and judges send bursts with pauses between them.
    this.#server.keepAliveTimeout = 60_000;
    this.#server.headersTimeout = 61_000;
    this.#server.requestTimeout = 0; // a /run lasts as long as its commands
    this.#closeWebSockets = attachWebSocket(this, this.#server);
  }

  /** Whether the request carries the token (always, without one). */
  authorized(req: IncomingMessage): boolean {
    if (this.#token === null) return true;
    const given = Buffer.from(req.headers.authorization ?? '');
    return given.length === this.#token.length && timingSafeEqual(given, this.#token);
  }

  get draining(): boolean {
    return this.#draining;
  }

  log(entry: Record<string, unknown>): void {
    if (this.#options.quiet) return;
    const line = JSON.stringify({ time: new Date().toISOString(), ...entry });
    (this.#options.log ?? ((l: string) => process.stderr.write(l + '\n')))(line);
  }

  async listen(): Promise<string> {
    const { http = '127.0.0.1:5050', unix = null } = this.#options;
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      if (unix !== null) {
        try {
          unlinkSync(unix);
        } catch {
          // none there
        }
        this.#server.listen(unix, () => resolve());
      } else {
        const { host, port } = splitAddress(http);
        this.#server.listen(port, host, () => resolve());
      }
    });
    const a = this.#server.address();
    return typeof a === 'string' ? a : `${(a as AddressInfo).address}:${(a as AddressInfo).port}`;
  }

  /** Stops taking requests, lets the running ones finish, then ends the warm sandboxes. */
  async close(): Promise<void> {
    this.#draining = true;
    const closed = new Promise<void>((r) => this.#server.close(() => r()));
    this.#server.closeIdleConnections();
    while (this.#inFlight > 0 || this.wsAborts.size > 0) await new Promise((r) => setTimeout(r, 20));
    this.#closeWebSockets();
    this.#server.closeAllConnections();
    await closed;
    await this.runner.close();
  }

  /** One /run: its results, timed and counted; the error a client sees when it cannot run. */
  async run(body: unknown, signal: AbortSignal): Promise<JobResult[]> {
    const started = process.hrtime.bigint();
    const results = await this.runner.run(body, { signal });
    this.metrics.run(
      Number(process.hrtime.bigint() - started) / 1e9,
      results.map((r) => r.status),
    );
    return results;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const path = (req.url ?? '/').split('?')[0]!;
    const route = routeOf(req.method ?? 'GET', path);
    let code = 200;
    let note: Record<string, unknown> = {};
    this.#inFlight++;
    try {
      if (this.#draining) throw new HttpError(503, 'the server is shutting down');
      if (!this.authorized(req)) throw new HttpError(401, 'unauthorized');
      const out = await this.#route(route, path, req, res);
      code = out.code;
      note = out.note ?? {};
    } catch (e) {
      code = e instanceof HttpError ? e.code : e instanceof SandboxError && e.stage === 'request' ? 400 : 500;
      if (e instanceof SandboxError && e.stage === 'closed') code = 503;
      const message = e instanceof Error ? e.message : String(e);
      if (!res.headersSent && !res.destroyed) sendJson(res, code, message);
      note = { error: message };
      if (e instanceof SandboxError && e.stage === 'aborted') note.aborted = true;
      // A body left unread (too large, or refused early) would be taken for the next request.
      if (!req.complete) res.once('finish', () => req.destroy());
    } finally {
      this.#inFlight--;
      this.metrics.request(route, code);
      this.log({ method: req.method, path, code, ms: Number(process.hrtime.bigint() - started) / 1e6, ...note });
    }
  }

  async #route(
    route: string,
    path: string,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<{ code: number; note?: Record<string, unknown> }> {
    const store = this.runner.store;
    switch (route) {
      case 'POST /run': {
        const body = await readBody(req, this.#options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES);
        let parsed: unknown;
        try {
          parsed = JSON.parse(body.toString('utf8'));
        } catch (e) {
          throw new HttpError(400, `invalid JSON: ${(e as Error).message}`);
        }
        // A client that goes away mid-run gets its sandboxes killed.
        const gone = new AbortController();
        res.once('close', () => {
          if (!res.writableFinished) gone.abort();
        });
        const results = await this.run(parsed, gone.signal);
        sendJson(res, 200, results);
        return { code: 200, note: { statuses: results.map((r) => r.status) } };
      }
      case 'GET /file':
        sendJson(res, 200, store.list());
        return { code: 200 };
      case 'POST /file': {
        const boundary = boundaryOf(req.headers['content-type']);
        if (boundary === null) throw new HttpError(400, 'expected a multipart/form-data body with a "file" part');
        const body = await readBody(req, this.#options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES);
        const file = formFile(body, boundary, 'file');
        if (file === null) throw new HttpError(400, 'http: no such file');
        let id;
        try {
          id = await store.add(file.filename, Buffer.from(file.data));
        } catch (e) {
          throw new HttpError(507, (e as Error).message);
        }
        sendJson(res, 200, id);
        return { code: 200 };
      }
      case 'GET /file/:id': {
        const f = await store.get(fileIdOf(path));
        if (f === null) throw new HttpError(404, 'file not found');
        res.writeHead(200, {
          'content-type': 'application/octet-stream',
          'content-length': f.data.length,
          'content-disposition': `attachment; filename="${f.name.replace(/["\\\r\n]/g, '_')}"`,
        });
        res.end(f.data);
        return { code: 200 };
      }
      case 'DELETE /file/:id': {
        if (!store.remove(fileIdOf(path))) throw new HttpError(404, 'file not found');
        res.writeHead(200).end();
        return { code: 200 };
      }
      case 'GET /version':
        sendJson(res, 200, {
          buildVersion: `sandbox ${this.#options.version ?? ''}`.trim(),
          nodeVersion: process.version,
          platform: process.arch,
          os: process.platform,
          copyOutOptional: true,
          pipeProxy: true,
        });
        return { code: 200 };
      case 'GET /config': {
        const stats = await this.runner.stats();
        sendJson(res, 200, {
          copyOutOptional: true,
          pipeProxy: true,
          fileStorePath: store.dir ?? '',
          parallelism: this.runner.parallelism,
          fileStore: { maxBytes: store.maxBytes, maxFiles: store.maxFiles, ttlMs: store.ttlMs },
          maxRequestBytes: this.#options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES,
          slots: stats.slots,
        });
        return { code: 200 };
      }
      case 'GET /metrics': {
        const s = await this.runner.stats();
        const text = this.metrics.render({
          sandbox_serve_requests_running: { help: 'Requests running now.', value: s.running },
          sandbox_serve_requests_waiting: { help: 'Requests waiting for a turn (--parallelism).', value: s.waiting },
          sandbox_serve_pool_sandboxes: { help: 'Sandboxes kept, busy or warm.', value: s.slots },
          sandbox_serve_pool_busy: { help: 'Sandboxes running a command now.', value: s.busySlots },
          sandbox_serve_file_store_bytes: { help: 'Bytes in the file store.', value: store.bytes },
          sandbox_serve_file_store_files: { help: 'Files in the file store.', value: store.count },
        });
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(text);
        return { code: 200 };
      }
      default:
        throw new HttpError(404, `no route ${route}`);
    }
  }
}

function fileIdOf(path: string): string {
  try {
    return decodeURIComponent(path.slice('/file/'.length));
  } catch {
    throw new HttpError(400, 'malformed file id');
  }
}

function routeOf(method: string, path: string): string {
  if (/^\/file\/[^/]+$/.test(path)) return `${method} /file/:id`;
  return `${method} ${path}`;
}

function sendJson(res: ServerResponse, code: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(code, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > max) return Promise.reject(new HttpError(413, `request body of ${declared} bytes is larger than ${max}`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > max) {
        req.off('data', onData);
        req.pause();
        reject(new HttpError(413, `request body is larger than ${max} bytes`));
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
    req.once('aborted', () => reject(new HttpError(400, 'the request body was cut short')));
  });
}

/** 'HOST:PORT', '[::1]:PORT' or ':PORT' (loopback). */
export function splitAddress(addr: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr);
  if (m === null) throw new SandboxError(`Expected HOST:PORT for --http but received ${JSON.stringify(addr)}`, { stage: 'options' });
  const port = Number(m[3]);
  if (port > 65535) throw new SandboxError(`Expected a port from 0 to 65535 for --http but received ${port}`, { stage: 'options' });
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

/** Whether the address is loopback only. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
